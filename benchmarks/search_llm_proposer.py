"""The LLM proposer, measured: searches with a scripted stand-in LLM on a loopback endpoint against
classical operators alone, same budget (population x generations), same seeds, same fitness.

The stand-in is an OpenAI-compatible chat server on 127.0.0.1 that reads the proposer's real prompt
(space, history rows, objective) and answers like a typographer would: from the best configs in the
history it proposes smaller type at a dpi that keeps the glyph's pixel height, tighter leading
(down to the font size), narrower margins, a condensed horizontal scale, and one bold move (a step
down in dpi), each with a one-line rationale, in the reply format the prompt asks for. It knows
nothing the prompt does not tell it. The prompt and the parsing are the project's own
(:mod:`glyph.search.proposer`), unchanged.

Fitness: the analytic ``synthetic`` evaluator (glyph height and leading against page geometry), so
the comparison costs seconds and isolates the operators; the real OCR fitness costs ~15 CPU s per
config. Reported per arm, over seeds: the front's hypervolume (accuracy x compression above (0, 0))
and the best score after each generation, plus the LLM's accepted / repaired / invalid counts.

    python benchmarks/search_llm_proposer.py              # writes benchmarks/results/search_llm/
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from glyph.search import SearchSettings, session  # noqa: E402
from glyph.search.proposer import LLMSettings  # noqa: E402
from glyph.search.selection import TrialRecord, front_records  # noqa: E402


# ---------------------------------------------------------------------- the stand-in LLM
def _section(prompt: str, title: str) -> list[str]:
    lines = prompt.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    out = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        out.append(line)
    return out


def _on_grid(domain: dict[str, Any], value: float) -> float | int | None:
    """``value`` snapped onto a numeric knob's grid and clipped to its range (None: not numeric)."""
    if "low" not in domain:
        return None
    low, high, step = float(domain["low"]), float(domain["high"]), float(domain.get("step") or 0)
    v = min(max(value, low), high)
    if step:
        v = low + round((v - low) / step) * step
    return int(round(v)) if domain.get("type") == "int" else round(v, 6)


def stand_in_reply(prompt: str) -> str:
    """What the scripted typographer answers to one proposer prompt."""
    space = json.loads(_section(prompt, "Search space")[0])
    domains = space.get("knobs", space)
    seed = json.loads(_section(prompt, "Reference config")[0])
    rows = [json.loads(line) for line in _section(prompt, "History") if line.startswith("{")]
    want = next(int(w) for w in _section(prompt, "Task")[0].split() if w.isdigit())
    feasible = [r for r in rows if r["score"] > -50] or rows
    bases = sorted(feasible, key=lambda r: -r["score"])[:3] or [{"trial": None, "changes": {}}]

    def knob(cfg: dict[str, Any], key: str, value: float) -> None:
        if key in domains:
            snapped = _on_grid(domains[key], value)
            if snapped is not None:
                cfg[key] = snapped

    proposals = []
    for base in bases:
        cfg0 = {**seed, **base["changes"]}
        size, dpi = float(cfg0.get("font-size", 9)), float(cfg0.get("dpi", 72))
        moves = []
        c = {}
        knob(c, "font-size", size - 0.5)
        knob(c, "dpi", dpi * size / max(size - 0.5, 1))
        moves.append((c, "half a point smaller at a dpi that keeps the glyph's pixel height"))
        c = {}
        knob(c, "line-height", max(size, float(cfg0.get("line-height", size + 1)) - 1))
        moves.append((c, "tighter leading, never under the font size"))
        c = {}
        for k in ("margin-x", "margin-y"):
            knob(c, k, float(cfg0.get(k, 10)) / 2)
        moves.append((c, "half the margins: more of the page carries text"))
        c = {}
        knob(c, "horizontal-scale", float(cfg0.get("horizontal-scale", 1.0)) - 0.1)
        moves.append((c, "condensed glyphs: more characters per line"))
        c = {}
        knob(c, "dpi", dpi - 12)
        moves.append((c, "bold: one dpi step down, fewer visual tokens per page"))
        for change, why in moves:
            if change:
                config = {**{k: v for k, v in base["changes"].items()}, **change}
                proposals.append({"rationale": f"from trial {base['trial']}: {why}", "config": config})
    return json.dumps({"proposals": proposals[:want]})


