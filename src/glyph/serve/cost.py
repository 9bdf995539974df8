"""What the gateway itself costs per request, before anything is forwarded upstream.

Users deciding whether to put ``glyph serve`` in front of a model compare this with the
model's prefill (``benchmarks/efficiency.py`` does); it is measured through the gateway's own
planner, so it is what ``glyph serve`` does, not a re-implementation.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

__all__ = ["gateway_cost"]


def gateway_cost(
    text: str, cfg: Any, question: str, *, repeat: int = 3, vlm: str = "glm4v"
) -> dict[str, Any]:
    """What ``glyph serve --upstream`` spends on one request before forwarding it, on this CPU.

    Builds the gateway exactly as ``glyph serve`` does (``create_app``; its page cache off, so
    every request renders) and times its planner on a request whose document part is marked for
    rendering: token counting, layout, raster, PNG encoding and base64, then the JSON encoding of
    the body that goes upstream. Rendering alone is timed too, so encoding's share shows.
    Medians of ``repeat`` runs, wall and process CPU seconds.
    """
    from glyph.render.raster import render_pages
    from glyph.serve import ServeSettings, create_app
    from glyph.serve.documents import PlanOptions

    settings = ServeSettings(
        upstream="http://127.0.0.1:9/v1",  # never contacted: only the planner runs
        render_config=cfg,
        vlm=vlm,
        cache_bytes=0,
        max_pages=1_000_000,
        max_context_tokens=1 << 40,
    )
    planner = create_app(settings).state.glyph.planner
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text, "glyph": {"render": True}},
                {"type": "text", "text": question},
            ],
        }
    ]
    runs: dict[str, list[tuple[float, float]]] = {"plan": [], "forward_json": [], "render": []}
    plan = None
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        plan = planner.plan(messages, cfg, PlanOptions(threshold=settings.render_threshold_tokens))
        runs["plan"].append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        body = json.dumps({"model": "m", "messages": plan.messages, "stream": True})
        runs["forward_json"].append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()
        for _page in render_pages(text, cfg):
            pass
        runs["render"].append((time.perf_counter() - wall, time.process_time() - cpu))
    assert plan is not None
    out: dict[str, Any] = {
        "pages": plan.stats.pages,
        "visual_tokens": plan.stats.visual_tokens,
        "text_tokens": plan.stats.text_tokens,
        "forward_bytes": len(body),
    }
    for name, samples in runs.items():
        out[f"{name}_s"] = float(np.median([w for w, _ in samples]))
        out[f"{name}_cpu_s"] = float(np.median([c for _, c in samples]))
    out["request_s"] = out["plan_s"] + out["forward_json_s"]
    out["request_cpu_s"] = out["plan_cpu_s"] + out["forward_json_cpu_s"]
    return out
