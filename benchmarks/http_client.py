"""glyph.client (httpx + tenacity + httpx-sse) against the ``openai`` SDK, on a loopback server.

The question (issue 10): keep the project's own client in ``glyph.client``, or adopt the SDK?
Both are asked the same things by the same scripted server, running in its own process so
the CPU figures are the client's alone:

* behaviour: 429 with ``Retry-After`` (waited for?), 503 without it (retried?), a 400 (not
  retried, message and code surfaced?), a FastAPI-style ``{"detail": ...}`` 500 (message
  surfaced?), a read timeout (raised in time, not retried: a generation that did not finish
  in ``timeout`` seconds will not finish faster the second time), a refused connection,
  16 requests with a concurrency bound of 4 (peak in flight at the server), a stream (TTFT,
  text, usage), and a gateway body with extra fields (passed through as sent?);
* cost: milliseconds per sequential call, requests/s with 16 in flight, client CPU seconds
  per 1,000 calls, and the import time of each client in a fresh interpreter.

Both clients get equivalent settings (retries, timeouts); the SDK keeps its defaults
otherwise, as a user adopting it would.

    flock /work/bench.lock python benchmarks/http_client.py   # ~1-2 minutes
    # -> benchmarks/results/http_client.md and .json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: FastAPI resolves the route's string annotations here

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STREAM_CHUNKS, STREAM_GAP = 20, 0.05
ROUNDS = 5  # cost rounds per client, alternating; the tables show medians


# ------------------------------------------------------------------------------------ the server
def build_server() -> Any:
    """The scripted upstream: ``/{scenario}/{run}/v1/chat/completions``, attempts counted per run."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()
    calls: dict[str, int] = defaultdict(int)
    live: dict[str, int] = defaultdict(int)
    peak: dict[str, int] = defaultdict(int)

    def completion(content: str) -> dict[str, Any]:
        return {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        }

    @app.get("/stats/{scenario}/{run}")
    async def stats(scenario: str, run: str) -> dict[str, int]:
        key = f"{scenario}/{run}"
        return {"calls": calls[key], "peak": peak[key]}

    @app.post("/{scenario}/{run}/v1/chat/completions")
    async def chat(scenario: str, run: str, request: Request) -> Any:
        body = await request.json()
        key = f"{scenario}/{run}"
        calls[key] += 1
        n = calls[key]
        if scenario == "retry_after" and n <= 2:
            return JSONResponse(
                {"error": {"message": "rate limited", "type": "rate_limit"}}, 429, {"Retry-After": "1"}
            )
        if scenario == "backoff_5xx" and n <= 2:
            return JSONResponse({"error": {"message": "overloaded"}}, 503)
        if scenario == "bad_request":
            return JSONResponse({"error": {"message": "image too large", "code": "bad_image"}}, 400)
        if scenario == "fastapi_error":
            return JSONResponse({"detail": "engine crashed"}, 500)
        if scenario == "slow":
            await asyncio.sleep(3)
        if scenario == "echo":
            return completion(json.dumps(sorted(body)))
        if scenario == "concurrency":
            live[key] += 1
            peak[key] = max(peak[key], live[key])
            try:
                await asyncio.sleep(0.2)
            finally:
                live[key] -= 1
        if scenario == "stream":

            async def events() -> Any:
                for i in range(STREAM_CHUNKS):
                    await asyncio.sleep(STREAM_GAP)
                    chunk = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "m",
                        "choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                usage = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 11,
                        "completion_tokens": STREAM_CHUNKS,
                        "total_tokens": 11 + STREAM_CHUNKS,
                    },
                }
                yield f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        return completion("ok")

    return app


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(build_server(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ the clients
PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


class Ours:
    label = "glyph.client"

    def __init__(
        self, base: str, *, max_retries: int = 2, timeout: float = 300.0, concurrency: int = 8
    ) -> None:
        from glyph.client import make_client

        self.client = make_client(
            base + "/v1",
            max_retries=max_retries,
            timeout=timeout,
            concurrency=concurrency,
            backoff_initial=0.5,
        )

    async def complete(self, payload: dict[str, Any] | None = None) -> str:
        return (await self.client.complete(payload or PAYLOAD)).text

    async def stream(self) -> tuple[float | None, str, int | None]:
        result = await self.client.stream_complete(PAYLOAD)
        return result.ttft, result.text, result.usage.completion_tokens

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def describe(exc: BaseException) -> str:
        code = getattr(exc, "code", None)
        return f"{type(exc).__name__}: {getattr(exc, 'message', exc)}" + (f" [code {code}]" if code else "")


class SDK:
    label = "openai SDK"

    def __init__(
        self, base: str, *, max_retries: int = 2, timeout: float = 300.0, concurrency: int = 8
    ) -> None:
        import openai

        # the SDK has no concurrency bound of its own: ``concurrency`` is ignored, as a user's would be
        self.client = openai.AsyncOpenAI(
            base_url=base + "/v1", api_key="unused", max_retries=max_retries, timeout=timeout
        )

    async def complete(self, payload: dict[str, Any] | None = None) -> str:
        response = await self.client.chat.completions.create(**(payload or PAYLOAD))
        return response.choices[0].message.content or ""

    async def stream(self) -> tuple[float | None, str, int | None]:
        start = time.perf_counter()
        first, text, tokens = None, [], None
        stream = await self.client.chat.completions.create(
            **PAYLOAD, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.delta.content:
                    first = first or time.perf_counter() - start
                    text.append(choice.delta.content)
        return first, "".join(text), tokens

    async def close(self) -> None:
        await self.client.close()

    @staticmethod
    def describe(exc: BaseException) -> str:
        code = getattr(exc, "code", None)
        return f"{type(exc).__name__}: {getattr(exc, 'message', exc)}" + (f" [code {code}]" if code else "")


# ------------------------------------------------------------------------------------ scenarios
@dataclass
class Outcome:
    ok: bool  # met the requirement
    detail: str
    seconds: float
    attempts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    requirement: str
    run: Callable[[Any, str, str], Awaitable[Outcome]]


async def _stats(server: str, scenario: str, run: str) -> dict[str, int]:
    import httpx

    async with httpx.AsyncClient() as http:
        return (await http.get(f"{server}/stats/{scenario}/{run}")).json()


def _run_id(cls: Any) -> str:
    return f"{cls.label.split()[0].replace('.', '-')}-{time.monotonic_ns()}"


async def _call(
    cls: Any, server: str, scenario: str, **settings: Any
) -> tuple[str | None, str | None, float, int]:
    run = _run_id(cls)
    client = cls(f"{server}/{scenario}/{run}", **settings)
    start = time.perf_counter()
    text = error = None
    try:
        text = await client.complete()
    except Exception as exc:  # noqa: BLE001 - the outcome is the point
        error = cls.describe(exc)
    finally:
        await client.close()
    seconds = time.perf_counter() - start
    return text, error, seconds, (await _stats(server, scenario, run))["calls"]


def scenarios() -> list[Scenario]:
    async def retry_after(cls: Any, server: str, _: str) -> Outcome:
        text, error, s, n = await _call(cls, server, "retry_after", max_retries=3)
        return Outcome(
            text == "ok" and n == 3 and s >= 2.0, f"{text or error}, {n} attempts, {s:.2f} s", s, n
        )

    async def backoff_5xx(cls: Any, server: str, _: str) -> Outcome:
        text, error, s, n = await _call(cls, server, "backoff_5xx", max_retries=3)
        return Outcome(text == "ok" and n == 3, f"{text or error}, {n} attempts, {s:.2f} s", s, n)

    async def bad_request(cls: Any, server: str, _: str) -> Outcome:
        _, error, s, n = await _call(cls, server, "bad_request", max_retries=3)
        ok = n == 1 and error is not None and "image too large" in error and "bad_image" in error
        return Outcome(ok, f"{n} attempt: {error}", s, n)

    async def fastapi_error(cls: Any, server: str, _: str) -> Outcome:
        _, error, s, n = await _call(cls, server, "fastapi_error", max_retries=0)
        return Outcome(error is not None and "engine crashed" in error, f"{error}", s, n)

    async def read_timeout(cls: Any, server: str, _: str) -> Outcome:
        _, error, s, n = await _call(cls, server, "slow", max_retries=2, timeout=0.5)
        return Outcome(error is not None and n == 1 and s < 1.2, f"{n} attempts, {s:.2f} s: {error}", s, n)

    async def refused(cls: Any, server: str, dead: str) -> Outcome:
        client = cls(dead, max_retries=2)
        start = time.perf_counter()
        try:
            await client.complete()
            error = None
        except Exception as exc:  # noqa: BLE001
            error = cls.describe(exc)
        finally:
            await client.close()
        s = time.perf_counter() - start
        return Outcome(error is not None, f"after {s:.2f} s: {error}", s)

    async def concurrency(cls: Any, server: str, _: str) -> Outcome:
        run = _run_id(cls)
        client = cls(f"{server}/concurrency/{run}", concurrency=4)
        start = time.perf_counter()
        try:
            texts = await asyncio.gather(*(client.complete() for _ in range(16)))
        finally:
            await client.close()
        s = time.perf_counter() - start
        stats = await _stats(server, "concurrency", run)
        ok = texts == ["ok"] * 16 and stats["peak"] == 4
        return Outcome(
            ok,
            f"peak {stats['peak']} in flight (bound 4), {s:.2f} s",
            s,
            stats["calls"],
            {"peak": stats["peak"]},
        )

    async def stream(cls: Any, server: str, _: str) -> Outcome:
        want = "".join(f"t{i} " for i in range(STREAM_CHUNKS))
        ttfts, seconds, intact = [], [], True
        for _ in range(ROUNDS):  # TTFT is one number per stream: the median of a few
            run = _run_id(cls)
            client = cls(f"{server}/stream/{run}")
            start = time.perf_counter()
            try:
                ttft, text, tokens = await client.stream()
            finally:
                await client.close()
            seconds.append(time.perf_counter() - start)
            ttfts.append(ttft if ttft is not None else float("inf"))
            intact = intact and text == want and tokens == STREAM_CHUNKS
        ttft, s = statistics.median(ttfts), statistics.median(seconds)
        ok = intact and ttft < 3 * STREAM_GAP + 0.1
        return Outcome(
            ok,
            f"median TTFT {ttft * 1000:.0f} ms, {s:.2f} s, text and usage {'intact' if intact else 'WRONG'}",
            s,
            extra={"ttft": ttft, "ttfts": ttfts},
        )

    async def passthrough(cls: Any, server: str, _: str) -> Outcome:
        run = _run_id(cls)
        client = cls(f"{server}/echo/{run}")
        body = {**PAYLOAD, "glyph": {"render": "never"}, "chat_template_kwargs": {"enable_thinking": False}}
        try:
            keys = json.loads(await client.complete(body))
            detail, ok = f"server got {', '.join(keys)}", {"glyph", "chat_template_kwargs"} <= set(keys)
        except Exception as exc:  # noqa: BLE001
            detail, ok = f"refused: {cls.describe(exc)[:120]} (needs extra_body=...)", False
        finally:
            await client.close()
        return Outcome(ok, detail, 0.0)

    return [
        Scenario("429 + Retry-After: 1 (twice)", "waits >= 2 s, 3 attempts, answer", retry_after),
        Scenario("503, no Retry-After (twice)", "retried with backoff, 3 attempts, answer", backoff_5xx),
        Scenario("400 OpenAI error body", "1 attempt; message and code surfaced", bad_request),
        Scenario('500 {"detail": ...} (FastAPI)', "the server's message surfaced", fastapi_error),
        Scenario("read timeout 0.5 s (server takes 3 s)", "raised within ~0.5 s, not retried", read_timeout),
        Scenario("connection refused", "retried, then a connection error", refused),
        Scenario("16 requests, concurrency 4, 0.2 s each", "at most 4 in flight at the server", concurrency),
        Scenario(
            f"stream: {STREAM_CHUNKS} chunks, {STREAM_GAP * 1000:.0f} ms apart",
            "TTFT ~ one gap, text and usage intact",
            stream,
        ),
        Scenario(
            "gateway body with extra fields", "sent as given (glyph, chat_template_kwargs)", passthrough
        ),
    ]


# ------------------------------------------------------------------------------------ cost
async def overhead(cls: Any, server: str, calls: int, in_flight: int) -> dict[str, float]:
    client = cls(f"{server}/fast/{_run_id(cls)}", concurrency=in_flight)
    try:
        await client.complete()  # warm the pool
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(calls):
            await client.complete()
        seq_wall, seq_cpu = time.perf_counter() - start, time.process_time() - cpu
        cpu, start = time.process_time(), time.perf_counter()
        sem = asyncio.Semaphore(in_flight)  # the same bound for both (the SDK has none of its own)

        async def one() -> None:
            async with sem:
                await client.complete()

        await asyncio.gather(*(one() for _ in range(calls)))
        par_wall, par_cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        await client.close()
    fresh = max(calls // 10, 5)  # a new client per call: what a sync reader does (a private loop each)
    start = time.perf_counter()
    for _ in range(fresh):
        once = cls(f"{server}/fast/{_run_id(cls)}")
        try:
            await once.complete()
        finally:
            await once.close()
    fresh_wall = time.perf_counter() - start
    return {
        "ms_per_call": 1000 * seq_wall / calls,
        "cpu_s_per_1000_sequential": 1000 * seq_cpu / calls,
        "requests_per_s_concurrent": calls / par_wall,
        "cpu_s_per_1000_concurrent": 1000 * par_cpu / calls,
        "ms_per_call_new_client": 1000 * fresh_wall / fresh,
    }


def import_seconds(statement: str, repeat: int = 5) -> float:
    """Median wall time of a fresh interpreter running ``statement`` minus one running ``pass``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        return time.perf_counter() - start

    base = statistics.median(once("pass") for _ in range(repeat))
    return statistics.median(once(statement) for _ in range(repeat)) - base


# ------------------------------------------------------------------------------------ main
async def measure(server: str, dead: str, calls: int) -> dict[str, Any]:
    out: dict[str, Any] = {"scenarios": [], "cost": {}}
    for sc in scenarios():
        row = {"scenario": sc.name, "requirement": sc.requirement}
        for cls in (Ours, SDK):
            row[cls.label] = asdict(await sc.run(cls, server, dead))
        out["scenarios"].append(row)
        print(
            f"{sc.name}: "
            + " | ".join(f"{c.label}: {'ok' if row[c.label]['ok'] else 'NO'}" for c in (Ours, SDK))
        )
    rounds: dict[str, list[dict[str, float]]] = {Ours.label: [], SDK.label: []}
    for _ in range(ROUNDS):  # alternate, so load changes on a shared machine hit both alike
        for cls in (Ours, SDK):
            rounds[cls.label].append(await overhead(cls, server, calls, 16))
    for label, runs in rounds.items():
        out["cost"][label] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return out


def write(results: dict[str, Any], path: Path) -> None:
    lines = [
        "# glyph.client vs the openai SDK",
        "",
        f"`{results['command']}` on {results['date']}, {results['machine']}; "
        f"load before: `{results['uptime_before']}`, after: `{results['uptime_after']}`.",
        f"httpx {results['versions']['httpx']}, tenacity {results['versions']['tenacity']}, "
        f"httpx-sse {results['versions']['httpx_sse']}; openai {results['versions']['openai']} "
        f"(on httpx2 {results['versions']['httpx2']}). Server: FastAPI + uvicorn in its own process, loopback.",
        "",
        "## Behaviour (each client gets the same retries and timeouts)",
        "",
        "| scenario | requirement | glyph.client | openai SDK |",
        "|---|---|---|---|",
    ]
    for row in results["scenarios"]:
        cells = []
        for label in ("glyph.client", "openai SDK"):
            o = row[label]
            cells.append(("✓ " if o["ok"] else "✗ ") + o["detail"].replace("|", "/")[:160])
        lines.append(f"| {row['scenario']} | {row['requirement']} | {cells[0]} | {cells[1]} |")
    misses = [
        r["scenario"] for r in results["scenarios"] if r["glyph.client"]["ok"] and not r["openai SDK"]["ok"]
    ]
    own = [r["scenario"] for r in results["scenarios"] if not r["glyph.client"]["ok"]]
    lines += [
        "",
        "What a user of the SDK would have to add: " + ("; ".join(misses) if misses else "nothing") + ".",
        "Requirements glyph.client misses: " + ("; ".join(own) if own else "none") + ".",
        "(The SDK keeps a non-OpenAI error body in `exc.body`, not in its message; its timeouts are retried by",
        "design, as `max_retries` counts them; a bound on requests in flight needs a semaphore of your own.)",
    ]
    ours, sdk = results["cost"]["glyph.client"], results["cost"]["openai SDK"]
    imp = results["import_seconds"]
    lines += [
        "",
        f"## Cost (median of {ROUNDS} alternating rounds of {results['calls']} calls each way; client CPU only, "
        "the server runs in another process)",
        "",
        "| | glyph.client | openai SDK | glyph.client better by |",
        "|---|---:|---:|---:|",
        f"| ms per sequential call | {ours['ms_per_call']:.2f} | {sdk['ms_per_call']:.2f} | "
        f"{sdk['ms_per_call'] / ours['ms_per_call']:.2f}x |",
        f"| client CPU s per 1,000 sequential calls | {ours['cpu_s_per_1000_sequential']:.2f} | "
        f"{sdk['cpu_s_per_1000_sequential']:.2f} | {sdk['cpu_s_per_1000_sequential'] / ours['cpu_s_per_1000_sequential']:.2f}x |",
        f"| requests/s, 16 in flight | {ours['requests_per_s_concurrent']:.0f} | {sdk['requests_per_s_concurrent']:.0f} | "
        f"{ours['requests_per_s_concurrent'] / sdk['requests_per_s_concurrent']:.2f}x |",
        f"| client CPU s per 1,000 calls, 16 in flight | {ours['cpu_s_per_1000_concurrent']:.2f} | "
        f"{sdk['cpu_s_per_1000_concurrent']:.2f} | {sdk['cpu_s_per_1000_concurrent'] / ours['cpu_s_per_1000_concurrent']:.2f}x |",
        f"| ms per call with a new client each time (sync readers) | {ours['ms_per_call_new_client']:.1f} | "
        f"{sdk['ms_per_call_new_client']:.1f} | {sdk['ms_per_call_new_client'] / ours['ms_per_call_new_client']:.2f}x |",
        f"| import time, fresh interpreter (s) | {imp['glyph.client']:.3f} | {imp['openai SDK']:.3f} | "
        f"{imp['openai SDK'] / imp['glyph.client']:.1f}x |",
        "",
        "Last column: the SDK's cost over ours, or our rate over the SDK's; below 1, the SDK is ahead.",
        "Import: `from glyph.client import make_client` (loads httpx, tenacity, httpx-sse, pydantic) against",
        "`import openai`; median of 5 fresh interpreters, minus an empty one's start-up.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, default=200, help="calls per round and client for the cost figures"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "http_client.md")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: run the server on this port
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    sys.path.insert(0, str(ROOT / "src"))
    import httpx
    import httpx2
    import httpx_sse
    import openai
    import tenacity

    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/stats/x/y", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.1)
        results = asyncio.run(measure(url, f"http://127.0.0.1:{free_port()}", args.calls))
    finally:
        server.terminate()
        server.wait(timeout=10)
    results["import_seconds"] = {
        "glyph.client": import_seconds("from glyph.client import make_client"),
        "openai SDK": import_seconds("import openai"),
    }
    results.update(
        command=f"python benchmarks/http_client.py --calls {args.calls}",
        calls=args.calls,
        date=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        uptime_before=uptime_before,
        uptime_after=subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip(),
        versions={
            "httpx": httpx.__version__,
            "httpx2": getattr(httpx2, "__version__", "?"),
            "httpx_sse": httpx_sse.__version__,
            "openai": openai.__version__,
            "tenacity": getattr(tenacity, "__version__", "9"),
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write(results, args.out)
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
