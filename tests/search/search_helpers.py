"""Shared helpers for the search tests (imported as a top-level module: pytest puts this folder on sys.path).

* ``counting-synthetic``: the synthetic evaluator that appends one JSON line per real
  evaluation to a file, so tests (and other processes) can count work exactly;
* ``counting-oracle``: the oracle reader that counts its ``transcribe`` calls;
* ``FakeLLM``: a FastAPI app under uvicorn on a loopback port, answering chat completions
  with canned replies and recording each request.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from glyph.readers import register_reader
from glyph.readers.oracle import OracleReader
from glyph.render.config import RenderConfig
from glyph.search.evaluators import Evaluation, register_evaluator
from glyph.search.evaluators.synthetic import SyntheticEvaluator

#: a small space with a known optimum under the synthetic fitness (everything else pinned)
SMALL_SPACE = {
    "extends": "none",
    "constraints": {"min-line-em": 10, "min-lines": 3},
    "knobs": {
        "font-size": {"type": "float", "low": 6, "high": 12, "step": 1},
        "dpi": {"type": "int", "low": 48, "high": 96, "step": 12},
        "line-height": {"type": "float", "low": 6, "high": 14, "step": 1},
        "alignment": {"type": "categorical", "choices": ["LEFT", "JUSTIFY"]},
    },
}


class CountingSynthetic(SyntheticEvaluator):
    name = "counting-synthetic"

    def __init__(self, cache_dir: Any = None, *, count_file: str, sleep: float = 0.0, fail_after: int | None = None,
                 broken: bool = False, legible_px: float = 6.0) -> None:
        super().__init__(cache_dir, legible_px=legible_px)
        self.options.update(count_file=count_file, sleep=sleep, fail_after=fail_after, broken=broken)
        self.broken = broken
        self.count_file = Path(count_file)
        self.sleep = sleep
        self.fail_after = fail_after
        self.calls = 0

    def evaluate(self, cfg: RenderConfig) -> Evaluation:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated Ctrl-C")
        self.calls += 1
        if self.broken:
            raise RuntimeError("reader crashed")
        if self.sleep:
            time.sleep(self.sleep)
        result = super().evaluate(cfg)
        with self.count_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "hash": cfg.content_hash()}) + "\n")
        return result


def counted(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class CountingOracle(OracleReader):
    name = "counting-oracle"
    calls = 0

    def transcribe(self, pages: Sequence[Any]) -> list[str]:
        type(self).calls += 1
        return super().transcribe(pages)


register_evaluator("counting-synthetic", CountingSynthetic, "test: synthetic fitness that counts evaluations")
register_reader("counting-oracle", CountingOracle, "test: oracle that counts transcribe calls")


# ---------------------------------------------------------------------- fake LLM
class FakeLLM:
    """Canned chat completions on 127.0.0.1; ``replies`` items are strings or (status, body) pairs."""

    def __init__(self, replies: list[Any]) -> None:
        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse

        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "fake-proposer", "object": "model"}]}

        @app.post("/v1/chat/completions")
        def chat(body: dict[str, Any]) -> Any:
            self.requests.append(body)
            reply = self.replies.pop(0) if self.replies else "{}"
            if isinstance(reply, tuple):
                status, payload = reply
                return JSONResponse(payload, status_code=status)
            return {
                "id": f"fake-{len(self.requests)}", "object": "chat.completion", "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        assert self.server.started, "fake LLM server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def prompts(self) -> list[str]:
        return ["\n".join(m["content"] for m in r["messages"]) for r in self.requests]


def reply(proposals: list[dict[str, Any]], fenced: bool = False) -> str:
    text = json.dumps({"proposals": proposals})
    return f"Here are my ideas.\n```json\n{text}\n```\nGood luck!" if fenced else text