class StandInLLM:
    """The scripted typographer behind /v1/chat/completions on a loopback port."""

    def __init__(self) -> None:
        import uvicorn
        from fastapi import FastAPI

        app = FastAPI()
        self.calls = 0

        @app.get("/v1/models")
        def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "stand-in-typographer", "object": "model"}]}

        @app.post("/v1/chat/completions")
        def chat(body: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            prompt = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
            return {"id": f"s-{self.calls}", "object": "chat.completion", "model": "stand-in-typographer",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": stand_in_reply(prompt)}}],
                    "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 200, "total_tokens": 0}}

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> StandInLLM:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


# ---------------------------------------------------------------------- measurement
def hypervolume(records: list[TrialRecord]) -> float:
    """Area the front dominates above (accuracy 0, compression 0)."""
    area, last = 0.0, 0.0
    for r in sorted(front_records(records), key=lambda r: -r.accuracy):
        if r.compression > last:
            area += r.accuracy * (r.compression - last)
            last = r.compression
    return area


def run_arm(out: Path, name: str, seed: int, generations: int, population: int, llm: LLMSettings | None,
            share: float) -> dict[str, Any]:
    settings = SearchSettings(generations=generations, population=population, seed=seed, llm_share=share,
                              accuracy_floor=0.9)
    search = session.start(f"sqlite:///{out / 'studies.db'}", f"{name}-{seed}", out / f"{name}-{seed}",
                           evaluator="synthetic", settings=settings, llm=llm, poll_seconds=0.01)
    search.run()
    records = search.store.records()
    s = settings.scoring
    stats = [t.user_attrs.get("stats") or {} for t in search.store.trials("breed")]
    return {
        "arm": name, "seed": seed, "evaluations": len(records),
        "hypervolume": [hypervolume([r for r in records if r.generation <= g]) for g in range(generations + 1)],
        "best_score": [max(s.score(r.accuracy, r.compression) for r in records if r.generation <= g)
                       for g in range(generations + 1)],
        "llm_accepted": sum(st.get("llm_accepted", 0) for st in stats),
        "llm_requested": sum(st.get("llm_requested", 0) for st in stats),
        "llm_repaired": sum(st.get("llm_repaired", 0) for st in stats),
        "llm_invalid": sum(st.get("llm_invalid", 0) for st in stats),
        "llm_duplicate": sum(st.get("llm_duplicate", 0) for st in stats),
        "origins_on_front": sorted(r.origin for r in front_records(records)),
    }


def plot(rows: list[dict[str, Any]], path: Path, generations: int) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=120)
    FigureCanvasAgg(fig)
    for i, key in enumerate(("hypervolume", "best_score")):
        ax = fig.add_subplot(1, 2, i + 1)
        for arm, colour in (("classical", "tab:blue"), ("llm", "crimson")):
            curves = [r[key] for r in rows if r["arm"] == arm]
            for c in curves:
                ax.plot(range(generations + 1), c, color=colour, alpha=0.25, lw=1)
            mean = [statistics.fmean(c[g] for c in curves) for g in range(generations + 1)]
            ax.plot(range(generations + 1), mean, color=colour, lw=2.2,
                    label=f"{arm} (mean of {len(curves)} seeds)")
        ax.set_xlabel("generation")
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("LLM proposer (scripted stand-in on loopback) vs classical operators, same budget")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--llm-share", type=float, default=0.5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/search_llm")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "studies.db").unlink(missing_ok=True)
    rows = []
    with StandInLLM() as llm:
        for seed in range(args.seeds):
            rows.append(run_arm(out, "classical", seed, args.generations, args.population, None, 0.0))
            rows.append(run_arm(out, "llm", seed, args.generations, args.population, LLMSettings(llm.url, timeout=30),
                                args.llm_share))
            print(f"seed {seed}: classical hv {rows[-2]['hypervolume'][-1]:.3f}, llm hv {rows[-1]['hypervolume'][-1]:.3f}",
                  flush=True)
        calls = llm.calls
    g = args.generations
    summary = {}
    for arm in ("classical", "llm"):
        mine = [r for r in rows if r["arm"] == arm]
        summary[arm] = {
            "hypervolume_final": [round(r["hypervolume"][-1], 4) for r in mine],
            "hypervolume_mean": round(statistics.fmean(r["hypervolume"][-1] for r in mine), 4),
            "best_score_mean": round(statistics.fmean(r["best_score"][-1] for r in mine), 4),
            "best_score_gen_half": round(statistics.fmean(r["best_score"][g // 2] for r in mine), 4),
            "llm_accepted": sum(r["llm_accepted"] for r in mine), "llm_requested": sum(r["llm_requested"] for r in mine),
            "llm_repaired": sum(r["llm_repaired"] for r in mine), "llm_invalid": sum(r["llm_invalid"] for r in mine),
            "llm_duplicate": sum(r["llm_duplicate"] for r in mine),
            "llm_on_front": sum(o == "llm" for r in mine for o in r["origins_on_front"]),
            "front_size": sum(len(r["origins_on_front"]) for r in mine),
        }
    wins = sum(r2["hypervolume"][-1] > r1["hypervolume"][-1] for r1, r2 in zip(rows[::2], rows[1::2]))
    result = {"command": "python benchmarks/search_llm_proposer.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "budget": f"{args.population} x "
              f"({args.generations} + 1) evaluations per run", "seeds": args.seeds, "llm_calls": calls,
              "llm_share": args.llm_share, "llm_wins_on_hypervolume": f"{wins}/{args.seeds}", "summary": summary,
              "runs": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, out / "curves.png", g)
    (out / "studies.db").unlink(missing_ok=True)
    for d in out.iterdir():
        if d.is_dir():
            import shutil

            shutil.rmtree(d)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
