"""The data engine on a local Ray instance (Ray Data over the shards): the same bytes as on a process pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from glyph.train.cpt import load_data_config
from glyph.train.cpt.engine import build_cpt_data

ray = pytest.importorskip("ray")
FAST = {"context": {"max_tokens": 1536}, "render": {"dpi": {"low": {"weight": 1, "range": [48, 72]}}}}


@pytest.mark.slow
def test_ray_builds_the_same_shards_and_resumes(tmp_path: Path) -> None:
    cfg = load_data_config(FAST)
    local = tmp_path / "local"
    build_cpt_data("essays", local, cfg, seed=5, samples=8, shard_size=2, workers=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        out = tmp_path / "ray"
        first = build_cpt_data("essays", out, cfg, seed=5, samples=4, shard_size=2, ray_address="local")
        assert first.shards_built == 2
        summary = build_cpt_data("essays", out, cfg, seed=5, samples=8, shard_size=2, ray_address="local")
        assert summary.shards_skipped == 2 and summary.shards_built == 2  # resumed: two kept, two built
    finally:
        ray.shutdown()
    for k in range(4):
        name = f"cpt-{k:05d}.parquet"
        assert (out / name).read_bytes() == (local / name).read_bytes()
