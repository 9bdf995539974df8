"""``glyph ui --page-local CKPT --text-local CKPT``: both sides of the ask panel on a transformers
checkpoint in this process (the tiny random-weight GLM-4.1V, built locally).

The command line is run for real up to ``uvicorn.run`` (which is handed the app instead of
blocking), and that app is served on loopback. Expected prompt tokens come from the chat
template rendered by jinja, the tokenizer and the real image processor (``expected_prompt_tokens``),
not from the code under test; one checkpoint named on both sides is loaded once.
"""

# ruff: noqa: F811  (fixtures imported from the shared helpers are redefined as arguments)
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import expected_prompt_tokens, serve_app, tiny_glm, user_turn  # noqa: F401
from typer.testing import CliRunner
from ui_helpers import TEXT, TOKEN, ask_events, render_text

from glyph.cli import app as cli
from glyph.render.config import reference_default

pytest.importorskip("torch")


def test_page_local_and_text_local_answer_from_one_loaded_checkpoint(tiny_glm: Path, monkeypatch) -> None:
    import uvicorn

    from glyph.serve.backends import LocalBackend

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: served.update(app=application, **kw))
    loads: list[str] = []
    real_init = LocalBackend.__init__

    def counting_init(self: Any, settings: Any, reader: Any = None) -> None:
        loads.append(str(settings.model))
        real_init(self, settings, reader)

    monkeypatch.setattr(LocalBackend, "__init__", counting_init)
    result = CliRunner().invoke(cli, ["ui", "--page-local", str(tiny_glm), "--text-local", str(tiny_glm),
                                      "--token", TOKEN, "--max-tokens", "6", "--device", "cpu", "--port", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "page model: tiny-glm4v (local)" in result.output and "text model: tiny-glm4v (local)" in result.output
    assert loads == [str(tiny_glm)]  # the same checkpoint on both sides: loaded once
    assert served["host"] == "127.0.0.1" and served["port"] == 0

    question = "What is written on the page ?"
    with serve_app(served["app"]) as url:
        base = url.replace("127.0.0.1", "localhost")
        render_id = render_text(base)
        events = ask_events(base, render_id, question)
    done = {d["side"]: d for name, d in events if name == "done"}
    assert set(done) == {"pages", "text"} and not [d for name, d in events if name == "error"]
    assert [name for name, _ in events][-1] == "end"
    for side in ("pages", "text"):
        assert {d["model"] for n, d in events if n == "start" and d["side"] == side} == {"tiny-glm4v"}
        assert 1 <= done[side]["completion_tokens"] <= 6 and done[side]["seconds"] > 0

    # the server's own prompt counts, computed here from the template, the tokenizer and the image processor
    from glyph.readers.local_hf import load_processor
    from glyph.render import render_pages

    tokenizer = load_processor(str(tiny_glm)).tokenizer
    pages = [p.image.convert("RGB") for p in render_pages(TEXT, reference_default())]
    assert done["pages"]["prompt_tokens"] == expected_prompt_tokens("glm4v", tokenizer, user_turn(pages, question))
    text_turn = [{"role": "user", "content": [{"type": "text", "text": TEXT + "\n\n" + question}]}]
    assert done["text"]["prompt_tokens"] == expected_prompt_tokens("glm4v", tokenizer, text_turn)
    assert done["pages"]["prompt_tokens"] != done["text"]["prompt_tokens"]


def test_a_checkpoint_that_does_not_load_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ui", "--page-local", str(tmp_path / "missing"), "--token", TOKEN])
    assert result.exit_code != 0
    assert "missing" in result.output and "Traceback" not in result.output
