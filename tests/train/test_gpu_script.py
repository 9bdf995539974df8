"""benchmarks/gpu/cpt_steps.py runs on CPU with a tiny checkpoint (the GPU run is the same script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu" / "cpt_steps.py"


@pytest.mark.slow
def test_cpt_steps_reports_throughput_and_memory(tiny_glm: Path, tmp_path: Path) -> None:
    out = tmp_path / "steps.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(tiny_glm), "--context", "1024", "--steps", "2",
         "--warmup", "1", "--lora", "4", "--out", str(out)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["timed_steps"] == 2 and report["context"] == 1024
    assert report["tokens_per_second"] > 0 and report["peak_memory_gib"] > 0
    assert 0 < report["tokens_per_step"] <= 1024 * 1.1 and report["visual_tokens_per_step"] > 0
    assert len(report["losses"]) == 3
