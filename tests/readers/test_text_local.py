"""The local text baseline (``transformers-text``) on tiny random-weight checkpoints: a VLM given
no images and a causal LM.

Expected values come from the tokenizer itself (a raw prompt is ``tokenizer(prompt)``, as
LongBench's ``pred.py`` tokenizes it), from the chat template rendered by jinja, and from the
same model's unconstrained greedy reply (a stop string cuts that reply after its first
occurrence, and is never the first new token: ``pred.py``'s ``min_length``).
"""

# ruff: noqa: F811  (fixtures imported from the shared helpers are redefined as arguments)
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # shared tiny-model helpers
from serve_helpers import tiny_glm  # noqa: F401  (fixture)

from glyph.readers import PromptFormat, get_reader
from glyph.readers.local_hf import TransformersTextReader
from glyph.readers.tiny import QWEN_SPECIALS, QWEN_TEMPLATE, TEMPLATES, build_tokenizer

torch = pytest.importorskip("torch")
jinja2 = pytest.importorskip("jinja2")

PROMPT = "Hello world . How to Do Great Work Paul Graham essay page"
RAW = PromptFormat(joiner="", chat_template=False)


@pytest.fixture(scope="module")
def glm_text(tiny_glm: Path) -> TransformersTextReader:
    reader = get_reader("transformers-text", model=str(tiny_glm), device="cpu")
    assert isinstance(reader, TransformersTextReader)
    return reader


@pytest.fixture(scope="module")
def causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2 causal LM (no vision tower) with the word-level test tokenizer and a chat template."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny-qwen2-lm")
    tok = build_tokenizer(QWEN_SPECIALS, eos="<|im_end|>")
    tok.chat_template = QWEN_TEMPLATE
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=1024, eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )  # fmt: skip
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def greedy(reader: TransformersTextReader, prompt: str, n: int) -> list[int]:
    """The model's own unconstrained greedy continuation of the raw prompt (no stop, no eos)."""
    inputs = reader.tokenizer([prompt], return_tensors="pt")
    with torch.inference_mode():
        out = reader.model.generate(**inputs, max_new_tokens=n, do_sample=False, eos_token_id=None, min_new_tokens=n)
    return out[0, inputs["input_ids"].shape[1] :].tolist()


def chat_prompt_tokens(template: str, tokenizer: Any, prompt: str, system: str | None = None) -> int:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    text = jinja2.Template(template).render(messages=messages, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_raw_prompt_is_the_tokenized_text_as_is(glm_text: TransformersTextReader) -> None:
    answer = glm_text.answer_text(PROMPT, "", prompt_format=RAW, max_tokens=3)
    assert answer.usage.prompt_tokens == len(glm_text.tokenizer(PROMPT)["input_ids"])
    inputs = glm_text.text_inputs([PROMPT], RAW)
    assert inputs["input_ids"][0].tolist() == glm_text.tokenizer(PROMPT)["input_ids"]
    assert "[gMASK]" not in glm_text.tokenizer.decode(inputs["input_ids"][0])  # no chat template around it
    # the chat format wraps the same text in the checkpoint's template
    chat = glm_text.answer_text(PROMPT, "", max_tokens=3)
    assert chat.usage.prompt_tokens == chat_prompt_tokens(TEMPLATES["glm4v"], glm_text.tokenizer, PROMPT)
    with pytest.raises(ValueError, match="no place for the system prompt"):
        glm_text.answer_text(PROMPT, "", prompt_format=RAW, system="Be brief.")


def test_a_stop_string_cuts_the_greedy_reply_after_its_first_occurrence(glm_text: TransformersTextReader) -> None:
    tok = glm_text.tokenizer
    prompt = "Transcribe all text in this image"
    free = greedy(glm_text, prompt, 10)
    words = [tok.decode([t]) for t in free]
    # a word the model says after its first token, and the reply up to and including it
    k = next(i for i in range(1, len(free)) if words[i].isalpha() and words[i] not in words[:i])
    fmt = PromptFormat(joiner="", chat_template=False, stop=(words[k],))
    (gen,) = glm_text.generate_text([prompt], fmt, 10)
    assert gen.completion_tokens == k + 1 and gen.finish_reason == "stop"
    assert gen.text == tok.decode(free[: k + 1], skip_special_tokens=True).strip()
    # the model's first word as the stop: not allowed as the first new token (pred.py's min_length)
    assert words[0].isalpha()
    first = PromptFormat(joiner="", chat_template=False, stop=(words[0],))
    (held,) = glm_text.generate_text([prompt], first, 4)
    assert held.text.split()[:1] != [words[0]]


def test_a_causal_lm_checkpoint_loads_as_one_and_answers_text(causal_lm: Path) -> None:
    from transformers import AutoTokenizer

    reader = get_reader("transformers-text", model=str(causal_lm), device="cpu", batch_size=2)
    assert type(reader.model).__name__ == "Qwen2ForCausalLM"
    tok = AutoTokenizer.from_pretrained(causal_lm)
    doc, question = "How to Do Great Work", "What is written on the page ?"
    chat = reader.answer_text(doc, question, max_tokens=2, system="You are a helpful assistant .")
    expected = chat_prompt_tokens(QWEN_TEMPLATE, tok, f"{doc}\n\n{question}", "You are a helpful assistant .")
    assert chat.usage.prompt_tokens == expected
    raw = reader.answer_text(doc, question, max_tokens=2, prompt_format=PromptFormat(joiner=" ", chat_template=False))
    assert raw.usage.prompt_tokens == len(tok(f"{doc} {question}")["input_ids"])
    # batches of different lengths: left padding does not change a row's own prompt count
    gens = reader.generate_text(["Hello world", "Hello world . How to Do Great Work"], RAW, 2)
    assert [g.prompt_tokens for g in gens] == [len(tok(p)["input_ids"]) for p in ("Hello world", "Hello world . How to Do Great Work")]


def test_the_runner_sends_longbench_raw_tasks_to_the_local_reader_as_they_are(glm_text, tmp_path) -> None:
    import json

    from glyph.eval.longbench import load_longbench
    from glyph.eval.official import LongBenchPromptFiles
    from glyph.eval.runner import evaluate
    from glyph.render.config import reference_default

    template = "Continue the code below . \n{context}Next line of code:\n"
    record = {"input": "", "context": "Hello world\n", "answers": ["x"], "length": 3, "dataset": "lcc",
              "all_classes": None, "_id": "lcc-1"}  # fmt: skip
    (tmp_path / "lcc.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (tmp_path / "p.json").write_text(json.dumps({"lcc": template}), encoding="utf-8")
    files = LongBenchPromptFiles.load(tmp_path / "p.json")
    (sample,) = load_longbench(tmp_path, files=files)
    (result,) = evaluate([sample], glm_text, reference_default(), on_error="raise")
    official = template.format(**record)  # pred.py: prompt_format.format(**json_obj), no build_chat for lcc
    assert result.usage["prompt_tokens"] == len(glm_text.tokenizer(official)["input_ids"])
    assert result.mode == "text" and result.max_new_tokens == 64
