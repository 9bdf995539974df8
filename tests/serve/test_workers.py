"""`glyph serve --workers 2`: two gateway processes behind one port, started as a user would start them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from loopback import FakeUpstream, completion, json_response

from glyph.data import synthetic_conversation
from glyph.serve.conversation import HISTORY_NOTE

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_workers_share_one_port_and_render_the_same_pages() -> None:
    fake = FakeUpstream(lambda body, n: json_response(completion("ok")))
    port = free_port()
    with fake.running() as up:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        cmd = [sys.executable, "-m", "glyph.cli", "serve", "--upstream", up, "--port", str(port), "--workers", "2",
               "--api-key", "k", "--log-level", "warning"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer k"}
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[-2000:]
                time.sleep(0.2)
            conversation = synthetic_conversation(8, tool_every=0)
            body = {"messages": [*conversation, {"role": "user", "content": "And then?"}], "glyph": {"keep_recent": 1}}
            workers: set[int] = set()
            histories: list[list[str]] = []
            for _ in range(40):  # a new connection each time: the kernel picks the worker
                with httpx.Client(timeout=60, headers=auth) as client:
                    workers.add(client.get(base + "/v1/glyph/stats").json()["worker"])
                    r = client.post(base + "/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
                sent = fake.requests[-1]["messages"][0]["content"]
                assert sent[0]["text"] == HISTORY_NOTE
                histories.append([p["image_url"]["url"] for p in sent if p["type"] == "image_url"])
                if len(workers) == 2 and len(histories) >= 6:
                    break
            assert len(workers) == 2, "every request reached the same worker"
            assert all(h == histories[0] for h in histories)  # identical pages whichever worker rendered
            assert httpx.get(base + "/v1/models").status_code == 401  # the key holds in every worker
        finally:
            proc.terminate()
            proc.wait(20)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit may wait for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_render_processes_exit_when_the_gateway_is_killed() -> None:
    """SIGKILL runs no shutdown hook: the render processes must notice their parent is gone."""
    fake = FakeUpstream(lambda body, n: json_response(completion("ok")))
    port = free_port()
    with fake.running() as up:
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        cmd = [sys.executable, "-m", "glyph.cli", "serve", "--upstream", up, "--port", str(port),
               "--render-concurrency", "2", "--log-level", "warning"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[-2000:]
                time.sleep(0.2)
            part = {"type": "text", "text": "A short document. " * 50, "glyph": {"render": True}}
            r = httpx.post(base + "/v1/chat/completions", json={"messages": [{"role": "user", "content": [part]}]},
                           timeout=60)  # fmt: skip
            assert r.status_code == 200, r.text
            pids = httpx.get(base + "/v1/glyph/stats", timeout=10).json()["render_workers"]
            assert pids and all(_running(p) for p in pids)
        finally:
            proc.kill()
            proc.wait(20)
        deadline = time.monotonic() + 15
        while any(_running(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in pids if _running(p)]
        for p in left:  # do not leave them behind for the rest of the suite
            os.kill(p, 9)
        assert not left, f"render processes {left} outlived the gateway"
