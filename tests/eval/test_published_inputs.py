"""Truncation, RULER's own data and QA tasks, prediction clean-up, Glyph's records, provenance warnings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from glyph.eval.longbench import load_longbench
from glyph.eval.mrcr import load_mrcr
from glyph.eval.official import LongBenchPromptFiles, RulerTemplates
from glyph.eval.postprocess import (
    glyph_longbench_postprocess,
    glyph_mrcr_postprocess,
    glyph_ruler_postprocess,
    ruler_postprocess,
)
from glyph.eval.provenance import Provenance, RunInputs, comparability_warnings, describe
from glyph.eval.ruler import generate_ruler, generate_sample
from glyph.eval.ruler_data import load_ruler_data
from glyph.eval.runner import evaluate, run_eval, score_sample
from glyph.eval.summary import write_report
from glyph.eval.truncate import middle_truncate, truncate_context
from glyph.readers.base import Reader, ReaderAnswer
from glyph.render.pages import RenderedPage
from glyph.tokens.text import HFTokenizer

from .conftest import FIXTURES, EchoTextReader

OFFICIAL = FIXTURES / "official"
PEERS = Path("/work/peers")


@pytest.fixture(scope="module")
def hf_qwen() -> tuple[HFTokenizer, object]:
    """Qwen's BPE as a Hugging Face fast tokenizer (glyph.readers.tiny): a real model tokenizer, offline.

    Wrapped as glyph's ``hf:`` tokenizer without the save/load round trip (that costs seconds).
    """
    from glyph.readers.tiny import build_tokenizer

    tok = build_tokenizer(["<|user|>"], eos="<|endoftext|>", kind="qwen")
    wrapped = HFTokenizer.__new__(HFTokenizer)
    wrapped.tokenizer, wrapped.name = tok, "hf:qwen-bpe"
    return wrapped, tok


# ----------------------------------------------------------------------------- truncation


def test_middle_truncation_keeps_head_and_tail_as_pred_py_does(hf_qwen) -> None:
    spec, hf = hf_qwen
    prompt = "Instruction: answer from the text.\n\n" + " ".join(f"w{i}" for i in range(400)) + "\n\nQ: which?"
    ids = hf(prompt, truncation=False).input_ids  # LongBench pred.py, line for line
    half = int(100 / 2)
    expected = hf.decode(ids[:half], skip_special_tokens=True) + hf.decode(ids[-half:], skip_special_tokens=True)
    cut = middle_truncate(prompt, spec, 100)
    assert cut.text == expected and cut.tokens == len(ids) and (cut.kept_head, cut.kept_tail) == (50, 50)
    assert cut.text.startswith("Instruction: answer from the text.") and cut.text.endswith("Q: which?")
    # the offline Qwen counter is the same BPE: the same cut
    assert middle_truncate(prompt, "qwen", 100).text == expected
    # short enough: untouched
    assert middle_truncate(prompt, "qwen", len(ids)).text == prompt
    assert not middle_truncate(prompt, "qwen", None).truncated


def test_truncated_context_is_the_middle_of_the_official_prompt(tok) -> None:
    files = LongBenchPromptFiles.load(OFFICIAL / "longbench_config" / "dataset2prompt.json")
    full = next(iter(load_longbench(FIXTURES / "longbench", ["gov_report"], tokenizer=tok, files=files)))
    cut = next(iter(load_longbench(FIXTURES / "longbench", ["gov_report"], tokenizer=tok, files=files,
                                   max_length=30)))  # fmt: skip
    whole = middle_truncate(full.text_prompt(), tok, 30)
    assert cut.text_prompt() == whole.text  # the sample is LongBench's truncated prompt, byte for byte
    assert cut.instruction == full.instruction and cut.question == full.question  # both survive intact
    assert full.context.startswith(cut.context[:10]) and len(cut.context) < len(full.context)
    assert cut.metadata["truncation"] == {"tokens": tok.count(full.text_prompt()), "max_length": 30,
                                          "kept_head": 15, "kept_tail": 15}  # fmt: skip
    with pytest.raises(ValueError, match=r"record 'r1': a window of 4 tokens cuts into the instruction"):
        truncate_context("Please read everything below. ", "x " * 50, " Now answer.", tok, 4, "r1")


# ----------------------------------------------------------------------------- RULER data


def test_ruler_prepared_records_split_with_the_official_templates(tok) -> None:
    templates = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    samples = {s.task: s for s in load_ruler_data(OFFICIAL / "ruler_prepared", templates, tokenizer=tok)}
    assert set(samples) == {"niah_single_1", "niah_multikey_1", "vt", "qa_1"}
    raw = {t: json.loads((OFFICIAL / f"ruler_prepared/4096/data/{t}/validation.jsonl").read_text()) for t in samples}
    niah = samples["niah_single_1"]
    assert niah.id == "niah_single_1-4k-0000" and niah.length == 4096 and niah.bucket == "4k"
    assert niah.instruction == "A hidden number is in the notes below. Remember them; I will ask about the number later.\n"
    assert niah.context.startswith("The grass is green.") and niah.context.endswith("The sky is blue.")
    assert niah.question == (
        "\nWhat is the hidden number for calm-river in the notes? The hidden number for calm-river in the notes is"
    )
    # RULER sends input + answer_prefix: that is the sample's text prompt, byte for byte
    assert niah.text_prompt() == raw["niah_single_1"]["input"] + raw["niah_single_1"]["answer_prefix"]
    assert niah.max_new_tokens == 111 and niah.metric == "string_match_all"
    assert niah.metadata["query"] == {"keys": ["calm-river"], "kind": "numbers", "per_key": 1}
    multi = samples["niah_multikey_1"]  # wrapped in the checkout's chat template: the wrapper is dropped
    assert multi.metadata["model_template"] == "angle-chat"
    assert multi.text_prompt() == raw["niah_multikey_1"]["input"].removeprefix("<<user>> ").removesuffix(
        " <<bot>>") + raw["niah_multikey_1"]["answer_prefix"]  # fmt: skip
    assert multi.metadata["query"]["keys"] == ["red-fox", "blue-owl"]
    vt = samples["vt"]
    assert vt.metadata["query"] == {"value": "52814", "count": 3} and vt.max_new_tokens == 22
    qa = samples["qa_1"]
    assert qa.metric == "string_match_part" and qa.max_new_tokens == 33
    assert score_sample(qa, "  Lisbon\x07 ") == 1.0  # any reference counts, after RULER's clean-up
    with pytest.raises(ValueError, match="needs RULER's templates"):
        list(load_ruler_data(OFFICIAL / "ruler_prepared", None, tokenizer=tok))


def test_offline_extractor_reads_prepared_ruler_records(tok, cfg) -> None:
    """The legibility bound works on RULER's own data too: the query comes from the template's fields."""
    templates = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    samples = [s for s in load_ruler_data(OFFICIAL / "ruler_prepared", templates, ["niah_single_1", "vt"],
                                           tokenizer=tok)]  # fmt: skip
    from glyph.eval.extract import resolve_reader

    results = evaluate(samples, resolve_reader("oracle"), cfg)
    assert {r.task: r.score for r in results} == {"niah_single_1": 1.0, "vt": 1.0}


def test_glyph_ruler_records(tmp_path, tok) -> None:
    samples = list(load_ruler_data(OFFICIAL / "glyph_evaluation/ruler/data", tokenizer=tok))
    # the folder holds each record before and after rendering: counted once
    assert [s.id for s in samples] == ["niah_single_1_4096_0", "vt_4096_0"]
    niah = samples[0]
    assert niah.page_prompt() == (
        "A special magic number is hidden within the text in the images. "
        "What is the special magic number for quiet-lake?"
    )  # post_api_ruler.py sends the question field as it is
    assert niah.length == 4096 and niah.max_new_tokens == 128 and niah.metadata["postprocess"] == "glyph-ruler"
    assert niah.render is not None and niah.render["dpi"] == 96 and "font-path" not in niah.render
    assert "Missing.ttf" in niah.metadata["render_note"] and "newline-markup" not in niah.render
    # Glyph's RULER renderer (word2png_ruler.py): one Paragraph per context, the half-margin crop
    assert samples[1].render == {"paragraph-lines": 0, "crop-margin": "half"}
    assert niah.render["paragraph-lines"] == 0 and niah.render["crop-margin"] == "half"
    assert score_sample(niah, "7301442<|user|>") == 1.0


# ----------------------------------------------------------------------------- QA tasks


def test_ruler_qa_tasks_from_squad_and_hotpotqa_files(tok) -> None:
    qa = {"squad": str(OFFICIAL / "qa/squad.json"), "hotpotqa": str(OFFICIAL / "qa/hotpotqa.json")}
    samples = list(generate_ruler(["qa_1", "qa_2"], [1024], samples=3, seed=0, tokenizer=tok, qa_data=qa))
    squad_answers = [("Lisbon", "at Lisbon"), ("Tortosa",), ("1998",)]  # the answerable questions only
    got = [tuple(s.answers) for s in samples if s.task == "qa_1"]
    assert sorted(got) == sorted(squad_answers)  # three samples, three different questions
    hotpot = [s for s in samples if s.task == "qa_2"]
    assert sorted(tuple(s.answers) for s in hotpot) == [("Stratford-upon-Avon",), ("the Netherlands",), ("the Tagus",)]
    for s in samples:
        assert s.metric == "string_match_part" and s.max_new_tokens == 32
        assert s.context.startswith("Document 1:\n") and tok.count(s.text_prompt()) <= 1024 - 32
    lisbon = next(s for s in samples if "Lisbon" in s.answers)
    assert "It reaches the Atlantic Ocean at Lisbon." in lisbon.context  # the gold paragraph is there
    assert "Where does the Tagus reach the ocean?" in lisbon.question
    vermeer = next(s for s in hotpot if "the Netherlands" in s.answers)  # documents: "title\nsentences joined"
    assert "Johannes Vermeer\nJohannes Vermeer was a painter from the Netherlands." in vermeer.context
    with pytest.raises(ValueError, match="qa_1 needs squad"):
        list(generate_ruler(["qa_1"], [1024], tokenizer=tok))
    with pytest.raises(ValueError, match="SQuAD files hold"):
        list(generate_ruler(["qa_1"], [1024], tokenizer=tok, qa_data={"squad": qa["hotpotqa"]}))


def test_ruler_default_tasks_add_qa_only_with_data(tok) -> None:
    qa = {"squad": str(OFFICIAL / "qa/squad.json")}
    tasks = [s.task for s in generate_ruler(None, [2048], 1, 0, tok, qa_data=qa)]
    assert tasks[-1] == "qa_1" and "qa_2" not in tasks and len(tasks) == 12


# ----------------------------------------------------------------------------- clean-up


def test_ruler_postprocess_literals() -> None:
    assert ruler_postprocess("  7301442\x00\x1fok \n") == "7301442\n\nok"
    assert ruler_postprocess("\tA\tB\t") == "A\nB"
    assert glyph_ruler_postprocess(" 123 <|user|>") == "123"
    assert glyph_longbench_postprocess("<think>hmm\nno</think>\n Paris\n\nis it<|user|>") == "Paris is it"
    assert glyph_mrcr_postprocess("<think>a</think><think>b</think>\n pre text<|user|>") == "pre text"


@pytest.mark.skipif(not (PEERS / "Glyph").is_dir(), reason="needs the thu-coai/Glyph checkout")
def test_clean_up_matches_glyphs_own_functions() -> None:
    cases = ["<think>x\ny</think>  A <|user|>b\n\nc", "plain", " <think> xxxxx\n <think>  \nNo <|user|>",
             "  1234\x00 <|user|>", "\n\nline one\nline two\x1b"]  # fmt: skip
    code = r"""
