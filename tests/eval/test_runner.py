"""The runner end to end: oracle 1.0, always-wrong 0.0, resume without redoing, summaries by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glyph.cli import app
from glyph.eval.extract import resolve_reader
from glyph.eval.ruler import generate_ruler
from glyph.eval.runner import RESULTS, Result, evaluate, read_results, reader_mode, run_eval
from glyph.eval.summary import load_results, markdown_report, summarize, write_report

from .conftest import EchoTextReader, WrongReader

TASKS = ["niah_single_1", "niah_multikey_3", "vt", "cwe"]


@pytest.fixture(scope="module")
def tiny(tok):
    """4 tasks x 4K x 2 samples: 8 samples, a few pages each."""
    return list(generate_ruler(TASKS, [4096], samples=2, seed=1, tokenizer=tok))


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in (path / RESULTS).read_text().splitlines()]


def test_oracle_scores_one_and_writes_everything(tiny, cfg, tmp_path) -> None:
    reader = resolve_reader("oracle")
    assert reader.name == "oracle-extract" and reader_mode(reader) == "sample"
    outcome = run_eval(tiny, reader, cfg, tmp_path)
    assert len(outcome.new) == 8 and outcome.skipped == 0
    recs = lines(tmp_path)
    assert {r["id"] for r in recs} == {s.id for s in tiny}
    for r in recs:
        assert r["score"] == 1.0 and r["error"] is None
        assert r["pages"] >= 1 and r["visual_tokens"] > 0 and r["text_tokens"] > r["visual_tokens"]
        assert r["ratio"] == pytest.approx(r["text_tokens"] / r["visual_tokens"])
        assert (
            r["bucket"] == "4k" and r["config_hash"] == cfg.content_hash() and r["reader"] == "oracle-extract"
        )
    summaries, report = write_report([tmp_path])
    (s,) = summaries
    assert s.accuracy == 1.0 and s.by_bucket == {"4k": 1.0} and s.samples == 8
    text = report.read_text()
    assert "legibility bound" in text and "oracle-extract" in text
    assert (tmp_path / "accuracy_vs_length.png").stat().st_size > 1000
    assert (tmp_path / "compression_vs_length.png").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["runs"][0]["accuracy"] == 1.0


def test_always_wrong_reader_scores_zero_and_sees_no_context_as_text(tiny, cfg, tmp_path) -> None:
    reader = WrongReader()
    assert reader_mode(reader) == "pages"
    run_eval(tiny, reader, cfg, tmp_path, concurrency=3)
    assert reader.calls == 8
    assert all(r["score"] == 0.0 for r in lines(tmp_path))
    assert all(n >= 1 for n in reader.page_counts)
    for q, s in zip(sorted(reader.questions), sorted(x.page_prompt() for x in tiny)):
        assert q == s  # instruction + question as text; the context only as pages
    (summary,) = summarize(load_results([tmp_path]))
    assert summary.accuracy == 0.0 and summary.run.startswith("always-wrong @ ")


def test_resume_after_interrupt_does_not_redo_finished_samples(tiny, cfg, tmp_path) -> None:
    crashing = WrongReader(fail_after=3)  # Ctrl-C during the 4th sample
    with pytest.raises(KeyboardInterrupt):
        run_eval(tiny, crashing, cfg, tmp_path, concurrency=1)
    assert crashing.calls == 3 and len(lines(tmp_path)) == 3
    done = {r["id"] for r in lines(tmp_path)}

    again = WrongReader()
    outcome = run_eval(tiny, again, cfg, tmp_path, concurrency=1)
    assert again.calls == 5 and outcome.skipped == 3  # only the unfinished ones
    assert {r.id for r in outcome.new}.isdisjoint(done)
    assert sorted(r["id"] for r in lines(tmp_path)) == sorted(s.id for s in tiny)

    third = WrongReader()
    assert run_eval(tiny, third, cfg, tmp_path).skipped == 8 and third.calls == 0
    # another config is another run: everything again, side by side in the same file
    other = cfg.with_updates(dpi=96)
    fourth = WrongReader()
    run_eval(tiny, fourth, other, tmp_path)
    assert fourth.calls == 8 and len(summarize(load_results([tmp_path]))) == 2


def test_torn_last_line_is_repaired_and_ignored(tiny, cfg, tmp_path) -> None:
    run_eval(tiny[:2], WrongReader(), cfg, tmp_path)
    with (tmp_path / RESULTS).open("a") as fh:
        fh.write('{"id": "half a rec')  # a crash in the middle of a write
    again = WrongReader()
    run_eval(tiny[:3], again, cfg, tmp_path)
    assert again.calls == 1 and len(read_results(tmp_path / RESULTS)) == 3


def test_reader_errors_are_recorded_then_retried(tiny, cfg, tmp_path) -> None:
    flaky = WrongReader(fail_after=2, exc=RuntimeError("server said 503"))
    run_eval(tiny[:4], flaky, cfg, tmp_path, concurrency=1)
    recs = lines(tmp_path)
    assert len(recs) == 4 and sum(1 for r in recs if r["error"]) == 2
    assert all("503" in r["error"] for r in recs if r["error"])
    healed = WrongReader()
    run_eval(tiny[:4], healed, cfg, tmp_path, concurrency=1)
    assert healed.calls == 2  # only the errored ones
    (s,) = summarize(load_results([tmp_path]))
    assert s.errors == 0 and s.samples == 4  # the later records win
    with pytest.raises(RuntimeError, match="503"):
        run_eval(
            tiny[4:6], WrongReader(fail_after=0, exc=RuntimeError("503")), cfg, tmp_path, on_error="raise"
        )


def test_text_reader_gets_text_and_sits_beside_pages(tiny, cfg, tmp_path) -> None:
    reader = EchoTextReader()
    assert reader_mode(reader) == "text"
    run_eval(tiny, reader, cfg, tmp_path / "text")
    sample = tiny[0]
    text, question = next(seen for seen in reader.seen if sample.context in seen[0])
    assert text == sample.instruction + "\n\n" + sample.context and question == sample.question
    recs = lines(tmp_path / "text")
    assert all(
        r["mode"] == "text" and r["config_hash"] == "text" and r["visual_tokens"] is None for r in recs
    )
    niah = [r for r in recs if r["task"].startswith("niah")]
    assert niah and all(r["score"] == 1.0 for r in niah)  # the echo holds the needle
    run_eval(tiny, resolve_reader("oracle"), cfg, tmp_path / "pages")
    summaries, report = write_report([tmp_path / "text", tmp_path / "pages"], tmp_path / "both")
    assert [s.run for s in summaries] == ["echo-text (text)", f"oracle-extract @ {cfg.content_hash()[:8]}"]
    table = report.read_text()
    assert "| task | echo-text (text) | oracle-extract @" in table


def _result(id_: str, task: str, bucket: str, score: float, ratio: float | None, reader: str = "r") -> Result:
    return Result(
        id=id_, task=task, benchmark="ruler", bucket=bucket, length=4096, reader=reader, mode="pages",
        config_hash="c" * 16, sample_hash="s", metric="string_match_all", prediction="", answers=["x"],
        score=score, text_tokens=100, prompt_tokens=120, visual_tokens=None if ratio is None else int(100 / ratio),
        ratio=ratio, pages=2, seconds=1.0,
    )  # fmt: skip


def test_summary_numbers_by_hand(tmp_path) -> None:
    results = [
        _result("a1", "A", "4k", 1.0, 2.0),
        _result("a2", "A", "4k", 0.0, 4.0),
        _result("a3", "A", "8k", 1.0, 3.0),
        _result("b1", "B", "4k", 0.5, 5.0),
    ]
    path = tmp_path / RESULTS
    path.write_text(
        "".join(json.dumps(r.__dict__) + "\n" for r in [_result("a3", "A", "8k", 0.0, 3.0), *results])
    )
    (s,) = summarize(load_results([path]))  # the later a3 (score 1) wins over the earlier one
    assert s.by_task == {"A": pytest.approx(2 / 3), "B": 0.5}
    assert s.accuracy == pytest.approx((2 / 3 + 0.5) / 2)  # mean of tasks, not of samples
    assert s.sample_mean == pytest.approx(2.5 / 4)
    assert s.by_bucket == {"4k": pytest.approx((0.5 + 0.5) / 2), "8k": 1.0}  # 4k: A 0.5, B 0.5
    assert s.by_task_bucket == {"A": {"4k": 0.5, "8k": 1.0}, "B": {"4k": 0.5}}
    assert s.ratio_mean == pytest.approx((2 + 4 + 3 + 5) / 4) and s.ratio_max == 5.0
    assert s.ratio_by_bucket == {"4k": pytest.approx(11 / 3), "8k": 3.0}
    assert s.samples_by_bucket == {"4k": 3, "8k": 1}
    md = markdown_report([s], ["x"])
    assert "| A | 66.7 |" in md and "| 4k | 50.0 |" in md and "3.50x" in md and "legibility" not in md


def test_in_memory_evaluate_matches(tiny, cfg) -> None:
    results = evaluate(tiny[:2], resolve_reader("oracle-extract"), cfg)
    assert sorted(r.score for r in results) == [1.0, 1.0]


def test_cli_ruler_resume_and_report(tmp_path) -> None:
    runner = CliRunner()
    args = ["eval", "ruler", "--reader", "oracle", "--lengths", "4k", "--tasks", "niah_single_1,fwe",
            "--samples", "1", "--out", str(tmp_path / "run")]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 samples evaluated, 0 already done" in first.output and "100.0" in first.output
    second = runner.invoke(app, args)
    assert "0 samples evaluated, 2 already done" in second.output
    report = runner.invoke(app, ["eval", "report", str(tmp_path / "run")])
    assert report.exit_code == 0 and (tmp_path / "run" / "report.md").is_file()
    bad = runner.invoke(app, ["eval", "ruler", "--tasks", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown RULER task" in bad.output
