"""`glyph ask` end to end: against `glyph serve` on the tiny GLM model, a fake text LLM, and in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import (
    FakeUpstream,
    completion,
    expected_prompt_tokens,
    json_response,
    processor_image_tokens,
    user_turn,
)
from typer.testing import CliRunner

from glyph.cli import app
from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.tokens import get_tokenizer

QUESTION = "What is written on the page ?"
DOC = " ".join(f"Paul Graham essay number {i} says how to do great work." for i in range(450))  # 3 pages


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ask") / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # undo rich's line wrapping


def visual_tokens(images: list[Any]) -> int:
    return sum(t + 2 for t in processor_image_tokens("glm4v", images))


def test_ask_prints_answer_and_the_token_bill(doc: Path, glm_gateway: str, glm_reader: Any) -> None:
    code, out = run(
        "ask", str(doc), QUESTION, "--base-url", glm_gateway, "--model", "tiny-glm", "--max-tokens", "3"
    )
    assert code == 0, out
    images = [p.image for p in render_pages(DOC, reference_default())]
    prompt = expected_prompt_tokens("glm4v", glm_reader.processor.tokenizer, user_turn(images, QUESTION))
    text_tokens = get_tokenizer("qwen").count(DOC)
    assert f"text tokens {text_tokens:,} (qwen)" in out
    assert f"visual tokens {visual_tokens(images):,} (glm4v, 3 pages)" in out
    assert f"server prompt tokens {prompt:,}" in out
    assert f"ratio {text_tokens / visual_tokens(images):.2f}x" in out


def test_over_budget_fails_with_the_numbers_and_sends_nothing(doc: Path) -> None:
    code, out = run("ask", str(doc), QUESTION, "--base-url", "http://127.0.0.1:9", "--max-pages", "2")
    assert code == 2
    assert "more than 2 pages" in out and "the budget is 2 pages and 131,072 context tokens" in out
    assert "--fit" in out


def test_fit_steps_to_the_first_denser_config_that_fits(doc: Path, glm_gateway: str, glm_reader: Any) -> None:
    base = reference_default()
    at72 = visual_tokens([p.image for p in render_pages(DOC, base.with_updates(reflow=True))])
    dpi64 = [p.image for p in render_pages(DOC, base.with_updates(reflow=True, dpi=64))]
    assert visual_tokens(dpi64) < at72 - 200  # room for a budget between the two
    reserved = get_tokenizer("qwen").count(QUESTION) + 3 + 32
    budget = reserved + (at72 + visual_tokens(dpi64)) // 2
    code, out = run(
        "ask", str(doc), QUESTION, "--base-url", glm_gateway, "--model", "tiny-glm", "--max-tokens", "3",
        "--max-context", str(budget), "--fit",
    )  # fmt: skip
    assert code == 0, out
    assert "using --set reflow=true --set dpi=64" in out
    assert f"visual tokens {visual_tokens(dpi64):,} (glm4v, 3 pages)" in out
    prompt = expected_prompt_tokens("glm4v", glm_reader.processor.tokenizer, user_turn(dpi64, QUESTION))
    assert f"server prompt tokens {prompt:,}" in out  # the server really got the denser pages


def test_fit_gives_up_clearly_when_nothing_fits(doc: Path) -> None:
    code, out = run(
        "ask", str(doc), QUESTION, "--base-url", "http://127.0.0.1:9", "--max-pages", "1", "--fit"
    )
    assert code == 2 and "no denser config of --fit fits either" in out


def test_compare_text_asks_the_text_baseline_too(doc: Path, glm_gateway: str) -> None:
    fake = FakeUpstream(
        lambda body, n: json_response(completion("baseline answer", prompt_tokens=4321)), model="text-llm"
    )
    with fake.running() as text_url:
        code, out = run(
            "ask", str(doc), QUESTION, "--base-url", glm_gateway, "--model", "tiny-glm", "--max-tokens", "3",
            "--compare-text", "--text-base-url", text_url,
        )  # fmt: skip
    assert code == 0, out
    assert "baseline answer" in out and "text baseline prompt tokens 4,321" in out
    assert fake.requests[0]["messages"] == [{"role": "user", "content": DOC + "\n\n" + QUESTION}]


def test_transformers_backend_runs_the_checkpoint_in_process(
    doc: Path, tiny_glm: Path, glm_reader: Any
) -> None:
    code, out = run(
        "ask", str(doc), QUESTION, "--backend", "transformers", "--model", str(tiny_glm), "--max-tokens", "2"
    )
    assert code == 0, out
    images = [p.image for p in render_pages(DOC, reference_default())]
    prompt = expected_prompt_tokens("glm4v", glm_reader.processor.tokenizer, user_turn(images, QUESTION))
    assert f"server prompt tokens {prompt:,}" in out


def test_unreachable_server_is_a_clean_error(doc: Path) -> None:
    code, out = run(
        "ask", str(doc), QUESTION, "--base-url", "http://127.0.0.1:9", "--model", "m", "--max-retries", "0"
    )
    assert code == 2 and "cannot reach http://127.0.0.1:9/v1" in out
