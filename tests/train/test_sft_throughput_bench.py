"""benchmarks/sft_throughput.py: its model builder gives the tiny builder's architecture, and the prepared GPU
script (9B at 32K) runs end to end on CPU with a tiny model."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("sft_throughput", ROOT / "benchmarks" / "sft_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("arch", ["glm4v", "qwen2.5vl"])
def test_resized_config_is_the_tiny_builders_architecture(arch: str, tmp_path: Path) -> None:
    import torch
    from transformers import AutoConfig

    from glyph.readers.tiny import BENCH_DIMS, save_tiny_vlm

    bench = _bench()
    model, processor, _ = bench.build_model(arch, "bench", "cpu", torch.float32, tmp_path / "a")
    reference = AutoConfig.from_pretrained(
        save_tiny_vlm(arch, tmp_path / "b", dims=BENCH_DIMS, tokenizer="qwen")
    )
    for part in ("text_config", "vision_config"):
        ours, theirs = getattr(model.config, part).to_dict(), getattr(reference, part).to_dict()
        diff = {
            k: (ours.get(k), v)
            for k, v in theirs.items()
            if ours.get(k) != v and k not in ("dtype", "torch_dtype")
        }
        assert not diff, (part, diff)
    with torch.device("meta"):
        ref_params = sum(p.numel() for p in type(model)(reference).parameters())
    assert sum(p.numel() for p in model.parameters()) == ref_params
    assert processor.tokenizer.convert_tokens_to_ids(processor.image_token) == model.config.image_token_id


@pytest.mark.slow
def test_the_gpu_script_runs_on_cpu_with_a_tiny_model(tmp_path: Path) -> None:
    env = {**os.environ, "DIMS": "test", "DEVICE": "cpu", "LENGTHS": "512", "REPEAT": "1", "OUT": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu" / "sft_throughput_9b.sh")], env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "sft_throughput_9b.json").read_text())
    row = report["rows"][0]
    assert row["length"] == 512 and row["pages"]["pages"] >= 1
    assert row["text"]["tokens"] > row["pages"]["tokens"] and row["ratio"] > 0
    assert "| 512 |" in (tmp_path / "sft_throughput_9b.md").read_text()
