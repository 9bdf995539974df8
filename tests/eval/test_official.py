"""Official prompt files, splits, truncation, generation lengths and LongBench-E bins.

Fixtures are in the official formats with our own short texts (``fixtures/official``).
Expected prompts come from the official filling rules applied by hand in the test
(``str.format`` as LongBench's ``pred.py``, ``str.replace`` + strip as Glyph's
``post_api_longbench.py``), literals, or the official repositories' own code when their
checkouts are present (``/work/peers``; skipped otherwise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glyph.eval.longbench import load_longbench
from glyph.eval.official import (
    LongBenchPromptFiles,
    RulerTemplates,
    glyph_page_prompt,
    split_longbench,
    split_ruler_input,
)
from glyph.eval.sample import Sample, bucket_key, longbench_e_bin, range_bin

from .conftest import FIXTURES

OFFICIAL = FIXTURES / "official"
CONFIG = OFFICIAL / "longbench_config"
PEERS = Path("/work/peers")


def _records(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "longbench" / name).read_text().splitlines() if line]


@pytest.fixture(scope="module")
def files() -> LongBenchPromptFiles:
    return LongBenchPromptFiles.load(
        CONFIG / "dataset2prompt.json", CONFIG / "dataset2maxlen.json", CONFIG / "dataset2vlmprompt.json"
    )


def test_longbench_official_prompt_is_the_template_filled_as_pred_py_fills_it(tok, files) -> None:
    templates = json.loads((CONFIG / "dataset2prompt.json").read_text())
    samples = {s.id: s for s in load_longbench(FIXTURES / "longbench", list(templates), tokenizer=tok,
                                               files=files)}  # fmt: skip
    for name in ("hotpotqa.jsonl", "trec.jsonl", "passage_count.jsonl", "lcc.jsonl", "gov_report.jsonl"):
        for record in _records(name):
            s = samples[record["_id"]]
            assert s.text_prompt() == templates[record["dataset"]].format(**record)  # pred.py's prompt
            assert s.context == record["context"]  # the document alone is rendered
    hq = samples["hq-0001"]
    assert hq.instruction == "Use the passages to answer. Give the answer only.\n\nPassages follow.\n"
    assert hq.question == (
        "\n\nUse the passages to answer. Give the answer only.\n\n"
        "Question: Which city is the home of the museum that holds the Night Watch?\nAnswer:"
    )
    # the page reader gets the page-prompt file's text, filled as Glyph fills it
    assert hq.page_prompt() == (
        "Use the passages in the pictures to answer. Give the answer only.\n\n"
        "Question: Which city is the home of the museum that holds the Night Watch?\nAnswer:"
    )
    # the trailing space of "The count is: " goes: Glyph strips the whole page prompt
    assert samples["pc-0001"].page_prompt() == (
        "The pictures hold paragraphs. Count the distinct ones.\n\nThe count is:"
    )


def test_longbench_generation_lengths_and_chat_template_exceptions(tok, files) -> None:
    names = ["hotpotqa", "trec", "lcc", "gov_report", "passage_count"]
    by_task = {s.task: s for s in load_longbench(FIXTURES / "longbench", names, tokenizer=tok, files=files)}
    assert {t: s.max_new_tokens for t, s in by_task.items()} == {
        "hotpotqa": 17, "trec": 9, "lcc": 33, "gov_report": 300, "passage_count": 5,
    }  # fmt: skip
    # without the file: LongBench's own values (its dataset2maxlen.json: hotpotqa 32, gov_report 512)
    plain = {s.task: s.max_new_tokens for s in load_longbench(FIXTURES / "longbench", tokenizer=tok)}
    assert plain["hotpotqa"] == 32 and plain["gov_report"] == 512 and plain["trec"] == 64
    # LongBench's pred.py skips the chat template for these tasks; the samples say so
    assert by_task["trec"].metadata["chat_template"] is False
    assert by_task["lcc"].metadata["chat_template"] is False
    assert "chat_template" not in by_task["hotpotqa"].metadata


@pytest.mark.skipif(not (PEERS / "LongBench").is_dir(), reason="needs the THUDM/LongBench checkout")
def test_longbench_official_files_load_and_match_the_built_in_lengths(tok) -> None:
    root = PEERS / "LongBench" / "LongBench" / "config"
    official = LongBenchPromptFiles.load(root / "dataset2prompt.json", root / "dataset2maxlen.json")
    from glyph.eval.longbench import DATASET_MAX_NEW_TOKENS

    assert official.maxlen == DATASET_MAX_NEW_TOKENS
    s = next(iter(load_longbench(FIXTURES / "longbench", ["hotpotqa"], tokenizer=tok, files=official)))
    record = _records("hotpotqa.jsonl")[0]
    assert s.text_prompt() == json.loads((root / "dataset2prompt.json").read_text())["hotpotqa"].format(**record)


def test_prompt_files_reject_bad_input(tmp_path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"hotpotqa": "no document here {input}"}))
    with pytest.raises(ValueError, match=r"'hotpotqa' must hold \{context\} exactly once"):
        LongBenchPromptFiles.load(bad)
    bad.write_text(json.dumps({"hotpotqa": 32.5}))
    with pytest.raises(ValueError, match="'hotpotqa' must map to a positive token count"):
        LongBenchPromptFiles.load(maxlen_file=bad)
    with pytest.raises(ValueError, match="no such LongBench prompt file"):
        LongBenchPromptFiles.load(tmp_path / "missing.json")
    files = LongBenchPromptFiles.load(CONFIG / "dataset2prompt.json")
    with pytest.raises(ValueError, match="has no template for 'qasper'"):
        files.template("qasper")


def test_longbench_e_bins_follow_eval_py(tok) -> None:
    samples = list(load_longbench(OFFICIAL / "hotpotqa_e.jsonl", tokenizer=tok))
    # LongBench's scorer_e: length < 4000 -> 0-4k, < 8000 -> 4-8k, else 8k+ (words, the record's `length`)
    assert [s.bucket for s in samples] == ["0-4k", "4-8k", "4-8k", "8k+"]
    assert [longbench_e_bin(n) for n in (0, 3999, 4000, 7999, 8000, 10**6)] == [
        "0-4k", "0-4k", "4-8k", "4-8k", "8k+", "8k+"
    ]  # fmt: skip
    assert sorted(["8k+", "0-4k", "4-8k"], key=bucket_key) == ["0-4k", "4-8k", "8k+"]
    assert sorted(["16k-32k", "0-8k", "8k", "8k-16k"], key=bucket_key) == ["0-8k", "8k", "8k-16k", "16k-32k"]
    assert [range_bin(n) for n in (1, 8192, 8193, 16384, 100_000)] == [
        "0-8k", "0-8k", "8k-16k", "8k-16k", "64k-128k"
    ]  # fmt: skip


# ----------------------------------------------------------------------------- splits (properties)

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=60, deadline=None)
@given(context=_TEXT, question=_TEXT.filter(lambda q: "{" not in q and "}" not in q))
def test_longbench_split_rebuilds_the_formatted_prompt(context: str, question: str) -> None:
    template = "Read this.\n\n{context}\n\nNow: {input}\nAnswer:"
    record = {"context": context, "input": question, "answers": [], "_id": "x"}
    head, tail = split_longbench(template, record)
    assert head + context + tail == template.format(**record)


@settings(max_examples=60, deadline=None)
@given(context=_TEXT, key=st.from_regex(r"[a-z]{1,8}-[a-z]{1,8}", fullmatch=True))
def test_ruler_split_recovers_any_haystack(context: str, key: str) -> None:
    templates = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    template = templates.tasks["niah"]["template"]
    text = "<<user>> " + template.format(type_needle_v="numbers", context=context, query=key) + " <<bot>>"
    split = split_ruler_input(text, "niah_multikey_1", templates)
    assert split.context == context and split.fields["query"] == key
    assert split.model_template == "angle-chat"
    assert split.instruction + split.context + split.question == text.removeprefix("<<user>> ").removesuffix(
        " <<bot>>"
    )


# ----------------------------------------------------------------------------- RULER templates


def test_ruler_templates_load_from_a_checkout_or_a_file(tmp_path) -> None:
    t = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    assert set(t.tasks) == {"niah", "variable_tracking", "qa"} and set(t.models) == {"base", "angle-chat"}
    assert t.base_task("niah_multikey_1") == "niah" and t.base_task("vt") == "variable_tracking"
    assert [t.tokens_to_generate(x) for x in ("niah_single_1", "vt", "qa_1")] == [111, 22, 33]
    single = RulerTemplates.load(OFFICIAL / "ruler_checkout/scripts/data/synthetic/constants.py")
    assert single.base_task("qa_2") == "qa" and single.models == {"base": "{task_template}"}
    as_json = tmp_path / "t.json"
    as_json.write_text(json.dumps({"TASKS": {"niah": {"template": "Find it.\n{context}\nWhich for {query}?"}}}))
    assert RulerTemplates.load(as_json).tokens_to_generate("niah_single_2") == 128
    with pytest.raises(ValueError, match="not a RULER checkout"):
        RulerTemplates.load(tmp_path)
    bad = tmp_path / "c.py"
    bad.write_text("TASKS = {'niah': {'template': 'no haystack {query}'}}\n")
    with pytest.raises(ValueError, match=r"needs a 'template' holding \{context\}"):
        RulerTemplates.load(bad)
    bad.write_text("import os\nTASKS = dict(os.environ)\n")  # read as data, never run
    with pytest.raises(ValueError, match="not a literal mapping"):
        RulerTemplates.load(bad)


@pytest.mark.skipif(not (PEERS / "RULER").is_dir(), reason="needs the NVIDIA/RULER checkout")
def test_ruler_official_templates_split_inputs_formatted_by_rulers_own_template() -> None:
    """RULER's constants.py and template.py, filled in a subprocess the way prepare.py + niah.py do."""
    code = r"""
import json, sys
sys.path[:0] = [sys.argv[1] + '/scripts/data', sys.argv[1] + '/scripts/data/synthetic']
from constants import TASKS
from template import Templates
out = {}
for model in ('base', 'meta-llama3'):
    t = Templates[model].format(task_template=TASKS['niah']['template']) + TASKS['niah']['answer_prefix']
    for a, b in (('Some', 'A'), ('are all', 'is'), ('are', 'is'), ('answers', 'answer')):
        t = t.replace(a, b)
    text = t.format(type_needle_v='number', context='HAY\nSTACK', query='tidy-owl')
    i = text.rfind(TASKS['niah']['answer_prefix'][:10])
    out[model] = [text[:i], text[i:]]
    v = Templates[model].format(task_template=TASKS['variable_tracking']['template'])
    out[model + ':vt'] = v.format(context='VAR A = 1', query='1', num_v=1)
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code, str(PEERS / "RULER")], capture_output=True, text=True,
                          check=True)  # fmt: skip
    made = json.loads(done.stdout)
    templates = RulerTemplates.load(PEERS / "RULER")
    for model in ("base", "meta-llama3"):
        text, prefix = made[model]
        split = split_ruler_input(text, "niah_single_1", templates)
        assert split.context == "HAY\nSTACK" and split.model_template == model
        assert split.instruction == (
            "A special magic number is hidden within the following text. Make sure to memorize it. "
            "I will quiz you about the number afterwards.\n"
        )
        assert split.question == "\nWhat is the special magic number for tidy-owl mentioned in the provided text?"
        assert prefix == " The special magic number for tidy-owl mentioned in the provided text is"
        vt = split_ruler_input(made[model + ":vt"], "vt", templates)
        assert vt.context == "VAR A = 1" and vt.fields["query"] == "1"


def test_ruler_split_names_the_record_that_does_not_match() -> None:
    templates = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    with pytest.raises(ValueError, match=r"record 'r7' \(task vt\): its input does not match"):
        split_ruler_input("something else entirely", "vt", templates, "r7")
    with pytest.raises(ValueError, match="no RULER template for task 'cwe'"):
        split_ruler_input("x", "cwe", templates)


def test_glyph_page_prompt_is_replace_then_strip() -> None:
    # Glyph's post_api_longbench.py: template.replace('{input}', input.strip()).strip()
    record = {"input": "  Who?  "}
    assert glyph_page_prompt("  Look at the images.\n\nQ: {input}\nA: ", record) == "Look at the images.\n\nQ: Who?\nA:"
    # str.replace, not str.format: braces elsewhere are left alone
    assert glyph_page_prompt("{x} {input}", record) == "{x} Who?"


def test_sample_hash_is_unchanged_for_samples_without_the_new_fields() -> None:
    s = Sample("a", "t", 1, "ctx", "q?", ["x"], "string_match_all", instruction="i")
    # the hash main's Sample gave this sample before joiner / page_question / render existed
    # (git show main:src/glyph/eval/sample.py): resumed runs keep their finished results
    assert s.content_hash == "0500bfa0655ed5fa"
    assert Sample("a", "t", 1, "ctx", "q?", ["x"], "string_match_all", instruction="i", joiner="").content_hash != (
        "0500bfa0655ed5fa"
    )
