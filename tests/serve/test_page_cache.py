"""The gateway's rendered-page cache: an LRU bounded in bytes (not entries), safe across threads."""

from __future__ import annotations

import random
import threading

from glyph.serve.documents import PageCache, RenderedDoc


def doc(nbytes: int) -> RenderedDoc:
    return RenderedDoc(pages=[], sizes=[], text_tokens=0, visual_tokens=0, nbytes=nbytes)


def key(name: str) -> tuple[str, str, str]:
    return (name, "cfg", "data-url")


def test_least_recently_used_goes_first_once_the_bytes_overflow() -> None:
    cache = PageCache(max_bytes=100)
    cache.put(key("a"), doc(40))
    cache.put(key("b"), doc(40))
    assert cache.get(key("a")) is not None  # a is now the most recently used
    cache.put(key("c"), doc(40))  # 120 bytes > 100: the oldest use (b) goes
    assert cache.get(key("b")) is None
    assert cache.get(key("a")) is not None and cache.get(key("c")) is not None
    assert cache.stats() == {"entries": 2, "bytes": 80, "hits": 3, "misses": 1}


def test_one_large_document_evicts_several_small_ones() -> None:
    cache = PageCache(max_bytes=100)
    for name in "abcd":
        cache.put(key(name), doc(25))
    cache.put(key("big"), doc(60))  # 100 + 60 bytes: a, b, c (the oldest) go until 25 + 60 fit
    assert [n for n in "abcd" if cache.get(key(n)) is not None] == ["d"]
    assert cache.stats()["bytes"] == 85 and cache.get(key("big")) is not None


def test_a_document_over_the_whole_budget_is_served_not_kept() -> None:
    cache = PageCache(max_bytes=100)
    cache.put(key("a"), doc(30))
    cache.put(key("huge"), doc(101))
    assert cache.get(key("huge")) is None and cache.get(key("a")) is not None
    assert cache.stats()["bytes"] == 30


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = PageCache(max_bytes=100)
    cache.put(key("a"), doc(30))
    cache.put(key("a"), doc(50))
    assert cache.stats()["entries"] == 1 and cache.stats()["bytes"] == 50


def test_a_zero_budget_keeps_nothing_that_has_bytes() -> None:
    cache = PageCache(max_bytes=0)
    cache.put(key("a"), doc(1))
    assert cache.get(key("a")) is None and cache.stats()["bytes"] == 0


def test_threads_never_push_it_past_its_budget() -> None:
    cache = PageCache(max_bytes=1000)
    gets = [0] * 8

    def work(worker: int) -> None:
        rng = random.Random(worker)
        for _ in range(2000):
            name = str(rng.randrange(60))
            if rng.random() < 0.5:
                cache.put(key(name), doc(rng.randrange(1, 120)))
            else:
                cache.get(key(name))
                gets[worker] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == sum(gets)  # no lost update of the counters
    assert 0 < stats["bytes"] <= 1000
    assert stats["bytes"] == sum(cache._items[k].nbytes for k in list(cache._items.keys()))
