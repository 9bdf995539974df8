"""benchmarks/efficiency.py end to end: its --base-url mode against ``glyph serve`` on the tiny GLM-4.1V
over loopback, and the GPU script's code path (model built in memory, one process) on CPU.

Expected values: prompt lengths from the chat template rendered by jinja and counted by the
tokenizer plus the real image processor's tokens per page; the requested answer length; the
KV-cache formula worked out by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import expected_prompt_tokens, local_gateway

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "efficiency.py"


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    res = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def expected_text_side(tokenizer: Any, text: str) -> int:
    from glyph.readers.tiny import GLM_TEMPLATE  # noqa: F401  (the template expected_prompt_tokens renders)

    content = [
        {"type": "text", "text": "Request 0123456789abcdef0123456789abcdef.\n\n"},  # the nonce is one word
        {"type": "text", "text": text},
        {"type": "text", "text": "\n\nWhat is the main point of the document above? Answer in one sentence."},
    ]
    return expected_prompt_tokens("glm4v", tokenizer, [{"role": "user", "content": content}])


def expected_pages_side(tokenizer: Any, text: str) -> int:
    from glyph.render import render_pages
    from glyph.render.config import reference_default

    content = [
        {"type": "text", "text": "Request 0123456789abcdef0123456789abcdef.\n\n"},
        *(
            {"type": "image", "image": p.image.convert("RGB")}
            for p in render_pages(text, reference_default())
        ),
        {"type": "text", "text": "\n\nWhat is the main point of the document above? Answer in one sentence."},
    ]
    return expected_prompt_tokens("glm4v", tokenizer, [{"role": "user", "content": content}])


@pytest.mark.parametrize("via_gateway", [False, True], ids=["pages-from-client", "gateway-renders"])
def test_base_url_mode_times_glyph_serve_on_the_tiny_model(
    glm_reader: Any, tiny_glm: Path, tmp_path: Path, via_gateway: bool
) -> None:
    from glyph.data import text_of_tokens

    with local_gateway(glm_reader, tiny_glm) as url:
        args = ["--base-url", url, "--lengths", "300,700", "--repeat", "1", "--decode-tokens", "5",
                "--out-dir", str(tmp_path), "--report-out", str(tmp_path / "report.md"), "--name", "loopback"]  # fmt: skip
        bench(*args, *(["--via-gateway"] if via_gateway else []))
    run = json.loads((tmp_path / "loopback.json").read_text())
    assert run["kind"] == "server" and run["via_gateway"] is via_gateway
    tokenizer = glm_reader.processor.tokenizer
    for row, n in zip(run["rows"], (300, 700), strict=True):
        text = text_of_tokens(n)
        assert row["text"]["prompt_tokens"] == expected_text_side(tokenizer, text)
        assert row["pages"]["prompt_tokens"] == expected_pages_side(tokenizer, text)
        for side in ("text", "pages"):
            assert row[side]["completion_tokens"] == 5  # min_tokens / ignore_eos honoured by glyph serve
            assert row[side]["ttft_s"] > 0 and row[side]["decode_tokens_per_s"] > 0
        assert row["ttft_ratio"] == pytest.approx(row["text"]["ttft_s"] / row["pages"]["ttft_s"])
    report = (tmp_path / "report.md").read_text()
    assert f"server at {url}/v1" in report and "TTFT ratio" in report


def test_gpu_script_runs_its_code_path_on_cpu(tmp_path: Path) -> None:
    """benchmarks/gpu/efficiency_9b.sh itself, with the 9B swapped for the test-size model on CPU."""
    env = {
        **os.environ, "PYTHONPATH": "", "MODEL": "random:glm4v:test", "DEVICE": "cpu", "DTYPE": "fp32",
        "LENGTHS": "256,512", "DECODE": "3", "ATTN": "sdpa", "PYTHON": sys.executable,
    }  # fmt: skip
    res = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu" / "efficiency_9b.sh"), str(tmp_path)],
        check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    run = json.loads((tmp_path / "efficiency" / "glm4v-9b-gpu.json").read_text())
    assert run["setup"]["dims"] == "test" and run["facts"]["device"] == "cpu"
    assert [r["length"] for r in run["rows"]] == [256, 512]
    for row in run["rows"]:
        for side in ("text", "pages"):
            case = row[side]
            assert case["decode_tokens"] == 3 and case["prefill_s"] > 0
            # TEST_DIMS: 1 layer x (K, V) x 1 KV head x 16 wide x 4 bytes per cached token
            assert case["kv_bytes"] == case["kv_formula_bytes"] == 1 * 2 * 1 * 16 * 4 * case["kv_tokens"]
            assert case["kv_tokens"] == case["prompt_tokens"] + 3 - 1
        assert row["pages"]["pages"] >= 1 and 0 < row["pages"]["vision_share"] < 1
        assert row["gateway"]["pages"] == row["pages"]["pages"]
    assert (tmp_path / "efficiency_gpu.md").is_file() and (
        tmp_path / "efficiency_gpu.png"
    ).stat().st_size > 10_000
    assert "MODEL at 128K" in (tmp_path / "efficiency_gpu.md").read_text()
