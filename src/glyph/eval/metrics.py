"""The benchmarks' official metrics, one function each, and a name -> function registry.

* RULER: ``string_match_all`` (fraction of the references found in the prediction,
  case-insensitive) and ``string_match_part`` (1 if any is found). Per sample in [0, 1];
  RULER's task score is the mean x 100.
* LongBench (its ``metrics.py``): ``qa_f1`` (SQuAD normalisation: lowercase, drop
  punctuation and the articles a/an/the, split on whitespace; token F1), ``qa_f1_zh``,
  ``rouge`` / ``rouge_zh`` (ROUGE-L F as the ``rouge`` package computes it, LCS via rapidfuzz),
  ``classification``, ``retrieval`` / ``retrieval_zh``, ``count``, ``code_sim`` (difflib ratio of
  the first code line, as fuzzywuzzy computes it).
  A sample's score is the max over its reference answers, after LongBench's first-line rule
  for trec, triviaqa, samsum and lsht.
* MRCR: the answer must start with the sample's random prefix; then the difflib
  ``SequenceMatcher`` ratio of the rest against the reference (rest).

Chinese word segmentation uses ``jieba`` as LongBench does when it is installed; without it
Chinese text is split into characters (and Latin/digit runs), which only approximates the
official zh scores: :func:`zh_tokenizer_name` says which one ran.
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rapidfuzz.distance import LCSseq

Metric = Callable[..., float]

# ----------------------------------------------------------------------------- RULER


def string_match_all(prediction: str, answers: Sequence[str], **_: Any) -> float:
    """Fraction of the references that occur in the prediction (case-insensitive)."""
    if not answers:
        return 0.0
    pred = prediction.lower()
    return sum(1.0 for a in answers if a.lower() in pred) / len(answers)


def string_match_part(prediction: str, answers: Sequence[str], **_: Any) -> float:
    """1.0 if any reference occurs in the prediction (case-insensitive), else 0.0."""
    pred = prediction.lower()
    return 1.0 if any(a.lower() in pred for a in answers) else 0.0


# ----------------------------------------------------------------------------- normalisation

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)
_ZH_PUNCT = frozenset(
    string.punctuation
    + "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
)


def normalize_answer(text: str) -> str:
    """SQuAD/LongBench: lowercase, drop punctuation, drop articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh_answer(text: str) -> str:
    """LongBench's Chinese normalisation: lowercase, drop (CJK and ASCII) punctuation and all whitespace."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCT).split())


@functools.cache
def _jieba() -> Any:
    try:
        import jieba

        jieba.setLogLevel(60)
        return jieba
    except ImportError:
        return None


def zh_tokenizer_name() -> str:
    """``"jieba"`` (official) or ``"chars"`` (the fallback when jieba is not installed)."""
    return "jieba" if _jieba() is not None else "chars"


_ZH_PIECES = re.compile(r"[A-Za-z0-9]+|\s+|.", re.DOTALL)


def zh_words(text: str) -> list[str]:
    """Chinese word segmentation: jieba's precise mode, or characters and Latin/digit runs."""
    jb = _jieba()
    if jb is not None:
        return list(jb.cut(text, cut_all=False))
    return _ZH_PIECES.findall(text)


# ----------------------------------------------------------------------------- LongBench