import json, sys, io, contextlib
sys.path[:0] = [sys.argv[1] + '/evaluation/longbench/scripts', sys.argv[1] + '/evaluation/ruler/scripts']
with contextlib.redirect_stdout(io.StringIO()):
    from clear_pred import extract_answer_from_text
    import post_api_ruler
cases = json.loads(sys.argv[2])
print(json.dumps({'lb': [extract_answer_from_text(c) for c in cases],
                  'ruler': [post_api_ruler.postprocess_pred(c) for c in cases]}))
"""
    pytest.importorskip("requests")
    done = subprocess.run([sys.executable, "-c", code, str(PEERS / "Glyph"), json.dumps(cases)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [glyph_longbench_postprocess(c) for c in cases] == theirs["lb"]
    assert [ruler_postprocess(c) for c in cases] == theirs["ruler"]


# ----------------------------------------------------------------------------- Glyph's records, runner


class PromptRecorder(Reader):
    """A page 'VLM' that records what it was shown and the budget it was given."""

    name = "recorder"
    answers = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int, int]] = []

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        return ["" for _ in pages]

    async def aanswer(self, pages, question, *, system=None, max_tokens=512) -> ReaderAnswer:
        self.seen.append((question, len(pages), pages[0].image.width, max_tokens))
        return ReaderAnswer("<think>let me look</think>Qx7Lm2Pa9zA heron lifts from the pond at dawn.")


def test_glyph_mrcr_records_are_asked_and_graded_as_glyph_does(tok, cfg) -> None:
    samples = list(load_mrcr(OFFICIAL / "glyph_evaluation/mrcr/data", tokenizer=tok))
    assert [(s.task, s.bucket) for s in samples] == [("mrcr_2needle", "8k-16k"), ("mrcr_4needle", "0-8k")]
    heron = samples[0]
    assert heron.page_prompt() == "\n" + json.loads(
        (OFFICIAL / "glyph_evaluation/mrcr/data/processed_2needle_0-128k.json").read_text())[0]["question"]  # fmt: skip
    reader = PromptRecorder()
    results = {r.id: r for r in evaluate(samples, reader, cfg, max_new_tokens=8192)}
    assert results[heron.id].score == 1.0  # the think block is dropped before grading, as Glyph does
    assert results[heron.id].max_new_tokens == 8192 and {s[3] for s in reader.seen} == {8192}
    # the record's own config (dpi 96) renders its pages wider than the run's dpi 72 pages
    widths = {q: w for q, _, w, _ in reader.seen}
    assert widths["\n" + heron.question] > widths["\n" + samples[1].question]
    (four,) = load_mrcr(OFFICIAL / "glyph_evaluation/mrcr/data", n_needles=[4], tokenizer=tok)
    assert four.task == "mrcr_4needle"
    # Glyph's MRCR renderer puts a context in one reportlab Paragraph, and crops as the reference does
    assert all(s.render and s.render["paragraph-lines"] == 0 and "crop-margin" not in s.render for s in samples)


def test_glyph_records_render_as_glyphs_evaluation_renderers_do(tok, cfg) -> None:
    """One Paragraph per context (and RULER's half-margin crop) over the run's config; off with the record configs."""
    from glyph.eval.runner import EvalSettings

    lb = next(iter(load_longbench(OFFICIAL / "glyph_evaluation/longbench/data", tokenizer=tok)))
    official = next(iter(load_longbench(FIXTURES / "longbench", ["hotpotqa"], tokenizer=tok)))
    ruler = next(iter(load_ruler_data(OFFICIAL / "glyph_evaluation/ruler/data", tokenizer=tok)))
    on = EvalSettings(PromptRecorder(), cfg)
    off = EvalSettings(PromptRecorder(), cfg, sample_configs=False)
    assert (on.config_for(lb).paragraph_lines, on.config_for(lb).crop_margin) == (0, "full")
    assert (on.config_for(ruler).paragraph_lines, on.config_for(ruler).crop_margin) == (0, "half")
    assert on.config_for(official) is cfg and official.render is None  # LongBench's own data: glyph's layout
    assert off.config_for(ruler) is cfg  # --no-record-config: the keys come from --set instead


def test_glyph_longbench_record_config_with_its_font(tmp_path, tok, cfg) -> None:
    data = tmp_path / "glyph_evaluation"
    shutil.copytree(OFFICIAL / "glyph_evaluation", data)
    (data / "config").mkdir()
    import matplotlib

    mono = Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSansMono.ttf"
    shutil.copy(mono, data / "config/Present.ttf")  # "../config/Present.ttf", as Glyph's scripts resolve it
    files = LongBenchPromptFiles.load(page_prompt_file=OFFICIAL / "longbench_config/dataset2vlmprompt.json")
    s = next(iter(load_longbench(data / "longbench/data", tokenizer=tok, files=files,
                                 postprocess="glyph-longbench")))  # fmt: skip
    assert s.metadata["source_layout"] == "glyph-evaluation"
    assert s.render["font-path"] == str((data / "config/Present.ttf").resolve())
    assert s.render["newline-markup"] == '<font color="#FF0000"> \\n </font>'
    assert s.page_prompt() == (  # input stripped, as post_api_longbench.py strips it
        "Use the passages in the pictures to answer. Give the answer only.\n\n"
        "Question: Which city holds the Rijksmuseum?\nAnswer:"
    )
    assert score_sample(s, "<think>hmm</think>\nAmsterdam") == 1.0


def test_max_new_tokens_rejects_nonsense(cfg) -> None:
    s = generate_sample("niah_single_1", 1024, tokenizer="qwen")
    with pytest.raises(ValueError, match="max_new_tokens must be a positive"):
        evaluate([s], PromptRecorder(), cfg, max_new_tokens=0)


# ----------------------------------------------------------------------------- provenance


def _prov(prompt: str, **changes) -> Provenance:
    base = {"benchmark": "longbench", "data": "d", "data_layout": "longbench", "prompts": describe(prompt, prompt),
            "page_prompts": describe("pages.json", "pages"), "tokenizer": "qwen"}  # fmt: skip
    return Provenance(**{**base, **changes})


def test_comparability_warnings_name_what_differs() -> None:
    a, b = _prov("official.json"), _prov("paraphrase.yaml")
    assert comparability_warnings([RunInputs("A", "text", a), RunInputs("B", "text", a)]) == []
    (w,) = comparability_warnings([RunInputs("A", "text", a), RunInputs("B", "text", b)])
    assert w.startswith("A and B were built from different inputs (prompt: official.json")
    # text vs pages read different prompts by design; a page run reads the page prompts
    assert comparability_warnings([RunInputs("A", "text", a), RunInputs("P", "pages", b)]) == []
    (w,) = comparability_warnings([RunInputs("A", "text", a), RunInputs("B", "text", _prov(
        "official.json", truncation="middle to 31500 tokens"))])  # fmt: skip
    assert "truncation: none vs middle to 31500 tokens" in w
    (w,) = comparability_warnings([RunInputs("A", "text", a), RunInputs("old", "text", None)])
    assert "inputs not recorded for old" in w


def test_report_warns_when_runs_with_incomparable_inputs_sit_side_by_side(tmp_path, tok, cfg) -> None:
    files = LongBenchPromptFiles.load(OFFICIAL / "longbench_config" / "dataset2prompt.json")
    official = list(load_longbench(FIXTURES / "longbench", ["hotpotqa"], tokenizer=tok, files=files))
    ours = list(load_longbench(FIXTURES / "longbench", ["hotpotqa"], tokenizer=tok))
    p_official = _prov("dataset2prompt.json", prompts=files.sources["prompts"])
    p_ours = _prov("prompts.yaml")
    run_eval(official, EchoTextReader(), cfg, tmp_path / "a", provenance=p_official)
    run_eval(ours, EchoTextReader(), cfg, tmp_path / "b", reader_name="echo-ours", provenance=p_ours)
    run_eval(official, EchoTextReader(), cfg, tmp_path / "c", reader_name="echo-again", provenance=p_official)
    _, report = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "ab")
    text = report.read_text()
    assert "**Warning:** echo-ours (text) and echo-text (text) were built from different inputs (prompt: " in text
    assert "dataset2prompt.json [0a2dca03]" in text
    assert "## Inputs" in text and "dataset2prompt.json" in text
    _, same = write_report([tmp_path / "a", tmp_path / "c"], tmp_path / "ac")
    assert "Warning" not in same.read_text()
    summary = json.loads((tmp_path / "ab" / "summary.json").read_text())
    assert len(summary["warnings"]) == 1
    # different records side by side: warned from the results themselves
    run_eval(official[:1], EchoTextReader(), cfg, tmp_path / "d", reader_name="echo-one", provenance=p_official)
    _, fewer = write_report([tmp_path / "a", tmp_path / "d"], tmp_path / "ad")
    assert "echo-one (text) and echo-text (text) cover different samples (0 only in the first, 1 only in the second, 1 shared)" in fewer.read_text()


def test_text_reader_gets_the_official_prompt_byte_for_byte(tok, cfg) -> None:
    files = LongBenchPromptFiles.load(OFFICIAL / "longbench_config" / "dataset2prompt.json")
    s = next(iter(load_longbench(FIXTURES / "longbench", ["hotpotqa"], tokenizer=tok, files=files)))
    reader = EchoTextReader()
    evaluate([s], reader, cfg)
    text, question = reader.seen[0]
    assert reader.formats[0].join(text, question) == s.text_prompt()  # what goes on the wire


def test_qa_corpora_from_the_hub_match_the_json_files(monkeypatch) -> None:
    """``hub`` reads the Hugging Face copies (their row schemas) into the same corpus as the JSON files."""
    datasets = pytest.importorskip("datasets")
    from glyph.eval.ruler_qa import load_qa_corpus

    squad = json.loads((OFFICIAL / "qa/squad.json").read_text())["data"]
    squad_rows = [{"id": qa["id"], "title": a["title"], "context": p["context"], "question": qa["question"],
                   "answers": {"text": [x["text"] for x in qa["answers"]],
                               "answer_start": [x["answer_start"] for x in qa["answers"]]}}
                  for a in squad for p in a["paragraphs"] for qa in p["qas"]]  # fmt: skip
    hotpot = json.loads((OFFICIAL / "qa/hotpotqa.json").read_text())
    hotpot_rows = [{"id": r["_id"], "question": r["question"], "answer": r["answer"],
                    "context": {"title": [t for t, _ in r["context"]], "sentences": [s for _, s in r["context"]]}}
                   for r in hotpot]  # fmt: skip
    calls: list[tuple] = []

    def fake_load(repo: str, name: str | None = None, split: str | None = None) -> list[dict]:
        calls.append((repo, name, split))
        return squad_rows if repo == "rajpurkar/squad_v2" else hotpot_rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    for name in ("squad", "hotpotqa"):
        hub, local = load_qa_corpus(name, "hub"), load_qa_corpus(name, OFFICIAL / f"qa/{name}.json")
        # the hub's squad_v2 rows only list paragraphs that have questions (Tower Bridge has none)
        assert set(hub.docs) <= set(local.docs) and len(hub.docs) >= len(local.docs) - 1
        assert [(i.query, i.answers) for i in hub.items] == [(i.query, i.answers) for i in local.items]
    assert calls == [("rajpurkar/squad_v2", None, "validation"), ("hotpotqa/hotpot_qa", "distractor", "validation")]
