"""RULER's synthetic tasks (Hsieh et al., 2024), generated from the published task definitions.

This is glyph's built-in, offline generator (reports name it so): thirteen tasks, eight
needle-in-a-haystack variants (``niah_*``), variable tracking (``vt``), common-words
extraction (``cwe``), frequent-words extraction (``fwe``) and the two QA tasks (``qa_1`` on
SQuAD, ``qa_2`` on HotpotQA, from the user's files or the hub: :mod:`.ruler_qa`), with
RULER's parameters (haystack kind, key/value kinds, numbers of keys, values and queries,
chain hops, word frequencies, Zipf exponent). Code and wording are ours; wording lives in
prompts.yaml. Data made by RULER's own scripts loads with :mod:`.ruler_data` instead.

Like RULER, each sample is sized so that the whole text prompt plus the tokens the answer
may take fits the target length, counted with the project's tokenizer (Qwen by default).
Every sample is a pure function of (seed, task, length, index): the same seed gives the same
sample. The haystack is the context (rendered); instruction, few-shot examples and question
stay text.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from glyph.eval.haystack import DEPTHS, NOISE, essay_sentences, fit_size, insert_at_depths
from glyph.eval.prompts import Prompts, fill, load_prompts
from glyph.eval.ruler_qa import QaCorpus, load_qa_corpus, qa_haystack
from glyph.eval.sample import Sample, length_label
from glyph.eval.words import coded_words, random_key_word, word_pool
from glyph.tokens import TextTokenizer, get_tokenizer

Kind = Literal["numbers", "words", "uuids"]


@dataclass(frozen=True)
class NiahSpec:
    haystack: Literal["essay", "noise", "needle"]  # "needle": the haystack is distractor needles
    key_kind: Kind = "words"
    value_kind: Kind = "numbers"
    keys: int = 1  # needles with different keys (distractors unless queried)
    values: int = 1  # needles (values) per key
    queries: int = 1  # keys asked about
    family: str = "niah"
    answer_tokens: int = 128


@dataclass(frozen=True)
class VtSpec:
    haystack: Literal["essay", "noise"] = "noise"
    chains: int = 1
    hops: int = 4
    few_shot: bool = True
    family: str = "vt"
    answer_tokens: int = 30


@dataclass(frozen=True)
class CweSpec:
    freq_common: int = 30  # repeats of each common word (RULER: 6 below 4K)
    freq_rare: int = 3  # repeats of each other word (RULER: 1 below 4K)
    common: int = 10
    few_shot: bool = True
    family: str = "cwe"
    answer_tokens: int = 120


@dataclass(frozen=True)
class FweSpec:
    alpha: float = 2.0  # Zipf exponent of the word counts
    top: int = 3
    word_len: int = 6
    family: str = "fwe"
    answer_tokens: int = 50


@dataclass(frozen=True)
class QaSpec:
    dataset: Literal["squad", "hotpotqa"] = "squad"
    corpus: QaCorpus | None = None  # set from the user's data before generating
    pick: int = 0  # which question: the pick-th of a seeded permutation of the corpus's questions
    seed: int = 0
    family: str = "qa"
    answer_tokens: int = 32
    metric: str = "string_match_part"  # RULER scores QA as "any reference found"


Spec = NiahSpec | VtSpec | CweSpec | FweSpec | QaSpec

#: RULER's task table (its synthetic.yaml, minus the QA tasks that need SQuAD/HotpotQA).
RULER_TASKS: dict[str, Spec] = {
    "niah_single_1": NiahSpec("noise", "words", "numbers"),
    "niah_single_2": NiahSpec("essay", "words", "numbers"),
    "niah_single_3": NiahSpec("essay", "words", "uuids"),
    "niah_multikey_1": NiahSpec("essay", "words", "numbers", keys=4),
    "niah_multikey_2": NiahSpec("needle", "words", "numbers"),
    "niah_multikey_3": NiahSpec("needle", "uuids", "uuids"),
    "niah_multivalue": NiahSpec("essay", "words", "numbers", values=4),
    "niah_multiquery": NiahSpec("essay", "words", "numbers", keys=4, queries=4),
    "vt": VtSpec(),
    "cwe": CweSpec(),
    "fwe": FweSpec(),
}

#: RULER's QA tasks: they need SQuAD / HotpotQA data (``qa_data`` of :func:`generate_ruler`).
QA_TASKS: dict[str, QaSpec] = {"qa_1": QaSpec("squad"), "qa_2": QaSpec("hotpotqa")}

#: RULER's standard lengths: 4K to 128K in the paper, 1M for the long end.
RULER_LENGTHS = tuple(4096 * 2**i for i in range(9))  # 4k .. 1m


@dataclass
class Built:
    """What a task builder returns for one haystack size."""

    instruction: str
    context: str
    question: str
    answers: list[str]
    query: dict[str, Any]
    extra: dict[str, Any]


# ----------------------------------------------------------------------------- values


def random_value(kind: Kind, rng: random.Random) -> str:
    """A needle key or value: a 7-digit number, an adjective-noun pair, or a UUID (v4)."""
    if kind == "numbers":
        return str(rng.randint(1_000_000, 9_999_999))
    if kind == "words":
        return random_key_word(rng)
    if kind == "uuids":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    raise ValueError(f"unknown value kind {kind!r} (numbers, words, uuids)")


def _distinct(kind: Kind, count: int, rng: random.Random, exclude: Iterable[str] = ()) -> list[str]:
    seen = set(exclude)
    out: list[str] = []
    while len(out) < count:
        value = random_value(kind, rng)
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _join_keys(keys: Sequence[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    if len(keys) == 2:
        return f"{keys[0]} and {keys[1]}"
    return ", ".join(keys[:-1]) + ", and " + keys[-1]


def _depths(rng: random.Random, count: int) -> list[float]:
    """RULER's depths: distinct points of 40 evenly spaced ones; uniform beyond 40 items."""
    if count <= len(DEPTHS):
        return [d / 100 for d in rng.sample(DEPTHS, count)]
    return [rng.random() for _ in range(count)]