def _token_f1(prediction: Sequence[str], truth: Sequence[str]) -> float:
    same = sum((Counter(prediction) & Counter(truth)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def qa_f1(prediction: str, truth: str, **_: Any) -> float:
    """Token F1 after SQuAD normalisation."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(truth).split())


def qa_f1_zh(prediction: str, truth: str, **_: Any) -> float:
    """Token F1 over segmented Chinese words, each normalised, empties dropped."""
    pred = [t for t in (normalize_zh_answer(w) for w in zh_words(prediction)) if t]
    ref = [t for t in (normalize_zh_answer(w) for w in zh_words(truth)) if t]
    return _token_f1(pred, ref)


def _sentences(text: str) -> list[list[str]]:
    """The ``rouge`` package's split: sentences at every '.', words at single spaces."""
    return [" ".join(s.split()).split(" ") for s in text.split(".") if len(s) > 0]


def _lcs_words(ref: list[str], pred: list[str]) -> set[str]:
    """The words of the longest common subsequence the ``rouge`` package reconstructs.

    Equally long LCSs can hold different words, and the score counts words, so the package's
    backtracking is followed: match when the last words agree, else drop the last reference
    word only if that keeps a strictly longer LCS, else the last prediction word. Prefix LCS
    lengths come from rapidfuzz.
    """
    out: set[str] = set()
    i, j = len(ref), len(pred)
    while i and j:
        if ref[i - 1] == pred[j - 1]:
            out.add(ref[i - 1])
            i, j = i - 1, j - 1
        elif LCSseq.similarity(ref[: i - 1], pred[:j]) > LCSseq.similarity(ref[:i], pred[: j - 1]):
            i -= 1
        else:
            j -= 1
    return out


def rouge(prediction: str, truth: str, **_: Any) -> float:
    """ROUGE-L F as LongBench gets it from the ``rouge`` package (summary-level, set-based).

    That package splits both texts into sentences at '.', takes for every (reference,
    prediction) sentence pair the words of their longest common subsequence, and scores the
    number of distinct such words against the numbers of distinct words on each side:
    R = |union| / |ref words|, P = |union| / |pred words|, F = 2PR / (P + R). An empty side
    scores 0 (the package raises and LongBench catches it).
    """
    pred, ref = _sentences(prediction), _sentences(truth)
    if not pred or not ref:
        return 0.0
    union: set[str] = set()
    for r in ref:
        for p in pred:
            union |= _lcs_words(r, p)
    m = len({w for s in ref for w in s})
    n = len({w for s in pred for w in s})
    r_lcs, p_lcs = len(union) / m, len(union) / n
    return 2.0 * (p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8)


def rouge_zh(prediction: str, truth: str, **_: Any) -> float:
    """ROUGE-L over segmented Chinese words (joined by spaces, as LongBench does)."""
    return rouge(" ".join(zh_words(prediction)), " ".join(zh_words(truth)))


def classification(
    prediction: str, truth: str, *, all_classes: Sequence[str] | None = None, **_: Any
) -> float:
    """1/k if the right class is among the k class names found in the prediction, else 0.

    A found name that is part of the right class name (and not equal to it) is dropped, in
    the official loop's way: it removes while iterating, so the name after a dropped one is
    not examined.
    """
    found = [c for c in (all_classes or []) if c in prediction]
    i = 0
    while i < len(found):
        if found[i] in truth and found[i] != truth:
            found.pop(i)
        i += 1
    return 1.0 / len(found) if truth in found else 0.0


def _share_of_numbers(prediction: str, wanted: str) -> float:
    numbers = re.findall(r"\d+", prediction)
    return sum(1 for n in numbers if n == wanted) / len(numbers) if numbers else 0.0


def retrieval(prediction: str, truth: str, **_: Any) -> float:
    """Share of the numbers in the prediction that are the right paragraph ('Paragraph N')."""
    m = re.search(r"Paragraph (\d+)", truth)
    return _share_of_numbers(prediction, m.group(1)) if m else 0.0


def retrieval_zh(prediction: str, truth: str, **_: Any) -> float:
    """As :func:`retrieval`, for '段落N'."""
    m = re.search(r"段落(\d+)", truth)
    return _share_of_numbers(prediction, m.group(1)) if m else 0.0


def count(prediction: str, truth: str, **_: Any) -> float:
    """Share of the numbers in the prediction that equal the right count."""
    return _share_of_numbers(prediction, str(truth))


def code_sim(prediction: str, truth: str, **_: Any) -> float:
    """Similarity (0..1, whole percent) of the first line that looks like code, as LongBench scores it.

    Lines with a backtick, '#' or '//' are skipped (markdown fences, comments). LongBench calls
    fuzzywuzzy's ``fuzz.ratio``, which (with LongBench's requirements, i.e. without
    python-Levenshtein) is ``round(100 * difflib.SequenceMatcher(None, a, b).ratio())``; so this
    is too. (rapidfuzz's ``fuzz.ratio`` is the python-Levenshtein variant and can differ.)
    """
    line = next(
        (ln for ln in prediction.lstrip("\n").split("\n") if not any(m in ln for m in ("`", "#", "//"))), ""
    )
    if line == truth:
        return 1.0
    if not line or not truth:
        return 0.0
    return round(100 * difflib.SequenceMatcher(None, line, truth).ratio()) / 100


# ----------------------------------------------------------------------------- MRCR


def mrcr(prediction: str, truth: str, *, random_string_to_prepend: str = "", **_: Any) -> float:
    """0 unless the prediction starts with the prefix; then SequenceMatcher ratio of the rests."""
    if not prediction.startswith(random_string_to_prepend):
        return 0.0
    rest = prediction.removeprefix(random_string_to_prepend)
    ref = truth.removeprefix(random_string_to_prepend)
    return float(difflib.SequenceMatcher(None, rest, ref).ratio())


# ----------------------------------------------------------------------------- registry

#: metrics that score a prediction against all references at once
LIST_METRICS: dict[str, Metric] = {
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
}
#: metrics that score against one reference; a sample takes the max over its references
PAIR_METRICS: dict[str, Metric] = {
    "qa_f1": qa_f1,
    "qa_f1_zh": qa_f1_zh,
    "rouge": rouge,
    "rouge_zh": rouge_zh,
    "classification": classification,
    "retrieval": retrieval,
    "retrieval_zh": retrieval_zh,
    "count": count,
    "code_sim": code_sim,
    "mrcr": mrcr,
}
METRICS: dict[str, Metric] = {**LIST_METRICS, **PAIR_METRICS}

#: LongBench tasks whose prediction is cut to its first line before scoring
FIRST_LINE_TASKS = frozenset({"trec", "triviaqa", "samsum", "lsht"})


def score(metric: str, prediction: str, answers: Sequence[str], *, task: str = "", **kwargs: Any) -> float:
    """A sample's score in [0, 1] under ``metric`` (extra keywords: all_classes, random_string_to_prepend)."""
    if metric in LIST_METRICS:
        return LIST_METRICS[metric](prediction, answers)
    try:
        fn = PAIR_METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}") from None
    if task.removesuffix("_e") in FIRST_LINE_TASKS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    return max((fn(prediction, truth, **kwargs) for truth in answers), default=0.0)
