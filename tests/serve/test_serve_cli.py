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


def test_hardening_and_conversation_options_reach_the_settings(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, [
        "serve", "--upstream", "http://127.0.0.1:8001/v1", "--no-config-overrides", "--render-cache-mb", "8",
        "--render-wait", "2.5", "--image-url-schemes", "data", "--keep-recent", "6", "--history-step", "3",
        "--segment-pages", "4", "--progressive", "--floor-dpi", "48", "--render-concurrency", "3", "--render-nice", "5",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    s = started["app"].state.glyph.settings
    assert s.allow_config_overrides is False and s.render_cache_bytes == 8 * 1024 * 1024
    assert (s.render_wait, s.image_url_schemes, s.render_concurrency, s.render_nice) == (2.5, ("data",), 3, 5)
    c = s.conversation
    assert (c.keep_recent, c.step, c.segment_pages, c.progressive, c.floor_dpi) == (6, 3, 4, True, 48)


def test_bad_image_url_schemes_are_refused_by_name(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["serve", "--upstream", "http://127.0.0.1:8001/v1", "--image-url-schemes", "data,file"])
    assert result.exit_code != 0 and "file" in result.output and "app" not in started


def test_workers_need_an_upstream(started: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["serve", "--model", "/nowhere", "--workers", "2"])
    assert result.exit_code != 0 and "--workers" in " ".join(result.output.split())