# ----------------------------------------------------------------------------- builders


def _niah(spec: NiahSpec, seed: str, n: int, prompts: Prompts, length: int) -> Built:
    p = prompts["ruler"]["niah"]
    one, many = prompts["ruler"]["kinds"][spec.value_kind]
    rng = random.Random(seed)
    n_keys = max(spec.keys, spec.queries)
    keys = _distinct(spec.key_kind, n_keys, rng)
    values = [_distinct(spec.value_kind, spec.values, rng) for _ in keys]
    needles = [fill(p["needle"], kind=one, key=k, value=v) for k, vs in zip(keys, values) for v in vs]
    rng.shuffle(needles)
    asked = rng.sample(range(n_keys), spec.queries)
    depths = _depths(rng, len(needles))
    if spec.haystack == "essay":
        context = " ".join(insert_at_depths(essay_sentences(n), needles, depths))
    elif spec.haystack == "noise":
        context = "\n".join(insert_at_depths([NOISE] * n, needles, depths))
    else:  # distractor needles, drawn from their own stream so size n is a prefix of size n+1
        hay_rng = random.Random(seed + ":haystack")
        real = set(keys)  # distractors may repeat one another, never a real key
        distractors: list[str] = []
        while len(distractors) < n:
            key = random_value(spec.key_kind, hay_rng)
            if key not in real:
                distractors.append(
                    fill(p["needle"], kind=one, key=key, value=random_value(spec.value_kind, hay_rng))
                )
        context = "\n".join(insert_at_depths(distractors, needles, depths))
    queries = [keys[i] for i in asked]
    answers = [v for i in asked for v in values[i]]
    single = len(answers) == 1
    words = {"kind": one, "kinds": many, "query": _join_keys(queries)}
    return Built(
        instruction=fill(p["instruction_one" if single else "instruction_many"], **words),
        context=context,
        question=fill(p["question_one" if single else "question_many"], **words),
        answers=answers,
        query={"keys": queries, "kind": spec.value_kind, "per_key": spec.values},
        extra={"depths": sorted(depths), "needles": len(needles)},
    )


def _var_name(rng: random.Random) -> str:
    return "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=5))


def _vt_core(spec: VtSpec, seed: str, n: int) -> tuple[str, list[list[str]], list[str]]:
    """Context, chains' variable names, chains' values."""
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < spec.chains * (spec.hops + 1):
        name = _var_name(rng)
        if name not in names:
            names.append(name)
    values: list[str] = []
    while len(values) < spec.chains:
        value = str(rng.randint(10_000, 99_999))
        if value not in values:
            values.append(value)
    chains = [names[c * (spec.hops + 1) : (c + 1) * (spec.hops + 1)] for c in range(spec.chains)]
    lines: list[str] = []
    depths: list[float] = []
    for chain, value in zip(chains, values):
        lines.append(f"VAR {chain[0]} = {value}")
        lines.extend(f"VAR {chain[j + 1]} = VAR {chain[j]}" for j in range(spec.hops))
        depths.extend(sorted(rng.random() for _ in chain))  # sorted: assignments stay in order
    if spec.haystack == "essay":
        context = " ".join(insert_at_depths(essay_sentences(n), [f"{line}." for line in lines], depths))
    else:
        context = "\n".join(insert_at_depths([NOISE] * n, lines, depths))
    return context, chains, values


def _example_block(prompts: Prompts, instruction: str, context: str, question: str, answer: str) -> str:
    r = prompts["ruler"]
    return "\n\n".join([r["example_intro"], instruction, context, question, answer, r["task_intro"]])


def _vt(spec: VtSpec, seed: str, n: int, prompts: Prompts, length: int) -> Built:
    p = prompts["ruler"]["vt"]
    context, chains, values = _vt_core(spec, seed, n)
    instruction = p["instruction"]
    if spec.few_shot:  # a small worked example in text (never rendered), as RULER adds one
        ex_context, ex_chains, ex_values = _vt_core(spec, seed + ":example", 10)
        ex_q = fill(p["question"], value=ex_values[0], count=spec.hops + 1)
        ex_a = fill(p["example_answer"], value=ex_values[0], names=" ".join(ex_chains[0]))
        instruction = (
            _example_block(prompts, p["instruction"], ex_context, ex_q, ex_a) + "\n\n" + p["instruction"]
        )
    return Built(
        instruction=instruction,
        context=context,
        question=fill(p["question"], value=values[0], count=spec.hops + 1),
        answers=list(chains[0]),
        query={"value": values[0], "count": spec.hops + 1},
        extra={"chains": spec.chains, "hops": spec.hops},
    )


def _cwe_list(n: int, rng: random.Random, common: int, freq_c: int, freq_r: int) -> tuple[str, list[str]]:
    words = word_pool(max(n, common + 1), rng)
    top, rest = words[:common], words[common:]
    listing = top * freq_c + rest * freq_r
    rng.shuffle(listing)
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(listing)), top


def _cwe(spec: CweSpec, seed: str, n: int, prompts: Prompts, length: int) -> Built:
    p = prompts["ruler"]["cwe"]
    short = length < 4096  # RULER's lighter repetition for short contexts
    freq_c, freq_r = (6, 1) if short else (spec.freq_common, spec.freq_rare)
    context, top = _cwe_list(n, random.Random(seed), spec.common, freq_c, freq_r)
    question = fill(p["question"], top=spec.common)
    instruction = p["instruction"]
    if spec.few_shot:
        ex_size, ex_c, ex_r = (20, 3, 1) if short else (40, 10, 3)
        ex_context, ex_top = _cwe_list(ex_size, random.Random(seed + ":example"), spec.common, ex_c, ex_r)
        ex_a = fill(p["example_answer"], top=spec.common, names=", ".join(ex_top))
        instruction = (
            _example_block(prompts, p["instruction"], ex_context, question, ex_a) + "\n\n" + p["instruction"]
        )
    return Built(
        instruction=instruction,
        context=context,
        question=question,
        answers=top,
        query={"top": spec.common},
        extra={"distinct_words": max(n, spec.common + 1), "freq_common": freq_c, "freq_rare": freq_r},
    )


