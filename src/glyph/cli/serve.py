"""`glyph serve`: the OpenAI-compatible gateway in front of a VLM (upstream URL or local checkpoint)."""

from __future__ import annotations

from typing import Annotated

import typer

from glyph.cli.common import ConfigOpt, SetOpt, app, console, fail, load_config

MiB = 1024 * 1024


@app.command()
def serve(
    upstream: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible server to forward to, e.g. http://localhost:8000/v1 (vLLM)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Or: a local checkpoint (directory or hub id) run with transformers.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    threshold: Annotated[
        int, typer.Option(help="Render user text parts longer than this many text tokens (Qwen BPE).")
    ] = 2048,
    vlm: Annotated[str, typer.Option(help="Visual-token rule for the reported stats.")] = "glm4v",
    upstream_model: Annotated[
        str | None, typer.Option(help="Model name to send upstream (default: the client's).")
    ] = None,
    upstream_api_key: Annotated[
        str | None, typer.Option(envvar="GLYPH_UPSTREAM_API_KEY", help="Bearer key for the upstream.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="GLYPH_API_KEY", help="Require this bearer key from clients.")
    ] = None,
    served_model_name: Annotated[
        str | None, typer.Option(help="Model id a local model is listed as.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Local model: cuda, mps or cpu (default: best).")] = None,
    dtype: Annotated[
        str | None, typer.Option(help="Local model: bf16, fp16 or fp32 (default: by device).")
    ] = None,
    max_pages: Annotated[int, typer.Option(help="Images per request, rendered pages included.")] = 64,
    max_context: Annotated[
        int, typer.Option(help="Context tokens of the model (GLM-4.1V / Glyph: 128K).")
    ] = 131072,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB.")] = 32,
    timeout: Annotated[
        float, typer.Option(help="Seconds for an upstream answer or a local generation.")
    ] = 300,
    max_retries: Annotated[int, typer.Option(help="Upstream retries on 429/5xx/refused connections.")] = 2,
    concurrency: Annotated[int, typer.Option(help="Upstream requests in flight.")] = 16,
    cache_mb: Annotated[float, typer.Option(help="Rendered-page cache (documents and history pages), MiB.")] = 512,
    render_cache_mb: Annotated[
        float, typer.Option(help="Renderer caches (a glyph atlas per render config), MiB; least recently used out.")
    ] = 64,
    render_concurrency: Annotated[int, typer.Option(help="Documents rendered at once (CPU work).")] = 2,
    render_processes: Annotated[
        bool, typer.Option(help="Render in worker processes (one per slot) so the event loop never waits on them.")
    ] = True,
    render_nice: Annotated[
        int,
        typer.Option(min=0, max=19, help="Niceness of render processes, so the event loop runs first on a busy CPU."),
    ] = 10,
    render_wait: Annotated[
        float, typer.Option(help="Seconds a request may wait for a render slot; then 503 with Retry-After.")
    ] = 10,
    config_overrides: Annotated[
        bool, typer.Option(help="Let requests change the render config (\"glyph\": {\"config\": ...}).")
    ] = True,
    image_url_schemes: Annotated[
        str, typer.Option(help="Comma-separated image_url schemes clients may send: data, https, http.")
    ] = "data,https",
    keep_recent: Annotated[
        int | None, typer.Option(help="Conversation policy: keep the last N messages as text, render older ones.")
    ] = None,
    keep_recent_tokens: Annotated[
        int | None, typer.Option(help="Or: keep as many trailing messages as fit in N text tokens.")
    ] = None,
    history_step: Annotated[
        int, typer.Option(help="The rendered history grows by this many messages at a time (prefix caching).")
    ] = 4,
    segment_pages: Annotated[int, typer.Option(help="Pages per history segment (each rendered on its own).")] = 8,
    progressive: Annotated[
        bool, typer.Option(help="Render older history segments denser, down to --floor-dpi.")
    ] = False,
    floor_dpi: Annotated[
        int | None, typer.Option(help="Densest dpi progressive resolution and token budgets may use.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Gateway processes behind the one port (uvicorn workers; caches are per worker).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve /v1/chat/completions, rendering long text parts into page images for the VLM.

    Only user messages are rendered: text parts over --threshold tokens (when pages are cheaper).

    Per part: "glyph": {"render": true} always renders it, {"render": false} never.

    Per request: "glyph": {"render": "auto"|"never", "threshold_tokens": N, "config": {...}}.

    Conversations (--keep-recent N, or per request "glyph": {"keep_recent": N}): the last N messages stay text; older turns, a long system prompt and tool outputs become pages with each turn's role on them ("User: ...", "Assistant: ..."), rendered append-only so earlier pages never change (cache and upstream prefix-cache hits). Per request also "keep_recent_tokens", "step", "progressive" and "budget": N (prompt tokens): the gateway renders more, then denser (to --floor-dpi), or answers 413 with the smallest budget it can meet.

    Limits: pages (--max-pages) and context (--max-context) are checked on lower bounds before any rendering; every route but GET /health needs --api-key when set.

    Replies carry usage.text_tokens_saved and a "glyph" object (pages, visual tokens, ratio).
    """
    import uvicorn
    from pydantic import ValidationError

    from glyph.readers.base import ReaderUnavailableError
    from glyph.serve import ServeSettings, create_app
    from glyph.serve.conversation import ConversationPolicy

    cfg = load_config(config, set_)
    try:
        settings = ServeSettings(
            upstream=upstream,
            model=model,
            upstream_model=upstream_model,
            upstream_api_key=upstream_api_key,
            api_key=api_key,
            served_model_name=served_model_name,
            device=device,
            dtype=dtype,
            render_config=cfg,
            render_threshold_tokens=threshold,
            vlm=vlm,
            max_pages=max_pages,
            max_context_tokens=max_context,
            max_body_bytes=int(max_body_mb * MiB),
            timeout=timeout,
            max_retries=max_retries,
            concurrency=concurrency,
            cache_bytes=int(cache_mb * MiB),
            render_cache_bytes=int(render_cache_mb * MiB),
            render_concurrency=render_concurrency,
            render_processes=render_processes and model is None,
            render_wait=render_wait,
            render_nice=render_nice,
            allow_config_overrides=config_overrides,
            image_url_schemes=tuple(image_url_schemes.split(",")),
            conversation=ConversationPolicy(
                keep_recent=keep_recent,
                keep_recent_tokens=keep_recent_tokens,
                step=history_step,
                segment_pages=segment_pages,
                progressive=progressive,
                floor_dpi=floor_dpi,
            ),
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()))
        return
    if workers > 1:
        from glyph.serve import workers as worker_pool

        if settings.model is not None:
            fail("--workers > 1 needs --upstream: each worker would load its own copy of a local model")
            return
        console.print(f"glyph serve: http://{host}:{port}/v1 -> {settings.upstream} ({workers} workers)")
        worker_pool.run(settings, host=host, port=port, workers=workers, log_level=log_level)
        return
    try:
        application = create_app(settings)
    except (ReaderUnavailableError, ValueError) as exc:
        fail(str(exc))
        return
    backend = application.state.glyph.backend
    target = settings.upstream if settings.upstream else f"{settings.model} (local, {backend.reader.device})"
    console.print(f"glyph serve: http://{host}:{port}/v1 -> {target}")
    uvicorn.run(application, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
