"""What ``glyph ui`` is allowed to do: endpoints, sources, limits. Fixed at start, never set by the page.

Why the page cannot choose endpoints or files: the playground is a web server, and a page
that could name any URL or path would let whoever reaches it make the server call other hosts
(with the configured API keys) or read files. Everything reachable is named here, by the person
who started it, on the command line or in the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

MiB = 1024 * 1024


class Side(BaseModel):
    """One model the "ask" panel talks to: an OpenAI-compatible endpoint, or a local checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(None, description="base URL of an OpenAI-compatible server")
    model: str | None = Field(None, description="model name sent to the server (default: its first)")
    api_key: str | None = Field(None, repr=False)
    local: str | None = Field(None, description="a transformers checkpoint run in this process")

    @model_validator(mode="after")
    def _one_backend(self) -> Side:
        if (self.url is None) == (self.local is None):
            raise ValueError("a model is either a URL (an OpenAI-compatible server) or a local checkpoint")
        return self

    @property
    def label(self) -> str:
        if self.local:
            return f"{Path(self.local).name} (local)"
        return f"{self.model or 'first model'} at {self.url}"


class UISettings(BaseModel):
    """Everything ``create_app`` needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    token: str | None = Field(None, repr=False, description="required from the browser (cookie) unless None")

    # --- ask
    page: Side | None = None
    text: Side | None = None
    vlm: str = Field("glm4v", description="visual-token rule of the page model (estimates, budget)")
    max_tokens: int = Field(512, ge=1, le=32768, description="answer budget of each model")
    max_pixels: int | None = Field(None, ge=1, description="downscale pages above this many pixels")
    max_context: int = Field(131072, ge=1)
    max_pages_asked: int = Field(64, ge=1, description="page images one question may carry")
    timeout: float = Field(300.0, gt=0)
    max_retries: int = Field(2, ge=0)
    device: str | None = None
    dtype: str | None = None

    # --- what can be opened
    studies: tuple[str, ...] = Field((), description="search export folders, Optuna storage URLs or .db files")
    runs: tuple[Path, ...] = Field((), description="glyph eval result folders (or folders of them)")
    configs: tuple[Path, ...] = Field((), description="extra config files offered as presets")
    reader: str = Field("ocr", description="reader of the read-back panel")

    # --- limits
    max_text_chars: int = Field(2_000_000, ge=1)
    max_upload_bytes: int = Field(8 * MiB, ge=1)
    max_page_pixels: int = Field(4096 * 4096, ge=1, description="one page, width x height")
    max_render_pixels: int = Field(400_000_000, ge=1, description="all pages of one render")
    cache_bytes: int = Field(512 * MiB, ge=0, description="rendered pages and documents kept")
    render_concurrency: int = Field(2, ge=1)
    read_concurrency: int = Field(1, ge=1)
    ask_concurrency: int = Field(2, ge=1)

    @property
    def loopback(self) -> bool:
        """Bound to this machine only (the browser, not the network, is the only client)."""
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