def zeta(alpha: float, terms: int = 1000) -> float:
    """Riemann zeta for alpha > 1 (partial sum plus Euler-Maclaurin tail; ~1e-12 accurate)."""
    if alpha <= 1:
        raise ValueError("zeta needs alpha > 1")
    head = sum(k**-alpha for k in range(1, terms))
    n = float(terms)
    return head + n ** (1 - alpha) / (alpha - 1) + n**-alpha / 2 + alpha * n ** (-alpha - 1) / 12


def _fwe(spec: FweSpec, seed: str, n: int, prompts: Prompts, length: int) -> Built:
    p = prompts["ruler"]["fwe"]
    rng = random.Random(seed)
    vocab_size = max(length // 50, spec.top + 2)  # RULER: max_seq_length // 50 coded words
    vocab = coded_words(vocab_size, rng, spec.word_len)
    vocab[0] = "..."  # the most frequent "word" is noise the question says to ignore
    z = zeta(spec.alpha)
    counts = [int(n * k**-spec.alpha / z) for k in range(1, vocab_size + 1)]
    stream = [w for w, c in zip(vocab, counts) for _ in range(c)]
    random.Random(seed + ":order").shuffle(stream)
    return Built(
        instruction=p["instruction"],
        context=" ".join(stream),
        question=fill(p["question"], top=spec.top),
        answers=vocab[1 : 1 + spec.top],
        query={"top": spec.top, "ignore": "..."},
        extra={"counts": counts[: spec.top + 2], "vocab": vocab_size},
    )


@functools.cache
def _question_order(corpus: QaCorpus, seed: int) -> tuple[int, ...]:
    order = list(range(len(corpus.items)))
    random.Random(f"glyph-ruler-qa:{seed}:{corpus.dataset}").shuffle(order)
    return tuple(order)


def _qa(spec: QaSpec, seed: str, n: int, prompts: Prompts, length: int) -> Built:
    if spec.corpus is None:
        raise ValueError(f"RULER's {spec.dataset} QA task needs its data (qa_data={{'{spec.dataset}': PATH or 'hub'}})")
    p = prompts["ruler"]["qa"]
    order = _question_order(spec.corpus, spec.seed)
    item = spec.corpus.items[order[spec.pick % len(order)]]
    return Built(
        instruction=p["instruction"],
        context=qa_haystack(spec.corpus, item, n, seed),
        question=fill(p["question"], query=item.query),
        answers=list(item.answers),
        query={},
        extra={"documents": max(n, len(item.gold)), "qa_dataset": spec.dataset, "qa_source": spec.corpus.source},
    )


_BUILDERS: dict[type, Callable[..., Built]] = {
    NiahSpec: _niah, VtSpec: _vt, CweSpec: _cwe, FweSpec: _fwe, QaSpec: _qa,
}  # fmt: skip

# smallest haystack size per builder: the unit is a word (essay, cwe, fwe), a line (noise,
# needle) or a document (qa)
_MIN_SIZE: dict[type, int] = {NiahSpec: 1, VtSpec: 1, CweSpec: 1, FweSpec: 20, QaSpec: 1}


# ----------------------------------------------------------------------------- public API


def _assemble(built: Built) -> str:
    return "\n\n".join(part for part in (built.instruction, built.context, built.question) if part)


def generate_sample(
    task: str,
    length: int,
    index: int = 0,
    seed: int = 0,
    tokenizer: TextTokenizer | str = "qwen",
    prompts: Prompts | None = None,
    spec: Spec | None = None,
) -> Sample:
    """One RULER sample whose text prompt plus answer budget fits ``length`` tokens."""
    spec = spec or RULER_TASKS.get(task) or QA_TASKS.get(task)
    if spec is None:
        raise ValueError(f"unknown RULER task {task!r}; known: {', '.join([*RULER_TASKS, *QA_TASKS])}")
    if isinstance(spec, QaSpec):
        spec = replace(spec, pick=index, seed=seed)
    tok = get_tokenizer(tokenizer)
    prompts = prompts or load_prompts()
    builder = _BUILDERS[type(spec)]
    key = f"glyph-ruler:{seed}:{task}:{length}:{index}"
    budget = length - spec.answer_tokens
    built_cache: dict[int, Built] = {}

    def tokens_at(n: int) -> int:
        built_cache.clear()  # keep only the latest (1M-token builds are large)
        built_cache[n] = builder(spec, key, n, prompts, length)
        return tok.count(_assemble(built_cache[n]))

    size = fit_size(tokens_at, budget, lo=_MIN_SIZE[type(spec)])
    built = built_cache.get(size) or builder(spec, key, size, prompts, length)
    prompt_tokens = tok.count(_assemble(built))
    if prompt_tokens > budget:
        raise ValueError(
            f"{task}: even the smallest haystack needs {prompt_tokens} prompt tokens, over the "
            f"{budget} left of {length} after {spec.answer_tokens} answer tokens"
        )
    haystack = getattr(spec, "haystack", None)
    return Sample(
        id=f"{task}-{length_label(length)}-{index:03d}",
        task=task,
        length=length,
        context=built.context,
        question=built.question,
        answers=built.answers,
        metric=getattr(spec, "metric", "string_match_all"),
        instruction=built.instruction,
        max_new_tokens=spec.answer_tokens,
        benchmark="ruler",
        metadata={
            "family": spec.family,
            "query": built.query,
            "seed": seed,
            "index": index,
            "haystack": haystack,
            "haystack_size": size,
            "prompt_tokens": prompt_tokens,
            "tokenizer": getattr(tok, "name", str(tok)),
            **built.extra,
        },
    )


def qa_specs(qa_data: dict[str, str] | None) -> dict[str, QaSpec]:
    """The QA tasks with their corpora loaded from ``{"squad": PATH or "hub", "hotpotqa": ...}``."""
    out: dict[str, QaSpec] = {}
    for task, spec in QA_TASKS.items():
        source = (qa_data or {}).get(spec.dataset)
        if source is not None:
            out[task] = replace(spec, corpus=load_qa_corpus(spec.dataset, source))
    return out


def generate_ruler(
    tasks: Sequence[str] | None = None,
    lengths: Sequence[int] = (4096,),
    samples: int = 1,
    seed: int = 0,
    tokenizer: TextTokenizer | str = "qwen",
    prompts: Prompts | None = None,
    qa_data: dict[str, str] | None = None,
) -> Iterable[Sample]:
    """Samples for every (length, task, index), lazily: long lengths are large, build on demand.

    ``tasks`` defaults to the synthetic tasks plus the QA tasks whose data ``qa_data`` names
    (``{"squad": PATH or "hub", "hotpotqa": ...}``).
    """
    tok = get_tokenizer(tokenizer)
    prompts = prompts or load_prompts()
    qa = qa_specs(qa_data)
    names = list(tasks) if tasks else [*RULER_TASKS, *qa]
    known = [*RULER_TASKS, *QA_TASKS]
    unknown = [t for t in names if t not in known]
    if unknown:
        raise ValueError(f"unknown RULER task(s) {', '.join(unknown)}; known: {', '.join(known)}")
    no_data = [t for t in names if t in QA_TASKS and t not in qa]
    if no_data:
        need = ", ".join(f"{t} needs {QA_TASKS[t].dataset}" for t in no_data)
        raise ValueError(f"{need}: give its data file (or 'hub'), e.g. --qa-data squad=dev-v2.0.json")
    for length in lengths:
        for task in names:
            for index in range(samples):
                yield generate_sample(task, length, index, seed, tok, prompts, qa.get(task))
