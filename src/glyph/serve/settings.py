"""Gateway settings: which backend, how pages are rendered, and the limits that keep it up.

Defaults fit Glyph (GLM-4.1V-9B-Base, 128K context) behind vLLM: documents over 2,048 text
tokens are rendered with the reference config, at most 64 pages per request.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from glyph.render.config import RenderConfig, reference_default
from glyph.serve.conversation import ConversationPolicy

#: Schemes an operator may allow for client images; file, ftp and the like never reach the upstream.
IMAGE_URL_SCHEMES = ("data", "https", "http")

MiB = 1024 * 1024


class ServeSettings(BaseModel):
    """Everything ``create_app`` needs; exactly one of ``upstream`` and ``model`` is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- backend: an OpenAI-compatible server, or a local checkpoint run in-process
    upstream: str | None = Field(None, description="base URL of an OpenAI-compatible server")
    upstream_api_key: str | None = None
    upstream_model: str | None = Field(None, description="model name sent upstream (default: the client's)")
    model: str | None = Field(None, description="local checkpoint directory or hub id (transformers)")
    device: str | None = None
    dtype: str | None = None
    served_model_name: str | None = Field(None, description="id in /v1/models for a local model")
    default_max_tokens: int = Field(1024, ge=1, description="local backend, when a request sets none")

    # --- rendering
    render_config: RenderConfig = Field(default_factory=reference_default)
    render_threshold_tokens: int = Field(2048, ge=1, description="text parts with more tokens are rendered")
    vlm: str = Field("glm4v", description="visual-token rule for the stats (glyph.tokens.get_vlm_rule)")
    text_tokenizer: str = Field("qwen", description="text-token counter (glyph.tokens.get_tokenizer)")
    allow_config_overrides: bool = Field(True, description="accept per-request render config changes")
    cache_bytes: int = Field(512 * MiB, ge=0, description="rendered-page LRU budget")
    render_cache_bytes: int = Field(
        64 * MiB, ge=0, description="renderer caches (glyph atlases per config), LRU within this budget"
    )
    render_concurrency: int = Field(2, ge=1, description="documents rendered at once (CPU work)")
    render_processes: bool = Field(
        False, description="render in worker processes, one per slot (glyph serve's default), not threads"
    )
    render_nice: int = Field(
        10, ge=0, le=19, description="niceness of render processes: on a busy CPU the event loop runs first"
    )
    render_wait: float = Field(
        10.0, gt=0, description="seconds a request may wait for a render slot; then 503 with Retry-After"
    )
    conversation: ConversationPolicy = Field(
        default_factory=ConversationPolicy, description="how multi-turn requests are compressed (off by default)"
    )

    # --- limits
    max_body_bytes: int = Field(32 * MiB, ge=1024)
    max_pages: int = Field(64, ge=1, description="images per request, rendered pages included")
    max_context_tokens: int = Field(131072, ge=1, description="estimated prompt + max_tokens must fit")
    max_page_pixels: int = Field(4096 * 4096, ge=1, description="per rendered page (dpi overrides)")
    timeout: float = Field(300.0, gt=0, description="seconds for an upstream answer or a local generation")
    connect_timeout: float = Field(10.0, gt=0)
    max_retries: int = Field(2, ge=0, description="upstream retries on 429/5xx/refused connections")
    backoff_initial: float = Field(0.5, ge=0)
    concurrency: int = Field(16, ge=1, description="upstream requests in flight")
    api_key: str | None = Field(
        None, repr=False, description="require 'Authorization: Bearer <key>' on every route but /health"
    )
    image_url_schemes: tuple[str, ...] = Field(
        ("data", "https"), description="image_url schemes clients may send (the upstream fetches the others)"
    )
    max_json_depth: int = Field(64, ge=4, le=512, description="deepest nesting of a request body")

    @model_validator(mode="after")
    def _one_backend(self) -> ServeSettings:
        if (self.upstream is None) == (self.model is None):
            raise ValueError(
                "set exactly one backend: upstream (an OpenAI-compatible URL) or model (a local checkpoint)"
            )
        return self

    @field_validator("image_url_schemes")
    @classmethod
    def _known_schemes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        schemes = tuple(dict.fromkeys(v.strip().lower().removesuffix(":") for v in value if v.strip()))
        bad = [v for v in schemes if v not in IMAGE_URL_SCHEMES]
        if bad:
            raise ValueError(f"image_url_schemes: {', '.join(bad)} not among {', '.join(IMAGE_URL_SCHEMES)}")
        return schemes

    @property
    def backend_kind(self) -> str:
        return "upstream" if self.upstream else "local"

    @property
    def model_name(self) -> str:
        """What /v1/models lists for a local model."""
        return self.served_model_name or Path(str(self.model)).name or str(self.model)
