"""Connection settings for one OpenAI-compatible server, validated once for every caller.

Why pydantic: readers take these from ``--reader-opt key=value`` strings, the gateway from its
own settings, the search from a stored study; one model coerces ``"8"`` to 8 and refuses
``concurrency=0`` or an unknown key with the field's name, whoever the caller is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL with a path is kept as given."""
    url = str(url).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must look like http://host:port[/v1], got {url!r}")
    return url if parts.path not in ("", "/") else url + "/v1"


class HttpSettings(BaseModel):
    """How to reach one OpenAI-compatible server: where, with which key, how patiently."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="http://host:port[/v1]; /v1 is added when no path is given")
    api_key: str | None = Field(None, repr=False, description="sent as 'Authorization: Bearer <key>'")
    timeout: float = Field(300.0, gt=0, description="seconds for a whole answer (read timeout between bytes)")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to open a connection")
    concurrency: int = Field(8, ge=1, description="requests in flight at once (streams hold a slot)")
    max_retries: int = Field(3, ge=0, description="extra attempts on 429/5xx/refused connections")
    backoff_initial: float = Field(0.5, ge=0, description="seconds; doubles each retry, plus jitter")
    backoff_max: float = Field(8.0, ge=0, description="cap on one wait, Retry-After included")

    @field_validator("base_url")
    @classmethod
    def _normalized(cls, value: str) -> str:
        return normalize_base_url(value)


def resolve_api_key(api_key: str | None, env: Sequence[str] = ()) -> str | None:
    """``api_key`` if given, else the first of the ``env`` variables that is set and non-empty."""
    return api_key or next((os.environ[name] for name in env if os.environ.get(name)), None)


def settings_error(exc: ValidationError) -> str:
    """A one-line message naming each bad setting and the value given (never the API key)."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        given = "" if field == "api_key" or err.get("type") == "missing" else f" (got {err.get('input')!r})"
        parts.append(f"{field}: {message}{given}")
    return "invalid HTTP client settings: " + "; ".join(parts)
