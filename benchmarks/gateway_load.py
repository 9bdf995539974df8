"""`glyph serve` under load, before and after issue 15, against a fake upstream on loopback.

Each side is a real ``glyph serve`` process (this checkout, and with ``--ref PATH`` another
checkout, e.g. ``git worktree add /tmp/glyph-main main``) in front of one fake OpenAI server
(its own process; it answers at once, and reports what it was sent: text characters and page
sizes, so prompt tokens are counted the same way for both sides: text at the corpus's measured
characters per Qwen token, pages by the GLM-4.1V rule). Scenarios, at concurrency 32, each
bounded in requests and seconds:

* ``unique``: distinct ~21K-token essay excerpts (the issue's probe: every request renders), while
  a probe sends ``"hi"`` (nothing to render) every 100 ms: its p50/p95 is the "no waiting behind
  renders" target (< 50 ms);
* ``repeated``: the same 4 texts over and over (the page cache);
* ``conversation``: 32 synthetic agent conversations growing turn by turn, each client sending its
  next turn when the last was answered; the after side runs ``--keep-recent 4 --history-step 4``;
* ``configs``: twelve 17 KB requests under twelve distinct dpi/font-size overrides, one at a time
  (the issue's memory probe): resident memory before, after, and 5 s later.

Per scenario: throughput, p50/p95 latency, errors by status, peak RSS of the gateway (all its
processes), its CPU seconds, and the prompt tokens the upstream was sent per request.

    git worktree add /tmp/glyph-main main
    flock /work/bench.lock python benchmarks/gateway_load.py --ref /tmp/glyph-main
    # -> benchmarks/results/gateway_load.json and .md
    python benchmarks/gateway_load.py --report-only   # the .md again from the .json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: FastAPI resolves the fake's string annotations here

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MiB = 1024 * 1024


# ------------------------------------------------------------------------------------ the fake upstream
def fake_upstream(port: int) -> None:
    """An OpenAI server that answers at once with what it received (text chars, page sizes)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    def png_size(url: str) -> tuple[int, int]:
        head = base64.b64decode(url.split(",", 1)[1][:64])  # IHDR sits in the first 33 bytes
        return struct.unpack(">II", head[16:24])

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, Any]:
        body = await request.json()
        chars, pages = 0, []
        for m in body["messages"]:
            content = m.get("content")
            if isinstance(content, str):
                chars += len(content)
            for part in content if isinstance(content, list) else []:
                if part.get("type") == "text":
                    chars += len(part.get("text", ""))
                elif part.get("type") == "image_url":
                    pages.append(png_size(part["image_url"]["url"]))
        return {
            "id": "c", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
            "received": {"text_chars": chars, "pages": pages},
        }  # fmt: skip

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake"}]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {proc.stdout.read().decode()[-3000:] if proc.stdout else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class RSSSampler:
    """Peak resident memory and CPU seconds of a process and its children, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _procs(self) -> list[Any]:
        import psutil

        try:
            return [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        total = 0
        for p in self._procs():
            try:
                total += p.memory_info().rss
            except Exception:  # noqa: BLE001 - a worker exiting between listing and reading
                pass
        return total

    def cpu(self) -> float:
        total = 0.0
        for p in self._procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: BLE001
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def reset_peak(self) -> None:
        self.peak = self.rss()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


# ------------------------------------------------------------------------------------ load
@dataclass
class Outcome:
    scenario: str
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    probe: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            s = sorted(values)
            return round(1000 * s[min(len(s) - 1, int(q * len(s)))], 1)

        ok = self.statuses.get("200", 0)
        return {
            "scenario": self.scenario,
            "requests": self.requests,
            "ok": ok,
            "statuses": self.statuses,
            "seconds": round(self.seconds, 2),
            "throughput_rps": round(ok / self.seconds, 2) if self.seconds else None,
            "p50_ms": pct(self.latencies, 0.5),
            "p95_ms": pct(self.latencies, 0.95),
            "max_ms": pct(self.latencies, 1.0),
            "probe_p50_ms": pct(self.probe, 0.5),
            "probe_p95_ms": pct(self.probe, 0.95),
            "probe_n": len(self.probe),
            "prompt_tokens_mean": round(statistics.mean(self.prompt_tokens)) if self.prompt_tokens else None,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "cpu_s": round(self.cpu_s, 2),
            **self.extra,
        }


class Tokens:
    """Prompt tokens of what the upstream received: text at the corpus's chars/token, pages by rule."""

    def __init__(self) -> None:
        from glyph.data import demo_text
        from glyph.tokens import get_tokenizer, get_vlm_rule

        text = demo_text()
        self.chars_per_token = len(text) / get_tokenizer("qwen").count(text)
        self.rule = get_vlm_rule("glm4v")

    def of(self, received: dict[str, Any]) -> int:
        visual = sum(self.rule.tokens_with_wrappers(w, h) for w, h in received["pages"])
        return round(received["text_chars"] / self.chars_per_token) + visual


