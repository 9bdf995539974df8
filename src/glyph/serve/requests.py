"""What a client may send: the body read within its byte limit, strict JSON, the fields the gateway reads.

Every way a body can be malformed is a 400 naming what is wrong (never a 500, never a dropped
connection): invalid UTF-8 or JSON, ``NaN``/``Infinity`` (not JSON, and upstreams choke on them),
nesting deeper than ``--max-json-depth`` (Python's parser would raise ``RecursionError``), and lone
UTF-16 surrogates (``"\\ud800"`` parses, then fails the first time the text is encoded).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from glyph.serve.conversation import ConversationOptions
from glyph.serve.errors import GatewayError

__all__ = ["ChatRequest", "GlyphOptions", "parse_json", "read_body", "validation_message"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class GlyphOptions(ConversationOptions):
    """The request-level ``glyph`` extension object (conversation fields from :class:`ConversationOptions`)."""

    model_config = ConfigDict(extra="forbid")

    render: Literal["auto", "never"] = "auto"
    threshold_tokens: int | None = Field(None, ge=1)
    config: dict[str, Any] | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields the gateway reads; everything else passes through to the backend untouched."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    glyph: GlyphOptions | None = None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise GatewayError(
            413, f"request body of {int(declared):,} bytes exceeds the {limit:,}-byte limit", code="request_too_large"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(413, f"request body exceeds the {limit:,}-byte limit", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Strict JSON: a 400 for anything a standard parser would refuse or a later step would trip on."""
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise GatewayError(400, f"request body nests deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise GatewayError(400, f"request body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise GatewayError(400, f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # NaN / Infinity
        raise GatewayError(400, f"request body is not valid JSON: {exc}") from None
    _check_tree(data, max_depth, surrogates=_SURROGATE_ESCAPE.search(raw) is not None)
    return data


def _check_tree(data: Any, max_depth: int, surrogates: bool) -> None:
    """Nesting depth, and (when the raw body had a surrogate escape) strings that are not valid Unicode."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "body")]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            if surrogates and isinstance(node, str):
                _check_string(node, where)
            continue
        if depth > max_depth:
            raise GatewayError(400, f"request body nests deeper than {max_depth} levels (at {where})")
        for key, value in items:
            path = f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"
            if surrogates and isinstance(key, str):
                _check_string(key, where)
            if isinstance(value, (dict, list)) or (surrogates and isinstance(value, str)):
                stack.append((value, depth + 1, path))


def _check_string(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise GatewayError(
            400, f"{where.removeprefix('body.')}: lone UTF-16 surrogate \\u{ord(text[exc.start]):04x} "
            f"at character {exc.start} (not valid Unicode)"
        ) from None


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"invalid request: {where}: {first.get('msg')}" + (
        f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )
