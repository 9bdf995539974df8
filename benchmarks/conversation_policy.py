"""The conversation policy on a 100-turn synthetic agent conversation, turn by turn.

A client resends the whole conversation every turn (``glyph.data.synthetic_conversation``: user
requests, assistant replies, a tool call with a long tool result every 5 turns). Each turn goes
through the gateway's own planner (``create_app(...).state.glyph.planner``, what ``glyph serve``
runs per request) under several policies, and for each we record:

* prompt tokens the upstream is sent (Qwen BPE text tokens + GLM-4.1V visual tokens);
* render time per turn (wall and CPU ms, after the first turn) and pages laid out per turn;
* the page cache's hit rate over the run;
* the unchanged prefix: how many of this turn's prompt tokens, from the start, are identical to
  the previous turn's (text compared token by token, pages by their bytes): what an upstream with
  prefix caching (vLLM's automatic prefix caching) reuses instead of recomputing.

Then a legibility check on the history as rendered at the last turn: the offline reader
(``get_reader("ocr")``) reads its pages back, and for every rendered message we look for its
role label and its turn marker (``User: [turn 7]``, ``Assistant: [turn 7 reply]``, ``Tool
(call_5, ...): [turn 5 result]``, ``Assistant called search_essays(...)``) in reading order.

    flock /work/bench.lock python benchmarks/conversation_policy.py
    # -> benchmarks/results/conversation_policy.{json,md,png}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

POLICIES: dict[str, dict[str, Any]] = {
    "text (no policy)": {},
    "keep 4, step 1": {"keep_recent": 4, "step": 1},
    "keep 4, step 4": {"keep_recent": 4, "step": 4},
    "keep 4, step 4, progressive to 48 dpi": {"keep_recent": 4, "step": 4, "progressive": True},
    "budget 12K tokens": {"keep_recent": 8, "step": 4, "budget": 12_000},
}


def units(messages: list[dict[str, Any]], count: Any, rule: Any) -> list[tuple[str, Any, int]]:
    """The prompt as a sequence of (kind, identity, tokens): role markers, text parts, pages."""
    out: list[tuple[str, Any, int]] = []
    for m in messages:
        out.append(("role", m.get("role"), 1))
        content = m.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for p in parts:
            if p.get("type") == "text":
                out.append(("text", p["text"], count(p["text"])))
            elif p.get("type") == "image_url":
                url = p["image_url"]["url"]
                w, h = png_size(url)
                out.append(("page", url, rule.tokens_with_wrappers(w, h)))
        if m.get("tool_calls"):
            calls = json.dumps(m["tool_calls"])
            out.append(("text", calls, count(calls)))
    return out


def png_size(url: str) -> tuple[int, int]:
    import base64
    import struct

    head = base64.b64decode(url.split(",", 1)[1][:64])
    return struct.unpack(">II", head[16:24])


def common_prefix(prev: list[tuple[str, Any, int]], cur: list[tuple[str, Any, int]], encode: Any) -> int:
    """Tokens at the start of ``cur`` identical to ``prev``'s (texts compared token by token)."""
    same = 0
    for a, b in zip(prev, cur):
        if a == b:
            same += b[2]
            continue
        if a[0] == b[0] == "text":  # the first differing text: its common token prefix
            ta, tb = encode(a[1]), encode(b[1])
            k = 0
            while k < min(len(ta), len(tb)) and ta[k] == tb[k]:
                k += 1
            same += k
        break
    return same


