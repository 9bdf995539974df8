"""The search's LLM proposer against a real endpoint: `glyph serve` on the tiny random GLM-4.1V.

The tiny model's replies are noise, so no proposal can be parsed: the generation must still be
filled by classical offspring, the failure must be logged, and the search must finish.
"""

from __future__ import annotations

import json
from pathlib import Path

from optuna.trial import TrialState

from glyph.search import session
from glyph.search.proposer import LLMSettings
from glyph.search.runner import SearchSettings
from glyph.search.space import SearchSpace

SPACE = SearchSpace.from_dict(
    {
        "extends": "none",
        "constraints": {"min-line-em": 10, "min-lines": 3},
        "knobs": {
            "font-size": {"type": "float", "low": 7, "high": 11, "step": 0.5},
            "line-height": {"type": "float", "low": 7, "high": 14, "step": 0.5},
            "dpi": {"type": "int", "low": 48, "high": 96, "step": 12},
        },
    }
)


def test_search_generation_with_a_garbage_llm_falls_back_to_classical(glm_gateway: str, tmp_path: Path) -> None:
    search = session.start(
        f"sqlite:///{tmp_path / 's.db'}",
        "garbage-llm",
        tmp_path / "out",
        space=SPACE,
        evaluator="synthetic",
        settings=SearchSettings(generations=1, population=4, llm_share=0.5),
        llm=LLMSettings(f"{glm_gateway}/v1", "tiny-glm", timeout=60, max_tokens=16),
        poll_seconds=0.05,
    )
    search.run()
    trials = search.store.trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 8  # generation 0 and generation 1, four configs each
    gen1 = [t for t in trials if t.user_attrs["generation"] == 1]
    assert len(gen1) == 4 and all(t.user_attrs["origin"] in ("mutation", "crossover") for t in gen1)
    log = [json.loads(line) for line in (tmp_path / "out" / "proposals.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "llm-error" for r in log)  # the failure is on record, not silent
