"""The evaluation runner through the real VLM path: `glyph eval ruler` -> openai reader ->
`glyph serve` on loopback -> render -> tiny random GLM-4.1V -> scored JSONL.

The tiny model's answers are noise, so accuracy is not asserted (nor reported anywhere); what is
asserted is that every sample made the round trip and was accounted for.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glyph.cli import app


def test_eval_ruler_runs_end_to_end_against_glyph_serve(glm_gateway: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "eval", "ruler", "--reader", "openai",
        "--reader-opt", f"base_url={glm_gateway}/v1", "--reader-opt", "model=tiny-glm",
        "--lengths", "1k", "--tasks", "niah_single_1,vt", "--samples", "2", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["task"] for r in rows} == {"niah_single_1", "vt"}
    for row in rows:
        assert row["error"] in (None, ""), row["error"]
        assert row["pages"] >= 1 and row["visual_tokens"] > 0
        assert isinstance(row["prediction"], str)
        assert 0.0 <= row["score"] <= 1.0
        # the server counted the prompt it received: the question as text plus the page images
        assert row["usage"]["prompt_tokens"] > row["visual_tokens"]
    again = CliRunner().invoke(app, args)  # resumable: nothing is asked twice
    assert again.exit_code == 0 and "0 samples evaluated, 4 already done" in again.output
