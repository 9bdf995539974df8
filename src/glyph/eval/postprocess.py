"""Prediction clean-up before scoring, as each benchmark's official evaluation does it.

* ``ruler`` (NVIDIA/RULER ``scripts/eval/evaluate.py``): strip, turn every control character
  (U+0000..U+001F) into a newline, strip again. Applied to every RULER sample.
* ``glyph-ruler`` (thu-coai/Glyph ``evaluation/ruler/scripts/post_api_ruler.py``): a trailing
  ``<|user|>`` stop token is cut off first, then RULER's clean-up.
* ``glyph-longbench`` (Glyph ``evaluation/longbench/scripts/clear_pred.py``): drop
  ``<think>...</think>`` blocks and ``<|...|>`` tags, collapse all whitespace to single spaces.
* ``glyph-mrcr`` (Glyph ``evaluation/mrcr/scripts/post_api_mrcr.py``): keep what follows the
  last ``</think>``, strip; ``<|user|>`` is removed from the reply after the prefix.

The raw prediction is what a result records; only the score sees the cleaned text. A
sample names its clean-up in ``metadata['postprocess']`` (RULER samples get ``ruler`` by
default), so the choice travels with the data it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CONTROL = re.compile(r"[\x00-\x1f]")
_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_TAG = re.compile(r"<\|[^|]+\|>")
_SPACE = re.compile(r"\s+")


def ruler_postprocess(prediction: str) -> str:
    """RULER's ``postprocess_pred``: strip, control characters to newlines, strip."""
    return _CONTROL.sub("\n", prediction.strip()).strip()


def glyph_ruler_postprocess(prediction: str) -> str:
    """Glyph's RULER script: cut a trailing ``<|user|>`` (then RULER's clean-up)."""
    if prediction.endswith("<|user|>"):
        prediction = prediction[: -len("<|user|>")].rstrip()
    return ruler_postprocess(prediction)


def glyph_longbench_postprocess(prediction: str) -> str:
    """Glyph's ``clear_pred.py``: no think blocks, no ``<|...|>`` tags, whitespace collapsed."""
    text = _TAG.sub("", _THINK.sub("", prediction))
    return _SPACE.sub(" ", text).strip()


def glyph_mrcr_postprocess(prediction: str) -> str:
    """Glyph's MRCR script: the text after the last ``</think>`` (stripped), ``<|user|>`` removed.

    Glyph removes ``<|user|>`` only from the part after the random prefix; removing it from
    the whole reply is the same unless the prefix itself contains it (it never does: the
    prefixes are 10 alphanumeric characters).
    """
    text = prediction.split("</think>")[-1].strip()
    return text.replace("<|user|>", "")


POSTPROCESS: dict[str, Callable[[str], str]] = {
    "ruler": ruler_postprocess,
    "glyph-ruler": glyph_ruler_postprocess,
    "glyph-longbench": glyph_longbench_postprocess,
    "glyph-mrcr": glyph_mrcr_postprocess,
}


def postprocess_name(benchmark: str, metadata: dict[str, object]) -> str | None:
    """The clean-up a sample gets: its own ``metadata['postprocess']``, else RULER's for RULER."""
    name = metadata.get("postprocess")
    if isinstance(name, str):
        return name
    return "ruler" if benchmark == "ruler" else None


def clean_prediction(prediction: str, name: str | None) -> str:
    """``prediction`` after the named clean-up (unchanged for ``None``)."""
    if name is None:
        return prediction
    try:
        return POSTPROCESS[name](prediction)
    except KeyError:
        raise ValueError(f"unknown prediction clean-up {name!r}; known: {', '.join(POSTPROCESS)}") from None
