"""A synthetic agent conversation built from the bundled essays: what the gateway's policy is measured on.

Turn ``t`` is a user request quoting a passage, an assistant reply (a later passage), and every
``tool_every`` turns an assistant tool call with a long tool result (a whole essay section), the
shape of a coding or research agent's trace. Deterministic for a seed, so benchmark runs and
tests replay the same conversation; every message carries a unique marker (``[turn 7]``) so a
reader can check which turn it found.
"""

from __future__ import annotations

import random
from typing import Any

from glyph.data.essays import demo_text

__all__ = ["synthetic_conversation"]


def synthetic_conversation(
    turns: int = 100, *, seed: int = 0, tool_every: int = 5, system: str | None = None
) -> list[dict[str, Any]]:
    """``turns`` user/assistant exchanges (plus tool calls and results), OpenAI chat format."""
    text = demo_text()
    rng = random.Random(seed)

    def passage(lo: int, hi: int) -> str:
        n = rng.randrange(lo, hi)
        start = rng.randrange(0, len(text) - n)
        return " ".join(text[start : start + n].split())

    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    for t in range(1, turns + 1):
        messages.append({"role": "user", "content": f"[turn {t}] Explain this passage: {passage(150, 900)}"})
        if tool_every and t % tool_every == 0:
            call_id = f"call_{t}"
            messages.append({
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function",
                                "function": {"name": "search_essays", "arguments": f'{{"query": "turn {t}"}}'}}],
            })  # fmt: skip
            messages.append({"role": "tool", "tool_call_id": call_id, "content": f"[turn {t} result] {passage(3000, 9000)}"})
        messages.append({"role": "assistant", "content": f"[turn {t} reply] {passage(400, 2500)}"})
    return messages