def run_policy(name: str, spec: dict[str, Any], conv: list[dict[str, Any]], turns: list[int]) -> dict[str, Any]:
    from glyph.serve import ServeSettings, create_app
    from glyph.serve.conversation import ConversationPolicy
    from glyph.serve.documents import PlanOptions
    from glyph.tokens import get_tokenizer, get_vlm_rule

    policy = {k: v for k, v in spec.items() if k != "budget"}
    settings = ServeSettings(upstream="http://127.0.0.1:9/v1", max_pages=10_000, max_context_tokens=1 << 40,
                             conversation=ConversationPolicy(floor_dpi=48, **policy))  # fmt: skip
    state = create_app(settings).state.glyph
    planner = state.planner
    tokenizer = get_tokenizer("qwen")
    rule = get_vlm_rule("glm4v")
    opts = PlanOptions(threshold=settings.render_threshold_tokens, policy=settings.conversation,
                       budget=spec.get("budget"))  # fmt: skip
    rows = []
    prev: list[tuple[str, Any, int]] | None = None
    for t, end in enumerate(turns, start=1):
        messages = conv[: end + 1]
        wall, cpu = time.perf_counter(), time.process_time()
        plan = planner.plan(messages, settings.render_config, opts)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cur = units(plan.messages, planner._count, rule)
        total = sum(u[2] for u in cur)
        same = common_prefix(prev, cur, tokenizer.encode) if prev is not None else 0
        conv_stats = plan.stats.conversation or {}
        rows.append({
            "turn": t, "messages": len(messages), "prompt_tokens": total, "text_only_tokens": None,
            "render_ms": round(1000 * wall, 2), "render_cpu_ms": round(1000 * cpu, 2), "pages_rendered": plan.rendered_pages,
            "pages": plan.stats.pages, "history_messages": conv_stats.get("history_messages", 0),
            "unchanged_prefix": round(same / total, 4) if prev is not None else None,
        })  # fmt: skip
        prev = cur
    cache = state.cache.stats()
    hit_rate = cache["hits"] / max(1, cache["hits"] + cache["misses"])
    later = rows[1:]
    summary = {
        "policy": name,
        "spec": spec,
        "prompt_tokens_last": rows[-1]["prompt_tokens"],
        "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in rows)),
        "render_ms_median": round(statistics.median(r["render_ms"] for r in later), 2),
        "render_ms_mean": round(statistics.mean(r["render_ms"] for r in later), 2),
        "render_ms_p95": round(sorted(r["render_ms"] for r in later)[int(0.95 * len(later))], 2),
        "render_cpu_ms_mean": round(statistics.mean(r["render_cpu_ms"] for r in later), 2),
        "pages_rendered_per_turn": round(statistics.mean(r["pages_rendered"] for r in later), 2),
        "pages_last": rows[-1]["pages"],
        "cache_hit_rate": round(hit_rate, 4),
        "unchanged_prefix_mean": round(statistics.mean(r["unchanged_prefix"] for r in later), 4),
        "unchanged_prefix_median": round(statistics.median(r["unchanged_prefix"] for r in later), 4),
    }
    return {"summary": summary, "turns": rows, "state": state, "opts": opts, "settings": settings}