async def post(client: Any, url: str, body: bytes, out: Outcome, tokens: Tokens) -> None:
    start = time.perf_counter()
    try:
        r = await client.post(url, content=body, headers={"content-type": "application/json"})
        status = str(r.status_code)
        if r.status_code == 200:
            out.prompt_tokens.append(tokens.of(r.json()["received"]))
    except Exception as exc:  # noqa: BLE001 - counted, not raised: a load test reports failures
        status = type(exc).__name__
    if status == "200":  # latencies of answers only: a fast 503 must not flatter the percentiles
        out.latencies.append(time.perf_counter() - start)
    out.statuses[status] = out.statuses.get(status, 0) + 1
    out.requests += 1


async def run_pool(bodies: list[bytes], url: str, concurrency: int, max_s: float, out: Outcome, tokens: Tokens,
                   probe: bool = False) -> None:  # fmt: skip
    """Send ``bodies`` with ``concurrency`` in flight (and a "hi" probe every 100 ms if asked)."""
    import httpx

    queue = list(reversed(bodies))
    deadline = time.monotonic() + max_s
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def worker() -> None:
            while queue and time.monotonic() < deadline:
                await post(client, url, queue.pop(), out, tokens)

        async def prober(stop: asyncio.Event) -> None:
            hi = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
            async with httpx.AsyncClient(timeout=60) as own:
                await asyncio.sleep(1.0)  # renders are in flight by now
                while not stop.is_set():
                    t = time.perf_counter()
                    r = await own.post(url, content=hi, headers={"content-type": "application/json"})
                    if r.status_code == 200:
                        out.probe.append(time.perf_counter() - t)
                    await asyncio.sleep(0.1)

        stop = asyncio.Event()
        probe_task = asyncio.ensure_future(prober(stop)) if probe else None
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        out.seconds = time.perf_counter() - start
        stop.set()
        if probe_task:
            await probe_task


async def run_conversations(convs: list[list[list[dict[str, Any]]]], url: str, max_s: float, out: Outcome,
                            tokens: Tokens) -> None:  # fmt: skip
    """One client per conversation, each sending its turns in order (concurrency = conversations)."""
    import httpx

    deadline = time.monotonic() + max_s
    limits = httpx.Limits(max_connections=len(convs) + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def client_loop(turns: list[list[dict[str, Any]]]) -> None:
            for messages in turns:
                if time.monotonic() > deadline:
                    return
                await post(client, url, json.dumps({"model": "m", "messages": messages}).encode(), out, tokens)

        start = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in convs))
        out.seconds = time.perf_counter() - start


# ------------------------------------------------------------------------------------ scenarios
def workloads(args: argparse.Namespace) -> dict[str, Any]:
    from glyph.data import demo_text, synthetic_conversation

    text = demo_text()
    n, size = args.requests, args.chars
    step = (len(text) - size) // n
    unique = [text[i * step : i * step + size] for i in range(n)]  # distinct excerpts, ~21K tokens each
    repeated = [unique[i % 4] for i in range(n)]

    def body(t: str) -> bytes:
        return json.dumps({"model": "m", "messages": [{"role": "user", "content": t}]}).encode()

    convs = []
    for k in range(args.concurrency):
        conv = synthetic_conversation(args.turns, seed=100 + k, tool_every=5)
        users = [i for i, m in enumerate(conv) if m["role"] == "user"]
        convs.append([conv[: u + 1] for u in users])
    configs = [
        json.dumps({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": text[30_000 * i : 30_000 * i + 17_000], "glyph": {"render": True}}]}],
            "glyph": {"config": {"dpi": 96 + 24 * i, "font-size": 8 + i}}}).encode()
        for i in range(12)
    ]  # fmt: skip
    return {"unique": [body(t) for t in unique], "repeated": [body(t) for t in repeated], "conversation": convs,
            "configs": configs}  # fmt: skip


