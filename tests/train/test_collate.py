"""The label mask, checked against token ids the real processors produce (not against our own masking).

Expected positions come from the processor and tokenizer alone: the prompt's length is what
``processor.apply_chat_template(..., add_generation_prompt=True)`` tokenizes to, image runs and
wrappers are found by the ids in the checkpoint's config, role tags by the tokenizer's ids.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import known_text, small_config
from transformers import AutoConfig

from glyph.readers.tiny import QWEN_SPECIALS, QWEN_TEMPLATE, build_tokenizer, save_tiny_vlm
from glyph.render import render_pages
from glyph.tokens import get_vlm_rule
from glyph.train.collate import IGNORE_INDEX, VisionCollator
from glyph.train.models import ModelFacts
from glyph.train.records import Record, RecordError

PROMPT = "Transcribe all text in this image exactly as written ."


def _ocr(pages: list, answer: str, rid: str = "ocr") -> Record:
    return Record(
        id=rid,
        task="ocr",
        images=[p.image for p in pages],
        messages=[
            {
                "role": "user",
                "content": [{"type": "image"}] * len(pages) + [{"type": "text", "text": PROMPT}],
            },
            {"role": "assistant", "content": answer},
        ],
    )


def _processor_prompt_ids(processor, pages: list, prompt: str = PROMPT) -> list[int]:
    """The prompt as the processor alone tokenizes it (images expanded), generation prompt included."""
    user = {"role": "user", "content": [{"type": "image", "image": p.image.convert("RGB")} for p in pages]
            + [{"type": "text", "text": prompt}]}  # fmt: skip
    out = processor.apply_chat_template([user], tokenize=True, add_generation_prompt=True, return_dict=True)
    return list(out["input_ids"][0])


def _image_ids(path: Path) -> set[int]:
    cfg = AutoConfig.from_pretrained(path)
    names = ("image_token_id", "image_start_token_id", "image_end_token_id", "vision_start_token_id",
             "vision_end_token_id")  # fmt: skip
    return {getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None}


@pytest.fixture(scope="module")
def collators(tiny_glm: Path, tiny_qwen: Path) -> dict[str, VisionCollator]:
    return {
        "glm4v": VisionCollator.from_pretrained(str(tiny_glm)),
        "qwen2.5vl": VisionCollator.from_pretrained(str(tiny_qwen)),
    }


def test_ocr_labels_are_exactly_the_answer_and_its_stop_token(tiny_model, collators, small_pages) -> None:
    arch, path = tiny_model
    c = collators[arch]
    answer = known_text(9)
    enc = c.encode(_ocr(small_pages, answer))
    prompt = _processor_prompt_ids(c.processor, small_pages)
    answer_ids = c.tokenizer(answer, add_special_tokens=False)["input_ids"]
    tok = c.tokenizer
    stop = tok.convert_tokens_to_ids("<|im_end|>" if arch == "qwen2.5vl" else "<|endoftext|>")
    assert enc.input_ids[: len(prompt)] == prompt  # the processor's own prompt, images expanded
    assert enc.input_ids[len(prompt) : len(prompt) + len(answer_ids)] == answer_ids
    assert enc.input_ids[len(prompt) + len(answer_ids)] == stop
    expected = [IGNORE_INDEX] * len(enc.input_ids)
    for k in range(len(prompt), len(prompt) + len(answer_ids) + 1):
        expected[k] = enc.input_ids[k]
    assert enc.labels == expected
    # independent of the above: no image, wrapper or role-tag id carries a label
    image_ids = _image_ids(path)
    runs = sum(1 for i in enc.input_ids if i == c.processor.image_token_id)
    rule = get_vlm_rule(arch)
    assert runs == sum(rule.tokens_for_image(*p.image.size) for p in small_pages)
    tags = ("<|user|>", "<|assistant|>", "<|im_start|>", "[gMASK]", "<sop>")
    roles = {tok.convert_tokens_to_ids(t) for t in tags if t in tok.get_vocab()}
    assert not [
        k for k, i in enumerate(enc.input_ids) if i in image_ids | roles and enc.labels[k] != IGNORE_INDEX
    ]


def test_interleaved_document_labels_every_text_token_and_no_image_token(
    tiny_model, collators, small_pages
) -> None:
    arch, path = tiny_model
    c = collators[arch]
    texts = [known_text(5), known_text(4, 3), known_text(6, 7)]
    record = Record(
        id="lm",
        task="lm",
        template="none",
        images=[small_pages[0].image, small_pages[1].image],
        messages=[{"role": "assistant", "content": [
            {"type": "text", "text": texts[0]}, {"type": "image"}, {"type": "text", "text": " " + texts[1]},
            {"type": "image"}, {"type": "text", "text": " " + texts[2]}]}],
    )  # fmt: skip
    enc = c.encode(record)
    image_ids = _image_ids(path)
    text_ids = [
        c.tokenizer(" " + t if k else t, add_special_tokens=False)["input_ids"] for k, t in enumerate(texts)
    ]
    labelled = [label for label in enc.labels if label != IGNORE_INDEX]
    assert labelled == [i for ids in text_ids for i in ids]  # all text, in order
    for k, i in enumerate(enc.input_ids):
        if i in image_ids:
            assert enc.labels[k] == IGNORE_INDEX
    # the sequence is the processor's: the same string through the processor gives the same ids
    rendered = c.render(record).text
    out = c.processor(
        text=[rendered], images=record.pil_images(), return_tensors="pt", add_special_tokens=False
    )
    assert out["input_ids"][0].tolist() == enc.input_ids
    if arch == "glm4v":  # GLM sequences start with its prefix tokens, unlabelled
        assert c.tokenizer.convert_ids_to_tokens(enc.input_ids[:2]) == ["[gMASK]", "<sop>"]


def test_multi_turn_labels_only_assistant_turns_even_when_the_user_repeats_the_answer(
    collators, small_pages
) -> None:
    c = collators["qwen2.5vl"]
    a1, a2 = known_text(3), known_text(4, 5)
    record = Record(
        id="sft",
        images=[small_pages[0].image],
        messages=[
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": a1}],
            },  # answer text in the prompt
            {"role": "assistant", "content": a1},
            {"role": "user", "content": a2},
            {"role": "assistant", "content": a2},
        ],
    )
    enc = c.encode(record)
    tok = c.tokenizer
    im_start, im_end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    # split the processed ids into turns by <|im_start|>: [system, user, assistant, user, assistant]
    starts = [k for k, i in enumerate(enc.input_ids) if i == im_start]
    assert len(starts) == 5
    turns = [(s, e) for s, e in zip(starts, starts[1:] + [len(enc.input_ids)])]
    for n, (s, e) in enumerate(turns):
        labels = [label for label in enc.labels[s:e] if label != IGNORE_INDEX]
        if n in (2, 4):  # assistant: content + <|im_end|>, never the role tag
            answer = a1 if n == 2 else a2
            assert labels == tok(answer, add_special_tokens=False)["input_ids"] + [im_end]
        else:
            assert labels == []


def test_padding_and_images_in_a_batch(tiny_model, collators, small_pages) -> None:
    arch, _ = tiny_model
    c = collators[arch]
    records = [_ocr(small_pages[:1], known_text(3), "short"), _ocr(small_pages, known_text(12), "long")]
    batch = c(records)
    lengths = [len(c.encode(r).input_ids) for r in records]
    assert batch["input_ids"].shape == (2, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    pad = batch["attention_mask"] == 0
    assert pad.any() and (batch["labels"][pad] == IGNORE_INDEX).all()
    assert batch["image_grid_thw"].shape == (3, 3)
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(dim=1).sum())
    assert (batch["mm_token_type_ids"][pad] == 0).all()
    assert [c.length(r) for r in records] == lengths  # counted without the image processor


def test_model_forward_on_a_batch_gives_the_mean_loss_over_target_tokens(
    tiny_glm: Path, collators, small_pages
) -> None:
    from transformers import AutoModelForImageTextToText

    c = collators["glm4v"]
    model = AutoModelForImageTextToText.from_pretrained(tiny_glm).eval()
    batch = c([_ocr(small_pages[:1], known_text(3), "a"), _ocr(small_pages, known_text(8), "b")])
    with torch.no_grad():
        out = model(**batch)
    logits = out.logits[:, :-1].float()
    target = batch["labels"][:, 1:]
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100
    )
    assert torch.isfinite(out.loss) and abs(out.loss.item() - expected.item()) < 1e-4


def test_trl_vision_collator_labels_image_and_prompt_tokens_on_glm(collators, small_pages) -> None:
    """Why glyph has its own collator: TRL's language-modelling path labels the pages and the prompt."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    c = collators["glm4v"]
    record = _ocr(small_pages[:1], known_text(3))
    trl_batch = DataCollatorForVisionLanguageModeling(c.processor)([record.to_trl()])
    image = trl_batch["input_ids"] == c.processor.image_token_id
    assert (trl_batch["labels"][image] != -100).all()  # TRL: every page token is a target
    ours = c([record])
    assert (ours["labels"][ours["input_ids"] == c.processor.image_token_id] == -100).all()
    # its assistant-only mode needs {% generation %} markers in the template; without them nothing is a target
    masked = DataCollatorForVisionLanguageModeling(c.processor, assistant_only_loss=True)([record.to_trl()])
    assert (masked["labels"] == -100).all()
    assert (ours["labels"] != -100).sum() == len(c.tokenizer(known_text(3))["input_ids"]) + 1