def legibility(conv: list[dict[str, Any]], end: int, result: dict[str, Any]) -> dict[str, Any]:
    """OCR the history pages of the last turn (the same chain, line boxes kept) and find every turn in it."""
    from rapidfuzz import fuzz

    from glyph.readers import get_reader
    from glyph.render.pages import RenderedPage
    from glyph.serve.conversation import ChainStats, HistoryPlanner, PageChains, format_message
    from glyph.serve.documents import PageCache

    settings, opts, planner = result["settings"], result["opts"], result["state"].planner
    messages = conv[: end + 1]
    history = HistoryPlanner(planner.chains, planner._count, planner._page_tokens, planner.part, opts.threshold)
    first = 0
    boundary = history.boundary(messages, first, opts.policy)
    segments = history.segments(messages, first, boundary, settings.render_config, opts.policy)
    chains = PageChains(PageCache(1 << 34), lambda im: im, "legibility", lambda c: c.content_hash(), keep_lines=True)
    pages: list[Any] = []
    for seg in segments:
        pages += chains.pages(seg.texts, settings.render_config, 10_000, ChainStats())
    start = time.perf_counter()
    reads = get_reader("ocr").transcribe([RenderedPage(p.payload, i, p.lines) for i, p in enumerate(pages)])
    ocr_s = time.perf_counter() - start
    text = "\n".join(reads)
    lines = text.splitlines()
    found, order_ok, last_pos = 0, True, -1
    misses = []
    for i, m in enumerate(messages[:boundary]):
        label_line = format_message(m)[0].splitlines()[0][:60]
        # the line that starts this message on the page: the best fuzzy match of its first 60 characters
        scores = [fuzz.ratio(label_line, line[: len(label_line)]) for line in lines]
        pos = max(range(len(lines)), key=scores.__getitem__)
        marker = re.search(r"\[turn \d+(?: reply| result)?\]|called \w+", label_line)
        ok = scores[pos] >= 85 and (marker is None or marker.group(0) in lines[pos].replace("  ", " "))
        if ok:
            found += 1
            order_ok &= pos >= last_pos
            last_pos = pos
        else:
            misses.append({"message": i, "expected": label_line, "best": lines[pos][:80], "score": round(scores[pos], 1)})
    return {
        "pages": len(pages),
        "messages": boundary,
        "found": found,
        "in_order": order_ok,
        "ocr_s": round(ocr_s, 1),
        "misses": misses[:10],
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for r in results:
        turns = [t["turn"] for t in r["turns"]]
        axes[0].plot(turns, [t["prompt_tokens"] / 1000 for t in r["turns"]], label=r["summary"]["policy"])
        axes[1].plot(turns[1:], [t["render_ms"] for t in r["turns"][1:]], label=r["summary"]["policy"])
        axes[2].plot(turns[1:], [t["unchanged_prefix"] for t in r["turns"][1:]], label=r["summary"]["policy"])
    axes[0].set(xlabel="turn", ylabel="prompt tokens (K)", title="Prompt sent upstream per turn")
    axes[1].set(xlabel="turn", ylabel="ms", title="Gateway planning + rendering per turn", yscale="log")
    axes[2].set(xlabel="turn", ylabel="fraction", title="Unchanged prefix vs the previous turn", ylim=(0, 1.02))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--no-ocr", action="store_true", help="skip the legibility check")
    parser.add_argument("--out", type=Path, default=RESULTS / "conversation_policy")
    args = parser.parse_args()
    from glyph.data import synthetic_conversation

    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    conv = synthetic_conversation(args.turns, seed=0, tool_every=5)
    turns = [i for i, m in enumerate(conv) if m["role"] == "user"]
    results = []
    for name, spec in POLICIES.items():
        result = run_policy(name, spec, conv, turns)
        results.append(result)
        print(json.dumps(result["summary"]), flush=True)
    legible = None
    if not args.no_ocr:
        legible = legibility(conv, turns[-1], results[2])
        print(json.dumps(legible), flush=True)
    meta = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "uptime_before": uptime_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "command": "python benchmarks/conversation_policy.py " + " ".join(sys.argv[1:]),
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),  # fmt: skip
        "turns": args.turns,
        "messages": len(conv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "policies": [{"summary": r["summary"], "turns": r["turns"]} for r in results],
            "legibility": legible}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    plot(results, args.out.with_suffix(".png"))
    lines = [
        f"# Conversation policy on a {meta['turns']}-turn agent conversation (`benchmarks/conversation_policy.py`)",
        "",
        f"Run {meta['date']} on {meta['machine']}; load before `{meta['uptime_before']}`, after "
        f"`{meta['uptime_after']}`. {meta['turns']} turns, {meta['messages']} messages "
        f"(`glyph.data.synthetic_conversation({meta['turns']}, seed=0, tool_every=5)`), reference config (72 dpi), "
        "GLM-4.1V token rule.",
        "",
        "| policy | prompt tokens, last turn | mean per turn | render ms per turn (median / mean / p95) | CPU ms mean | "
        "pages laid out per turn | cache hit rate | unchanged prefix (mean / median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["summary"]
        lines.append(
            f"| {s['policy']} | {s['prompt_tokens_last']:,} | {s['prompt_tokens_mean']:,} | {s['render_ms_median']} / "
            f"{s['render_ms_mean']} / {s['render_ms_p95']} | {s['render_cpu_ms_mean']} | {s['pages_rendered_per_turn']} | "
            f"{s['cache_hit_rate']:.1%} | {s['unchanged_prefix_mean']:.1%} / {s['unchanged_prefix_median']:.1%} |"
        )
    if legible:
        lines += ["", f"Legibility (policy `keep 4, step 4`, history at turn {args.turns}: {legible['pages']} pages, "
                  f"{legible['messages']} messages; offline `ocr` reader, {legible['ocr_s']} s): role and turn marker "
                  f"found for {legible['found']} of {legible['messages']} messages, in order: {legible['in_order']}."]  # fmt: skip
        if legible["misses"]:
            lines += ["", "Not found (first 10): " + "; ".join(f"`{m['expected']}` (best `{m['best']}`, {m['score']})"
                                                             for m in legible["misses"])]  # fmt: skip
    lines += ["", "![prompt tokens, render time and unchanged prefix per turn](conversation_policy.png)"]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