def run_side(name: str, src: Path, flags: list[str], upstream: str, work: dict[str, Any],
             args: argparse.Namespace, tokens: Tokens) -> list[dict[str, Any]]:  # fmt: skip
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "glyph.cli", "serve", "--upstream", upstream, "--port", str(port),
           "--log-level", "warning", "--cache-mb", str(args.cache_mb), *flags]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    try:
        wait_up(url + "/health", proc)
        sampler = RSSSampler(proc.pid)
        chat = url + "/v1/chat/completions"
        warm = Outcome("warmup")
        asyncio.run(run_pool(work["unique"][:2], chat, 2, 60, warm, tokens))  # imports, fonts, tokenizer
        idle_rss = sampler.rss()
        for scenario in ("unique", "repeated", "conversation"):
            out = Outcome(scenario)
            sampler.reset_peak()
            cpu0 = sampler.cpu()
            if scenario == "conversation":
                asyncio.run(run_conversations(work["conversation"], chat, args.max_seconds, out, tokens))
            else:
                asyncio.run(run_pool(work[scenario], chat, args.concurrency, args.max_seconds, out, tokens,
                                     probe=scenario == "unique"))  # fmt: skip
            out.cpu_s = sampler.cpu() - cpu0
            out.peak_rss_mb = sampler.peak / MiB
            rows.append({"side": name, **out.summary()})
            print(json.dumps(rows[-1]), flush=True)
        # the memory probe: twelve configs, one request each, then 5 s of idling
        out = Outcome("configs")
        before = sampler.rss()
        sampler.reset_peak()
        cpu0 = sampler.cpu()
        asyncio.run(run_pool(work["configs"], chat, 1, args.max_seconds, out, tokens))
        after = sampler.rss()
        time.sleep(5)
        out.cpu_s = sampler.cpu() - cpu0
        out.peak_rss_mb = sampler.peak / MiB
        out.extra = {"rss_before_mb": round(before / MiB, 1), "rss_after_mb": round(after / MiB, 1),
                     "rss_after_idle_mb": round(sampler.rss() / MiB, 1), "idle_rss_mb": round(idle_rss / MiB, 1)}  # fmt: skip
        rows.append({"side": name, **out.summary()})
        print(json.dumps(rows[-1]), flush=True)
        sampler.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def report(rows: list[dict[str, Any]], meta: dict[str, Any], path: Path) -> None:
    lines = [
        "# glyph serve under load (`benchmarks/gateway_load.py`)",
        "",
        f"Run {meta['date']} on {meta['machine']}; load before: `{meta['uptime_before']}`, after: "
        f"`{meta['uptime_after']}`. Command: `{meta['command']}`.",
        "",
        f"Concurrency {meta['concurrency']}; {meta['requests']} requests per scenario (at most "
        f"{meta['max_seconds']} s); texts of {meta['chars']:,} characters (~{meta['chars'] // 4.3 / 1000:.0f}K tokens); "
        f"page cache {meta['cache_mb']} MiB on every side. `after` flags: `{' '.join(meta['after_flags'])}` and "
        "`--render-concurrency 2` (1 with `--workers 2`: 2 render processes either way).",
        "",
        "Latencies are of the 200 answers; `req/s` counts 200s only; other statuses are listed below the tables.",
        "",
        "| side | scenario | ok / sent | req/s | p50 ms | p95 ms | \"hi\" p50 / p95 ms | prompt tokens | peak RSS MB | CPU s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["scenario"] == "configs":
            continue
        probe = f"{r['probe_p50_ms']} / {r['probe_p95_ms']}" if r["probe_n"] else ""
        lines.append(
            f"| {r['side']} | {r['scenario']} | {r['ok']} / {r['requests']} | {r['throughput_rps']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {probe} | {r['prompt_tokens_mean']} | {r['peak_rss_mb']} | {r['cpu_s']} |"
        )
    lines += ["", "Twelve distinct render configs, one request each (17 KB of text, dpi 96..360, font size 8..19):", "",
              "| side | RSS before MB | after MB | 5 s later MB | peak MB | statuses |", "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for r in rows:
        if r["scenario"] == "configs":
            lines.append(f"| {r['side']} | {r['rss_before_mb']} | {r['rss_after_mb']} | {r['rss_after_idle_mb']} | "
                         f"{r['peak_rss_mb']} | {r['statuses']} |")  # fmt: skip
    budget = meta["cache_mb"] + meta["render_cache_mb"]
    lines += ["", f"Memory against the budgets (`after`: page cache {meta['cache_mb']} MiB + renderer caches "
              f"{meta['render_cache_mb']} MiB = {budget} MiB per gateway worker; `before` had no renderer budget). "
              "Peak over all scenarios, minus the idle process(es) after warm-up:", "",
              "| side | idle MB | peak MB | peak - idle MB | budgets MB | peak - idle - budgets MB |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for side in dict.fromkeys(r["side"] for r in rows):
        mine = [r for r in rows if r["side"] == side]
        idle = next(r["idle_rss_mb"] for r in mine if r["scenario"] == "configs")
        peak = max(r["peak_rss_mb"] for r in mine)
        workers = 2 if "2 workers" in side else 1
        b = budget * workers if side != "before" else meta["cache_mb"]
        lines.append(f"| {side} | {idle} | {peak} | {peak - idle:.1f} | {b}{'' if side != 'before' else ' (page cache only)'} "
                     f"| {peak - idle - b:.1f} |")  # fmt: skip
    non_200 = {f"{r['side']}/{r['scenario']}": r["statuses"] for r in rows if set(r["statuses"]) - {"200"}}
    if non_200:
        lines += ["", f"Statuses other than 200: `{json.dumps(non_200)}`."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", type=Path, help="a checkout to measure as 'before' (e.g. a worktree of main)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chars", type=int, default=90_000, help="characters per text (~21K tokens)")
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation (32 conversations)")
    parser.add_argument("--max-seconds", type=float, default=150)
    parser.add_argument("--cache-mb", type=int, default=128)
    parser.add_argument("--render-cache-mb", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="after-side worker counts")
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway_load")
    parser.add_argument("--report-only", action="store_true", help="rewrite OUT.md from OUT.json, run nothing")
    args = parser.parse_args()
    if args.report_only:
        data = json.loads(args.out.with_suffix(".json").read_text())
        report(data["rows"], data["meta"], args.out.with_suffix(".md"))
        print(args.out.with_suffix(".md").read_text())
        return

    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    up_port = free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(up_port)], env={**os.environ,
                            "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    upstream = f"http://127.0.0.1:{up_port}/v1"
    after_flags = ["--render-cache-mb", str(args.render_cache_mb), "--keep-recent", "4", "--history-step", "4"]
    rows: list[dict[str, Any]] = []
    try:
        wait_up(upstream + "/models", fake)
        tokens = Tokens()
        work = workloads(args)
        if args.ref:
            rows += run_side("before", args.ref / "src", [], upstream, work, args, tokens)
        for n in args.workers:  # the same render processes in all: 2 (1 per worker with 2 workers)
            name = "after" if n == 1 else f"after, {n} workers"
            flags = [*after_flags, "--workers", str(n), "--render-concurrency", str(max(1, 2 // n))]
            rows += run_side(name, ROOT / "src", flags, upstream, work, args, tokens)
    finally:
        fake.terminate()
        fake.wait(10)
    ref_commit = None
    if args.ref:
        ref_commit = subprocess.run(["git", "-C", str(args.ref), "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()  # fmt: skip
    meta = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "uptime_before": uptime_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "command": "python benchmarks/gateway_load.py " + " ".join(sys.argv[1:]),
        "ref_commit": ref_commit,
        "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),  # fmt: skip
        "after_flags": after_flags,
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    report(rows, meta, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-fake":
        fake_upstream(int(sys.argv[2]))
    else:
        main()
