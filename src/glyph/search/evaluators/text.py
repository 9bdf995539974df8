"""The validation text ``ocr-fidelity`` renders: essay prose with hard strings mixed in.

Prose alone hides the failures that matter (the Glyph paper and DeepSeek-OCR both name
UUIDs and codes as what visual compression loses first), so every few sentences a line
with identifiers, numbers, dates, prices and punctuation is inserted. Deterministic for a
given (chars, seed), so the cache keys stay valid across runs.
"""

from __future__ import annotations

import random
import string

_FALLBACK = (
    "The way to get startup ideas is not to try to think of startup ideas. It's to look for problems, "
    "preferably problems you have yourself. The very best startup ideas tend to have three things in "
    "common: they're something the founders themselves want, that they themselves can build, and that "
    "few others realize are worth doing. Why do so many founders build things no one wants? Because "
    "they begin by trying to think of startup ideas. That m.o. is doubly dangerous: it doesn't merely "
    "yield few good ideas; it yields bad ideas that sound plausible enough to fool you into working on them."
)


def _hard_line(rng: random.Random) -> str:
    hexd = "0123456789abcdef"
    uuid = "-".join("".join(rng.choice(hexd) for _ in range(n)) for n in (8, 4, 4, 4, 12))
    code = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))
    date = f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    amount = f"${rng.randint(1, 99_999):,}.{rng.randint(0, 99):02d}"
    return (
        f"Record {uuid} (ref. {code}) was filed on {date} at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}; "
        f"total {amount}, rate {rng.uniform(0, 100):.2f}% [id #{rng.randint(100, 9999)}]."
    )


def validation_text(chars: int = 4000, seed: int = 0, offset: int = 0) -> str:
    """About ``chars`` characters: the bundled Paul Graham essay prose (a built-in
    paragraph if the essays were removed), from the first paragraph at or after character
    ``offset`` (other text for a held-out split), with a hard line after every fourth sentence."""
    try:
        from glyph.data.essays import demo_text

        prose = demo_text(max_chars=offset + max(chars * 2, 2000), repeat_to=offset + max(chars * 2, 2000))
        if offset:
            start = prose.find("\n\n", offset)
            prose = prose[start + 2:] if start >= 0 else prose[offset:]
    except FileNotFoundError:
        prose = " ".join([_FALLBACK] * (chars // len(_FALLBACK) + 2))
    rng = random.Random(seed)
    sentences = prose.replace("\n\n", " \n\n").split(". ")
    out: list[str] = []
    size = 0
    for i, sentence in enumerate(sentences):
        piece = sentence.strip(" ") + ". "
        if i % 4 == 3:
            piece += _hard_line(rng) + " "
        out.append(piece)
        size += len(piece)
        if size >= chars:
            break
    return "".join(out)[:chars].rstrip()
