"""`glyph serve` command line: options become the gateway's settings (uvicorn itself not started)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from glyph.cli import app


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: seen.update(app=application, **kw))
    return seen


def test_options_reach_the_settings(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, [
        "serve", "--upstream", "http://127.0.0.1:8001/v1", "--port", "9123", "--threshold", "99", "--max-pages", "5",
        "--max-body-mb", "1", "--timeout", "7", "--set", "dpi=96", "--upstream-model", "glyph",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    settings = started["app"].state.glyph.settings
    assert (started["host"], started["port"]) == ("127.0.0.1", 9123)
    assert settings.upstream == "http://127.0.0.1:8001/v1" and settings.upstream_model == "glyph"
    assert (settings.render_threshold_tokens, settings.max_pages, settings.timeout) == (99, 5, 7.0)
    assert settings.max_body_bytes == 1024 * 1024 and settings.render_config.dpi == 96
    assert settings.max_context_tokens == 131072  # GLM-4.1V / Glyph context by default


def test_a_backend_is_required(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "exactly one backend" in " ".join(result.output.split())
    assert "app" not in started
