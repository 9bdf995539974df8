"""RULER generators: reproducible, sized to the target, and right by construction.

Answers are checked independently of the generator: each test parses the context with its
own regex (built from the needle template) and recomputes what the answer must be.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph.eval.haystack import NOISE, essay_sentences, fit_size, insert_at_depths
from glyph.eval.prompts import load_prompts
from glyph.eval.ruler import (
    RULER_TASKS,
    CweSpec,
    FweSpec,
    NiahSpec,
    VtSpec,
    generate_ruler,
    generate_sample,
    zeta,
)
from glyph.eval.sample import length_label, parse_length, parse_lengths

PROMPTS = load_prompts()
VALUE_RE = {
    "numbers": r"\d{7}",
    "words": r"[a-z]+-[a-z]+",
    "uuids": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
}


def needles_in(context: str, spec: NiahSpec) -> list[tuple[str, str]]:
    """(key, value) of every needle sentence in ``context``, parsed with the template as a regex."""
    one = PROMPTS["ruler"]["kinds"][spec.value_kind][0]
    pattern = re.escape(PROMPTS["ruler"]["niah"]["needle"])
    pattern = pattern.replace(r"\{kind\}", re.escape(one))
    pattern = pattern.replace(r"\{key\}", f"({VALUE_RE[spec.key_kind]})").replace(
        r"\{value\}", f"({VALUE_RE[spec.value_kind]})"
    )
    return re.findall(pattern, context)


def check_niah(sample, spec: NiahSpec) -> None:
    found = needles_in(sample.context, spec)
    keys = sample.metadata["query"]["keys"]
    assert len(keys) == spec.queries
    for key in keys:
        assert key in sample.question  # the question names every asked key
    expected = [v for k in keys for kk, v in found if kk == k]
    assert sorted(expected) == sorted(sample.answers)
    assert len(sample.answers) == spec.queries * spec.values
    # every real key has exactly its `values` needles; distractors never reuse an asked key
    counts = Counter(k for k, _ in found)
    assert all(counts[k] == spec.values for k in keys)
    if spec.haystack == "needle":
        assert len(found) == sample.metadata["haystack_size"] + max(spec.keys, spec.queries) * spec.values
    else:
        assert len(found) == max(spec.keys, spec.queries) * spec.values


def follow_chain(context: str, value: str) -> set[str]:
    direct = dict(re.findall(r"VAR ([A-Z]{5}) = (\d+)", context))
    links = re.findall(r"VAR ([A-Z]{5}) = VAR ([A-Z]{5})", context)
    holders = {name for name, v in direct.items() if v == value}
    while True:
        more = {a for a, b in links if b in holders} - holders
        if not more:
            return holders
        holders |= more


def check_sample(sample) -> None:
    spec = RULER_TASKS[sample.task]
    if isinstance(spec, NiahSpec):
        check_niah(sample, spec)
    elif isinstance(spec, VtSpec):
        value = re.search(r"value (\d+)", sample.question).group(1)
        assert follow_chain(sample.context, value) == set(sample.answers)
        assert len(sample.answers) == spec.hops + 1
    elif isinstance(spec, CweSpec):
        entries = re.findall(r"(\d+)\. (\S+)", sample.context)
        assert [int(n) for n, _ in entries] == list(range(1, len(entries) + 1))
        counts = Counter(w for _, w in entries)
        top = {w for w, c in counts.items() if c == spec.freq_common}
        assert top == set(sample.answers) and len(top) == spec.common
        assert max(c for w, c in counts.items() if w not in top) == spec.freq_rare
    elif isinstance(spec, FweSpec):
        counts = Counter(w for w in sample.context.split() if w != "...")
        ranked = counts.most_common()
        assert [w for w, _ in ranked[: spec.top]] == sample.answers
        assert ranked[spec.top - 1][1] > ranked[spec.top][1]  # no tie at the cut
        assert all(re.fullmatch(r"[a-z]{6}", w) for w in counts)


@pytest.fixture(scope="module")
def samples_4k(tok):
    return list(generate_ruler(None, [4096], samples=1, seed=7, tokenizer=tok))


def test_every_task_fits_the_target_and_is_right_by_construction(samples_4k, tok) -> None:
    assert [s.task for s in samples_4k] == list(RULER_TASKS)
    for s in samples_4k:
        used = tok.count(s.text_prompt()) + s.max_new_tokens
        assert 0.95 * 4096 <= used <= 4096, (s.task, used)
        assert used == s.metadata["prompt_tokens"] + s.max_new_tokens
        check_sample(s)


def test_longer_targets_fit_too(tok) -> None:
    for task in ("niah_single_2", "niah_multikey_3", "vt", "cwe", "fwe"):
        s = generate_sample(task, 16384, 0, 3, tok)
        used = tok.count(s.text_prompt()) + s.max_new_tokens
        assert 0.99 * 16384 <= used <= 16384, (task, used)
        check_sample(s)


def test_same_seed_same_sample_other_seed_other_sample(tok) -> None:
    for task in ("niah_single_1", "niah_multikey_2", "vt", "cwe", "fwe"):
        a = generate_sample(task, 4096, 2, seed=11, tokenizer=tok)
        b = generate_sample(task, 4096, 2, seed=11, tokenizer=tok)
        c = generate_sample(task, 4096, 2, seed=12, tokenizer=tok)
        d = generate_sample(task, 4096, 3, seed=11, tokenizer=tok)
        assert a.to_dict() == b.to_dict() and a.content_hash == b.content_hash
        assert a.context != c.context and a.answers != c.answers
        assert a.context != d.context
        assert a.id == f"{task}-4k-002"


def test_context_is_rendered_text_only(samples_4k) -> None:
    for s in samples_4k:
        assert s.question not in s.context and s.context not in s.page_prompt()
        assert s.text_prompt() == f"{s.instruction}\n\n{s.context}\n\n{s.question}"
    vt = next(s for s in samples_4k if s.task == "vt")
    # the few-shot example is text (in the instruction), with its own chain and answer
    assert "VAR " in vt.instruction and PROMPTS["ruler"]["task_intro"] in vt.instruction
    assert not set(re.findall(r"VAR ([A-Z]{5})", vt.instruction)) & set(vt.answers)


def test_noise_haystack_is_rulers_sentence(samples_4k) -> None:
    s = next(s for s in samples_4k if s.task == "niah_single_1")
    lines = s.context.split("\n")
    assert lines.count(NOISE) == len(lines) - 1 == s.metadata["haystack_size"]


def test_target_too_small_is_an_error(tok) -> None:
    with pytest.raises(ValueError, match="smallest haystack"):
        generate_sample("niah_multiquery", 200, 0, 0, tok)
    with pytest.raises(ValueError, match="unknown RULER task"):
        list(generate_ruler(["niah_nope"], [4096]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    haystack=st.sampled_from(["essay", "noise", "needle"]),
    key_kind=st.sampled_from(["numbers", "words", "uuids"]),
    value_kind=st.sampled_from(["numbers", "words", "uuids"]),
    keys=st.integers(1, 4),
    values=st.integers(1, 3),
    queries=st.integers(1, 4),
    length=st.sampled_from([2048, 3072, 4096]),
    seed=st.integers(0, 10_000),
)
def test_niah_properties(haystack, key_kind, value_kind, keys, values, queries, length, seed, tok) -> None:
    spec = NiahSpec(haystack, key_kind, value_kind, keys=keys, values=values, queries=min(queries, keys))
    s = generate_sample("niah_custom", length, 0, seed, tok, spec=spec)
    used = tok.count(s.text_prompt()) + s.max_new_tokens
    assert 0.95 * length <= used <= length
    check_niah(s, spec)
    assert generate_sample("niah_custom", length, 0, seed, tok, spec=spec).context == s.context


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    haystack=st.sampled_from(["essay", "noise"]),
    chains=st.integers(1, 3),
    hops=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_vt_properties(haystack, chains, hops, seed, tok) -> None:
    spec = VtSpec(haystack=haystack, chains=chains, hops=hops, few_shot=False)
    s = generate_sample("vt", 3072, 0, seed, tok, spec=spec)
    assert tok.count(s.text_prompt()) + s.max_new_tokens <= 3072
    value = s.metadata["query"]["value"]
    assert value in s.question
    assert follow_chain(s.context, value) == set(s.answers)
    assert len(re.findall(r"VAR [A-Z]{5} = ", s.context)) == chains * (hops + 1)
    # assignments come before their uses: each chain reads in order
    pos = [s.context.index(f"VAR {name} =") for name in s.answers]
    assert pos == sorted(pos)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alpha=st.floats(1.5, 3.0), top=st.integers(1, 4), seed=st.integers(0, 1000))
def test_fwe_properties(alpha, top, seed, tok) -> None:
    spec = FweSpec(alpha=alpha, top=top)
    s = generate_sample("fwe", 4096, 0, seed, tok, spec=spec)
    counts = Counter(w for w in s.context.split() if w != "...")
    ranked = counts.most_common()
    assert {w for w, _ in ranked[:top]} == set(s.answers)
    assert Counter(s.context.split())["..."] > ranked[0][1]  # the ignored dots are the most frequent


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.integers(1, 50), min_size=1, max_size=300),
    budget=st.integers(0, 6000),
    lo=st.integers(1, 5),
)
def test_fit_size_finds_the_largest_size_within_budget(steps, budget, lo) -> None:
    """For any increasing token curve, the fit is the largest n with tokens(n) <= budget."""
    overhead = 40

    def tokens_at(n: int) -> int:
        return overhead + sum(steps[i % len(steps)] for i in range(n))

    n = fit_size(tokens_at, budget, lo=lo)
    if tokens_at(lo) > budget:
        assert n == lo
    else:
        assert tokens_at(n) <= budget < tokens_at(n + 1)


def test_haystack_helpers() -> None:
    assert insert_at_depths(["a", "b", "c", "d"], ["X", "Y", "Z"], [0.0, 0.5, 1.0]) == [
        "X",
        "a",
        "b",
        "Y",
        "c",
        "d",
        "Z",
    ]
    assert insert_at_depths(["a"], ["first", "second"], [0.5, 0.5]) == ["first", "second", "a"]
    sents = essay_sentences(40)
    assert sum(len(x.split()) for x in sents) == 40
    assert zeta(2.0) == pytest.approx(3.141592653589793**2 / 6, abs=1e-10)


def test_length_labels() -> None:
    assert parse_length("8k") == 8192 and parse_length("1m") == 1048576 and parse_length("4096") == 4096
    assert parse_lengths("4k, 128K,1M") == [4096, 131072, 1048576]
    assert [length_label(n) for n in (4096, 131072, 1048576, 5000)] == ["4k", "128k", "1m", "5000"]
    with pytest.raises(ValueError):
        parse_length("eight")
