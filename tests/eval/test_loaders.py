"""LongBench and MRCR loaders on small fixture files in the official formats, then scored."""

from __future__ import annotations

import json

import pytest

from glyph.eval.longbench import DATASET_METRIC, load_longbench
from glyph.eval.mrcr import load_mrcr
from glyph.eval.prompts import load_prompts
from glyph.eval.runner import score_sample

from .conftest import FIXTURES

LB = FIXTURES / "longbench"
MRCR = FIXTURES / "mrcr"


def test_longbench_folder_layout(tok) -> None:
    samples = list(load_longbench(LB, tokenizer=tok))
    by_id = {s.id: s for s in samples}
    assert len(samples) == 8 and set(by_id) >= {"hq-0001", "hq-0002", "trec-0001", "pr-0001", "pc-0001"}
    hq = by_id["hq-0001"]
    assert hq.task == "hotpotqa" and hq.metric == "qa_f1" and hq.benchmark == "longbench"
    assert hq.context.startswith("Passage 1:") and "Night Watch?" in hq.question  # input stays text
    assert hq.context not in hq.page_prompt()
    assert hq.max_new_tokens == 32
    assert hq.length == tok.count(hq.text_prompt()) and hq.bucket == "4k"
    assert by_id["trec-0001"].metadata["all_classes"][3] == "City"
    assert {s.task: s.metric for s in samples} == {s.task: DATASET_METRIC[s.task] for s in samples}


def test_longbench_scores_with_the_official_metrics(tok) -> None:
    by_id = {s.id: s for s in load_longbench(LB, tokenizer=tok)}
    assert score_sample(by_id["hq-0001"], "Amsterdam.") == 1.0
    assert score_sample(by_id["hq-0002"], "Rembrandt") == 1.0  # max over the two answers
    assert score_sample(by_id["hq-0002"], "van Rijn") == pytest.approx(
        0.8
    )  # vs "rembrandt van rijn": P 1, R 2/3
    assert score_sample(by_id["trec-0001"], "City\nCountry") == 1.0  # first line only
    assert score_sample(by_id["trec-0001"], "City or Country") == 0.5
    assert score_sample(by_id["pr-0001"], "Paragraph 2") == 1.0
    assert score_sample(by_id["pc-0001"], "2") == 1.0
    assert score_sample(by_id["lcc-0001"], "    return a * b") == 1.0
    assert score_sample(by_id["mfzh-0001"], "2001年") == 1.0
    assert 0.0 < score_sample(by_id["gr-0001"], "Costs rose by ten percent.") < 1.0


def test_longbench_single_file_filter_and_limit(tok) -> None:
    only = list(load_longbench(FIXTURES / "longbench_all.jsonl", tasks=["hotpotqa", "trec"], tokenizer=tok))
    assert [s.id for s in only] == ["hq-0001", "hq-0002", "trec-0001"]
    limited = list(load_longbench(LB, tasks=["hotpotqa"], limit=1, tokenizer=tok))
    assert [s.id for s in limited] == ["hq-0001"]
    with pytest.raises(ValueError, match="unknown LongBench task"):
        list(load_longbench(LB, tasks=["nope"], tokenizer=tok))
    with pytest.raises(FileNotFoundError):
        list(load_longbench(LB, tasks=["qasper"], tokenizer=tok))


def test_longbench_wording_is_replaceable(tmp_path, tok) -> None:
    custom = tmp_path / "p.yaml"
    custom.write_text("longbench:\n  hotpotqa:\n    question: 'Q: {input} A:'\n", encoding="utf-8")
    s = next(iter(load_longbench(LB, tasks=["hotpotqa"], tokenizer=tok, prompts=load_prompts(custom))))
    assert s.question == "Q: Which city is the home of the museum that holds the Night Watch? A:"
    assert s.instruction == load_prompts()["longbench"]["hotpotqa"]["instruction"]  # the rest keeps defaults


@pytest.mark.parametrize("name", ["2needle.jsonl", "2needle.parquet"])
def test_mrcr_loads_and_splits_conversation(name, tok) -> None:
    samples = list(load_mrcr(MRCR / name, tokenizer=tok))
    assert len(samples) == 2
    s = samples[0]
    turns = json.loads((MRCR / "2needle.jsonl").read_text().splitlines()[0])["prompt"]
    turns = json.loads(turns)
    assert s.task == "mrcr_2needle" and s.metric == "mrcr"
    assert s.context.startswith("User: Write a poem about tapirs\n\nAssistant: Tapirs wander")
    assert s.context.count("User:") == 3 and s.context.count("Assistant:") == 3
    assert turns[-1]["content"] in s.question and turns[-1]["content"] not in s.context  # last turn is text
    assert s.metadata["random_string_to_prepend"] == "aB3dE9xYz1"
    # the official grading: the reference answer scores 1, without the prefix 0
    assert score_sample(s, s.answers[0]) == 1.0
    assert score_sample(s, s.answers[0].removeprefix("aB3dE9xYz1")) == 0.0
    assert 0.0 < score_sample(s, "aB3dE9xYz1A tapir at the zoo") < 1.0
    assert (
        samples[0].id != samples[1].id
        and samples[0].id == next(iter(load_mrcr(MRCR / name, tokenizer=tok))).id
    )


def test_mrcr_filters(tok) -> None:
    assert len(list(load_mrcr(MRCR / "2needle.jsonl", limit=1, tokenizer=tok))) == 1
    assert list(load_mrcr(MRCR / "2needle.jsonl", n_needles=[4], tokenizer=tok)) == []
    assert list(load_mrcr(MRCR / "2needle.jsonl", max_tokens=10, tokenizer=tok)) == []


def test_hub_sources_call_load_dataset(monkeypatch, tok) -> None:
    """'hub' goes through datasets.load_dataset with the official repo, config and split."""
    datasets = pytest.importorskip("datasets")
    from glyph.eval.records import read_records

    calls: list[tuple] = []

    def fake_load(repo: str, name: str | None = None, split: str | None = None) -> list[dict]:
        calls.append((repo, name, split))
        if repo == "THUDM/LongBench":
            return list(read_records(LB / f"{name}.jsonl"))
        return list(read_records(MRCR / "2needle.parquet"))

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    lb = list(load_longbench("hub", tasks=["hotpotqa", "trec"], tokenizer=tok))
    assert [s.id for s in lb] == ["hq-0001", "hq-0002", "trec-0001"]
    mr = list(load_mrcr("hub", tokenizer=tok))
    assert len(mr) == 2 and mr[0].metric == "mrcr"
    assert calls == [
        ("THUDM/LongBench", "hotpotqa", "test"),
        ("THUDM/LongBench", "trec", "test"),
        ("openai/mrcr", None, "train"),
    ]
    with pytest.raises(ValueError, match="needs --tasks"):
        list(load_longbench("hub", tokenizer=tok))
