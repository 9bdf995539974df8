"""`glyph ask`: render a document, ask a VLM about it, and show what the pages cost against the text.

Before anything is sent, the pages are checked against the model's budget (pages per request,
context tokens); a document over it gets the numbers, or with ``--fit`` the first denser
config of a fixed ladder (reflow, lower dpi, smaller type) that fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from glyph.cli.common import ConfigOpt, SetOpt, app, console, fail, load_config, out, read_text
from glyph.render.config import RenderConfig
from glyph.render.pages import RenderedPage

#: Denser configs tried in order by --fit, each applied on top of the user's config; values
#: only ever lower the user's (a config already denser than a step keeps its own value).
FIT_STEPS: tuple[dict[str, Any], ...] = (
    {"reflow": True},
    {"reflow": True, "dpi": 64},
    {"reflow": True, "dpi": 56},
    {"reflow": True, "dpi": 48},
    {"reflow": True, "dpi": 48, "font-size": 8, "line-height": 9},
    {"reflow": True, "dpi": 48, "font-size": 7, "line-height": 8},
)
#: Chat-template tokens around the pages and question (GLM-4.1V's is ~10; kept generous).
TEMPLATE_SLACK = 32


@dataclass
class Budget:
    """What one request to the model may hold."""

    max_pages: int
    max_context: int
    reserved: int  # question + answer + template tokens

    @property
    def visual_room(self) -> int:
        return self.max_context - self.reserved


@dataclass
class Fitted:
    """Pages of one config, and whether they fit the budget (counting stops once they cannot)."""

    cfg: RenderConfig
    pages: list[RenderedPage]
    visual_tokens: int
    complete: bool  # False when rendering stopped early, past the budget

    def fits(self, budget: Budget) -> bool:
        return (
            self.complete and len(self.pages) <= budget.max_pages and self.visual_tokens <= budget.visual_room
        )


def render_within(text: str, cfg: RenderConfig, rule: Any, budget: Budget, max_pixels: int | None) -> Fitted:
    """Render ``text``, stopping as soon as the pages exceed the budget (no wasted work)."""
    from glyph.client import capped_size
    from glyph.render import render_pages

    pages: list[RenderedPage] = []
    visual = 0
    for page in render_pages(text, cfg):
        pages.append(page)
        visual += rule.tokens_with_wrappers(*capped_size(page.image.width, page.image.height, max_pixels))
        if len(pages) > budget.max_pages or visual > budget.visual_room:
            return Fitted(cfg, pages, visual, complete=False)
    return Fitted(cfg, pages, visual, complete=True)


def denser_configs(base: RenderConfig) -> list[tuple[dict[str, Any], RenderConfig]]:
    """The ``FIT_STEPS`` on top of ``base``, never raising its dpi or type size; duplicates dropped."""
    seen = {base.content_hash()}
    found: list[tuple[dict[str, Any], RenderConfig]] = []
    for step in FIT_STEPS:
        changes = dict(step)
        if "dpi" in changes:
            changes["dpi"] = min(changes["dpi"], base.dpi)
        if "font-size" in changes:
            changes["font-size"] = min(changes["font-size"], base.font_size)
            changes["line-height"] = min(changes["line-height"], base.leading)
        cfg = base.with_updates(**changes)
        if cfg.content_hash() not in seen:
            seen.add(cfg.content_hash())
            found.append((changes, cfg))
    return found


def _over_budget_message(fitted: Fitted, budget: Budget, rule_name: str) -> str:
    n = (
        f"more than {budget.max_pages}"
        if not fitted.complete and len(fitted.pages) > budget.max_pages
        else len(fitted.pages)
    )
    tokens = f"{fitted.visual_tokens:,}" + ("+" if not fitted.complete else "")
    return (
        f"the document renders to {n} pages, {tokens} visual tokens ({rule_name}) at this config; "
        f"the budget is {budget.max_pages} pages and {budget.max_context:,} context tokens "
        f"({budget.visual_room:,} for pages after {budget.reserved:,} for question, answer and template)"
    )


def _sets(changes: dict[str, Any]) -> str:
    return " ".join(f"--set {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in changes.items())


@app.command()
def ask(
    file: Annotated[Path, typer.Argument(help="UTF-8 text file to render ('-' reads stdin).")],
    question: Annotated[str, typer.Argument(help="What to ask about the document.")],
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="openai (any compatible server) or transformers.")
    ] = "openai",
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Server model name, or checkpoint for transformers.")
    ] = None,
    base_url: Annotated[
        str,
        typer.Option(envvar="GLYPH_BASE_URL", help="OpenAI-compatible server (vLLM, SGLang, glyph serve)."),
    ] = "http://localhost:8000/v1",
    api_key: Annotated[
        str | None, typer.Option(envvar="GLYPH_API_KEY", help="Bearer key for the server.")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    vlm: Annotated[
        str, typer.Option(help="Visual-token rule of the model (glm4v for Glyph, qwen2.5vl, ...).")
    ] = "glm4v",
    max_pages: Annotated[int, typer.Option(help="Most page images one request may carry.")] = 64,
    max_context: Annotated[
        int, typer.Option(help="Model context in tokens (GLM-4.1V / Glyph: 128K).")
    ] = 131072,
    max_tokens: Annotated[int, typer.Option(help="Room for the answer, in tokens.")] = 512,
    max_pixels: Annotated[
        int | None, typer.Option(help="openai backend: downscale pages above this many pixels.")
    ] = None,
    fit: Annotated[bool, typer.Option(help="Over budget: try denser configs until the pages fit.")] = False,
    compare_text: Annotated[bool, typer.Option(help="Also ask a text LLM with the plain text.")] = False,
    text_base_url: Annotated[str | None, typer.Option(help="Text LLM server (default: --base-url).")] = None,
    text_model: Annotated[
        str | None, typer.Option(help="Text LLM model name (default: the server's first).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    device: Annotated[str | None, typer.Option(help="transformers: cuda, mps or cpu.")] = None,
    dtype: Annotated[str | None, typer.Option(help="transformers: bf16, fp16 or fp32.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer.")] = 300,
    max_retries: Annotated[int, typer.Option(help="Retries on 429/5xx/refused connections.")] = 3,
) -> None:
    """Ask a VLM about a document it reads as rendered pages; print the answer and the token bill."""
    from glyph.client import UpstreamError
    from glyph.readers import ReaderUnavailableError, get_reader
    from glyph.tokens import TokenizerUnavailableError, get_tokenizer, get_vlm_rule

    if backend not in ("openai", "transformers"):
        fail(f"--backend must be openai or transformers, got {backend!r}")
    if backend == "transformers" and not model:
        fail("--backend transformers needs --model (a checkpoint directory or hub id)")
    cfg = load_config(config, set_)
    text = read_text(file)
    if not text.strip():
        fail(f"{file} is empty")
    try:
        rule = get_vlm_rule(vlm)
        counter = get_tokenizer("qwen")
    except (ValueError, TokenizerUnavailableError) as exc:
        fail(str(exc))
        return
    pixels = max_pixels if backend == "openai" else None
    budget = Budget(max_pages, max_context, counter.count(question) + max_tokens + TEMPLATE_SLACK)
    fitted = render_within(text, cfg, rule, budget, pixels)
    if not fitted.fits(budget):
        if not fit:
            fail(
                _over_budget_message(fitted, budget, rule.name)
                + ". Use --fit, or a denser config (--set dpi=56 --set reflow=true)."
            )
        for changes, candidate in denser_configs(cfg):
            trial = render_within(text, candidate, rule, budget, pixels)
            if trial.fits(budget):
                console.print(
                    f"[yellow]fitted:[/] {_over_budget_message(fitted, budget, rule.name)}; using {_sets(changes)} "
                    f"(config {candidate.content_hash()}): {len(trial.pages)} pages, {trial.visual_tokens:,} visual tokens"
                )
                fitted = trial
                break
        else:
            fail(
                _over_budget_message(fitted, budget, rule.name)
                + "; no denser config of --fit fits either: split the document"
            )

    options: dict[str, Any] = (
        {
            "base_url": base_url,
            "model": model,
            "api_key": api_key,
            "max_pixels": max_pixels,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        if backend == "openai"
        else {"model": model, "device": device, "dtype": dtype}
    )
    try:
        status = console.status(f"asking {model or base_url} about {len(fitted.pages)} pages")
        with get_reader(backend, **options) as reader, status:
            answer = reader.answer(fitted.pages, question, system=system, max_tokens=max_tokens)
        out.print(answer.text)
        text_tokens = counter.count(text)
        _print_bill(text_tokens, fitted, rule.name, answer.usage.prompt_tokens, answer.seconds)
        if compare_text:
            with (
                get_reader(
                    "text",
                    base_url=text_base_url or base_url,
                    model=text_model,
                    api_key=api_key,
                    timeout=timeout,
                    max_retries=max_retries,
                ) as text_reader,
                console.status("asking the text baseline"),
            ):
                baseline = text_reader.answer_text(text, question, system=system, max_tokens=max_tokens)
            out.rule("text baseline")
            out.print(baseline.text)
            _print_comparison(
                text_tokens, answer.usage.prompt_tokens, baseline.usage.prompt_tokens, baseline.seconds
            )
    except (UpstreamError, ReaderUnavailableError, ValueError) as exc:
        fail(str(exc))


def _print_bill(
    text_tokens: int, fitted: Fitted, rule_name: str, server_prompt: int | None, seconds: float
) -> None:
    visual = fitted.visual_tokens
    server = f" | server prompt tokens {server_prompt:,}" if server_prompt is not None else ""
    out.print(
        f"text tokens {text_tokens:,} (qwen) | visual tokens {visual:,} ({rule_name}, {len(fitted.pages)} pages)"
        f"{server} | ratio {text_tokens / max(visual, 1):.2f}x | {seconds:.1f} s"
    )


def _print_comparison(
    text_tokens: int, glyph_prompt: int | None, text_prompt: int | None, seconds: float
) -> None:
    if glyph_prompt is not None and text_prompt is not None:
        ratio = f" | prompt ratio {text_prompt / max(glyph_prompt, 1):.2f}x (text / pages, as the servers counted)"
    else:
        ratio = ""
    shown = f"{text_prompt:,}" if text_prompt is not None else "n/a"
    out.print(
        f"text baseline prompt tokens {shown} (server; document {text_tokens:,} qwen tokens){ratio} | {seconds:.1f} s"
    )