def test_real_bpe_tokenizer_offsets_give_the_same_exact_mask(tmp_path: Path, small_pages) -> None:
    path = save_tiny_vlm("qwen2.5vl", tmp_path / "bpe", tokenizer="qwen")
    c = VisionCollator.from_pretrained(str(path))
    answer = "  Indented line\n\tnaïve café, 12.5% — “quotes” and 中文字符 🙂\n"
    enc = c.encode(_ocr(small_pages[:1], answer))
    prompt = _processor_prompt_ids(c.processor, small_pages[:1])
    answer_ids = c.tokenizer(answer, add_special_tokens=False)["input_ids"]
    im_end = c.tokenizer.convert_tokens_to_ids("<|im_end|>")
    labelled = [label for label in enc.labels if label != IGNORE_INDEX]
    assert enc.input_ids[: len(prompt)] == prompt
    assert labelled == answer_ids + [im_end]
    assert c.tokenizer.decode(answer_ids) == answer


def test_qwen3vl_processor_runs_follow_the_qwen3vl_rule(small_pages) -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

    from glyph.readers.local_hf import _image_only

    # Qwen3-VL's released image settings: patch 16, merge 2, 65,536 .. 16,777,216 pixels
    ip = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": 65536, "longest_edge": 16777216})  # fmt: skip
    tok = build_tokenizer(QWEN_SPECIALS, eos="<|im_end|>")
    processor = _image_only(Qwen3VLProcessor)(image_processor=ip, tokenizer=tok, chat_template=QWEN_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    wrappers = frozenset({ids["<|vision_start|>"], ids["<|vision_end|>"]})
    placeholder = "<|vision_start|><|image_pad|><|vision_end|>"
    facts = ModelFacts("qwen3_vl", "<|image_pad|>", placeholder, frozenset({ids["<|im_end|>"]}), "", wrappers)
    c = VisionCollator(processor, facts)
    assert c.rule.tokens_for_image(595, 842) == get_vlm_rule("qwen3vl").tokens_for_image(595, 842)
    enc = c.encode(_ocr(small_pages, known_text(4)))
    runs = enc.input_ids.count(ids["<|image_pad|>"])
    assert runs == sum(get_vlm_rule("qwen3vl").tokens_for_image(*p.image.size) for p in small_pages)
    assert [label for label in enc.labels if label != IGNORE_INDEX][-1] == ids["<|im_end|>"]
    assert c.length(_ocr(small_pages, known_text(4))) == len(enc.input_ids)


def test_special_tokens_in_text_and_oversize_records_are_refused_by_name(collators, small_pages) -> None:
    c = collators["qwen2.5vl"]
    with pytest.raises(RecordError, match=r"record 'inject'.*special token '<\|im_end\|>'"):
        c.encode(_ocr(small_pages[:1], "fine <|im_end|> then", "inject"))
    big = _ocr(small_pages, known_text(50), "big")
    limited = VisionCollator(c.processor, c.facts, max_length=c.length(big) - 1)
    with pytest.raises(RecordError, match=rf"record 'big'.*{c.length(big)} tokens exceed max_length"):
        limited.encode(big)


def test_template_free_records_and_pages_from_several_configs(collators) -> None:
    c = collators["glm4v"]
    pages = [next(iter(render_pages(known_text(30), small_config(dpi=dpi)))) for dpi in (60, 96)]
    record = Record(id="mix", template="none", images=[p.image for p in pages], messages=[
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}]},
        {"role": "assistant", "content": known_text(5)}])  # fmt: skip
    enc = c.encode(record)
    assert [label for label in enc.labels if label != IGNORE_INDEX] == c.tokenizer(known_text(5))["input_ids"]
    assert c.length(record) == len(enc.input_ids)


@pytest.mark.parametrize("arch", ["glm4v", "qwen2.5vl"])
def test_the_rule_read_off_a_released_image_processor_is_glyph_tokens_rule(arch: str) -> None:
    import dataclasses

    from glyph.readers.tiny import image_processor
    from glyph.tokens.visual import rule_from_image_processor

    ours = rule_from_image_processor(image_processor(arch))
    assert dataclasses.replace(ours, name=arch) == get_vlm_rule(arch)
