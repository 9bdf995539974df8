"""`glyph ui`: the playground, a local web page over the library (render, measure, read back, ask)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from glyph.cli.common import app, console, fail

MiB = 1024 * 1024


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    host: Annotated[
        str, typer.Option(help="Address to listen on. Anything but loopback exposes the playground to the network.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(envvar="GLYPH_UI_TOKEN", help="Token the browser must present (default: a new random one)."),
    ] = None,
    no_token: Annotated[bool, typer.Option("--no-token", help="No token (loopback only).")] = False,
    page_url: Annotated[
        str | None, typer.Option(envvar="GLYPH_PAGE_URL", help="Page model: OpenAI-compatible VLM server (vLLM, glyph serve).")
    ] = None,
    page_model: Annotated[str | None, typer.Option(help="Page model name (default: the server's first).")] = None,
    page_api_key: Annotated[str | None, typer.Option(envvar="GLYPH_PAGE_API_KEY", help="Bearer key of the page server.")] = None,
    page_local: Annotated[
        str | None, typer.Option(help="Or: a local VLM checkpoint run with transformers (needs glyph-vtc\\[local]).")
    ] = None,
    text_url: Annotated[
        str | None, typer.Option(envvar="GLYPH_TEXT_URL", help="Text model: OpenAI-compatible LLM server.")
    ] = None,
    text_model: Annotated[str | None, typer.Option(help="Text model name (default: the server's first).")] = None,
    text_api_key: Annotated[str | None, typer.Option(envvar="GLYPH_TEXT_API_KEY", help="Bearer key of the text server.")] = None,
    text_local: Annotated[str | None, typer.Option(help="Or: a local checkpoint for the text side (a VLM answers text too).")] = None,
    vlm: Annotated[str, typer.Option(help="Visual-token rule of the page model (glm4v for Glyph).")] = "glm4v",
    max_tokens: Annotated[int, typer.Option(help="Answer budget of each model, tokens.")] = 512,
    max_pages: Annotated[int, typer.Option(help="Most page images one question sends.")] = 64,
    max_context: Annotated[int, typer.Option(help="Model context, tokens.")] = 131072,
    max_pixels: Annotated[int | None, typer.Option(help="Downscale pages above this many pixels before sending.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds for a complete answer.")] = 300,
    study: Annotated[
        list[str] | None,
        typer.Option(help="glyph search study to open: export folder (or a folder of them), .db file or storage URL (repeatable)."),
    ] = None,
    runs: Annotated[
        list[Path] | None, typer.Option(help="glyph eval results folder, or a folder of them (repeatable).")
    ] = None,
    config: Annotated[
        list[Path] | None, typer.Option("--config", "-c", help="Config file offered as a preset (repeatable).")
    ] = None,
    reader: Annotated[str, typer.Option(help="Reader of the read-back panel.")] = "ocr",
    max_chars: Annotated[int, typer.Option(help="Longest text accepted, characters.")] = 2_000_000,
    max_upload_mb: Annotated[float, typer.Option(help="Largest uploaded file, MiB.")] = 8,
    cache_mb: Annotated[float, typer.Option(help="Memory for rendered pages and texts, MiB.")] = 512,
    device: Annotated[str | None, typer.Option(help="Local models: cuda, mps or cpu.")] = None,
    dtype: Annotated[str | None, typer.Option(help="Local models: bf16, fp16 or fp32.")] = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """The playground in your browser: pages, token bill, read-back, and a page model beside a text model.

    Paste text, upload a file or pick an example; move the typography controls and watch the pages, the token bill and the compression change; read a page back with the errors marked; ask a page model and a text model the same question side by side; open search studies and eval runs.

    Models are named here (flags, or GLYPH_PAGE_URL / GLYPH_TEXT_URL), never by the page. It listens on 127.0.0.1 and prints a URL with a token: only a browser that opened that URL gets in.
    """
    import uvicorn
    from pydantic import ValidationError

    from glyph.readers import ReaderUnavailableError
    from glyph.ui import Side, UISettings, asgi_app
    from glyph.ui.settings import is_loopback

    if no_token and not is_loopback(host):
        fail(f"--no-token is allowed on loopback only; --host {host} would let anyone on the network in")
    secret = None if no_token else (token or secrets.token_urlsafe(24))
    try:
        page = Side(url=page_url, model=page_model, api_key=page_api_key, local=page_local) if (page_url or page_local) else None
        text = Side(url=text_url, model=text_model, api_key=text_api_key, local=text_local) if (text_url or text_local) else None
        settings = UISettings(
            host=host, token=secret, page=page, text=text, vlm=vlm, max_tokens=max_tokens, max_pages_asked=max_pages,
            max_context=max_context, max_pixels=max_pixels, timeout=timeout, studies=tuple(study or ()),
            runs=tuple(runs or ()), configs=tuple(config or ()), reader=reader, max_text_chars=max_chars,
            max_upload_bytes=int(max_upload_mb * MiB), cache_bytes=int(cache_mb * MiB), device=device, dtype=dtype,
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()))
        return
    try:
        application = asgi_app(settings)
    except (ReaderUnavailableError, ValueError) as exc:
        fail(str(exc))
        return
    shown = "localhost" if is_loopback(host) else host
    url = f"http://{shown}:{port}/" + (f"?token={secret}" if secret else "")
    console.print(f"glyph playground: [bold]{url}[/]")
    if page or text:
        for kind, side in (("page model", page), ("text model", text)):
            if side:
                console.print(f"  {kind}: {side.label}")
    else:
        console.print("  [dim]no models configured: --page-url / --text-url enable the ask panel[/]")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    uvicorn.run(application, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=3)
