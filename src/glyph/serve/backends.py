"""What the gateway forwards to: an OpenAI-compatible upstream, or a local transformers model.

Both speak the same shape: ``complete(body) -> chat.completion dict``, ``stream(body)`` (an
async context manager over SSE lines, entered before the response starts so that failures
still become proper error statuses), ``models()``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from PIL import Image

from glyph.client import make_client
from glyph.render.raster import save_png
from glyph.serve.errors import GatewayError
from glyph.serve.settings import ServeSettings


# ------------------------------------------------------------------------------------ page forms
def png_data_url(image: Image.Image) -> str:
    """A page as a PNG data URL; gray pages as 1-channel PNG (same pixels, a third of PIL's encoding time)."""
    buf = io.BytesIO()
    save_png(image, buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_url_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def rgb_image(image: Image.Image) -> Image.Image:
    return image.convert("RGB")


def image_part(image: Image.Image) -> dict[str, Any]:
    return {"type": "image", "image": image}


#: What each backend kind sends a page as: (payload of a page image, content part of a payload).
#: Module functions, so render worker processes use them without building a backend.
PAGE_FORMS = {"upstream": (png_data_url, image_url_part), "local": (rgb_image, image_part)}


class Backend(ABC):
    """A chat-completions engine behind the gateway."""

    kind: str

    @abstractmethod
    def page_payload(self, image: Image.Image) -> Any:
        """A rendered page in the form this backend sends (cached by the planner)."""

    @abstractmethod
    def page_part(self, payload: Any) -> dict[str, Any]:
        """The content part that carries one page."""

    @abstractmethod
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming chat completion."""

    @abstractmethod
    def stream(self, body: dict[str, Any]) -> Any:
        """Async context manager yielding an async iterator of SSE lines (no line endings)."""

    @abstractmethod
    async def models(self) -> dict[str, Any]:
        """The ``/v1/models`` listing."""

    async def aclose(self) -> None:
        """Release connections or the model."""


# ------------------------------------------------------------------------------------ upstream
class UpstreamBackend(Backend):
    """Forwards to an OpenAI-compatible server; pages go as PNG data URLs."""

    kind = "upstream"

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.client = make_client(
            str(settings.upstream),
            api_key=settings.upstream_api_key,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            backoff_initial=settings.backoff_initial,
        )

    def page_payload(self, image: Image.Image) -> str:
        return png_data_url(image)

    def page_part(self, payload: str) -> dict[str, Any]:
        return image_url_part(payload)

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "model": self.settings.upstream_model} if self.settings.upstream_model else body

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.client.chat(self._body(body))

    def stream(self, body: dict[str, Any]) -> Any:
        return self.client.stream_chat(self._body(body))

    async def models(self) -> dict[str, Any]:
        return await self.client.models()

    async def aclose(self) -> None:
        await self.client.aclose()


# ------------------------------------------------------------------------------------ local
class LocalBackend(Backend):
    """A transformers checkpoint in this process; generation runs in a worker thread, one at a time."""

    kind = "local"

    def __init__(self, settings: ServeSettings, reader: Any = None) -> None:
        from glyph.readers.local_hf import TransformersReader

        self.settings = settings
        self.reader = reader or TransformersReader(
            str(settings.model), device=settings.device, dtype=settings.dtype
        )
        self.created = int(time.time())

    def page_payload(self, image: Image.Image) -> Image.Image:
        return rgb_image(image)

    def page_part(self, payload: Image.Image) -> dict[str, Any]:
        return image_part(payload)

    # -- request -> transformers -----------------------------------------------------------
    def _params(self, body: dict[str, Any]) -> dict[str, Any]:
        if (body.get("n") or 1) != 1:
            raise GatewayError(
                400, "the local backend generates one choice per request (n=1)", code="unsupported_parameter"
            )
        max_tokens = int(
            body.get("max_completion_tokens") or body.get("max_tokens") or self.settings.default_max_tokens
        )
        # vLLM's and SGLang's extensions for fixed-length runs: min_tokens, ignore_eos.
        min_tokens = max_tokens if body.get("ignore_eos") is True else body.get("min_tokens")
        if min_tokens is not None and (
            not isinstance(min_tokens, int) or isinstance(min_tokens, bool) or min_tokens < 0
        ):
            raise GatewayError(400, f"min_tokens must be a non-negative integer, got {min_tokens!r}")
        return {
            "max_new_tokens": max_tokens,
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "min_new_tokens": min_tokens or None,
        }

    def _new_response(self) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": self.settings.model_name,
        }

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        conversation = to_hf_messages(body["messages"])
        params = self._params(body)
        stop = threading.Event()
        try:
            async with asyncio.timeout(self.settings.timeout):
                (gen,) = await asyncio.to_thread(self.reader.generate, [conversation], stop=stop, **params)
        except TimeoutError:
            raise GatewayError(
                504,
                f"local generation did not finish within {self.settings.timeout:g} s",
                type="timeout_error",
            ) from None
        finally:
            stop.set()  # on timeout or a gone client, the worker thread stops at the next token
        return {
            **self._new_response(),
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": gen.text},
                    "finish_reason": gen.finish_reason,
                }
            ],
            "usage": _usage(gen),
        }

    @asynccontextmanager
    async def stream(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[str]]:
        from transformers import AsyncTextIteratorStreamer

        conversation = to_hf_messages(body["messages"])  # bad input fails here, before any byte is sent
        params = self._params(body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        stop = threading.Event()
        streamer = AsyncTextIteratorStreamer(
            self.reader.processor.tokenizer,
            skip_prompt=True,
            timeout=self.settings.timeout,
            skip_special_tokens=True,
        )

        def work() -> Any:
            try:
                return self.reader.generate([conversation], streamer=streamer, stop=stop, **params)[0]
            finally:
                streamer.end()  # also after a failure, so the reader below is never left waiting

        task = asyncio.ensure_future(asyncio.to_thread(work))
        head = self._new_response()

        def chunk(
            delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
        ) -> str:
            choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
            data: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": choices}
            if usage is not None:
                data["usage"] = usage
            return "data: " + json.dumps(data, ensure_ascii=False)

        async def lines() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            yield ""
            try:
                async for text in streamer:
                    if text:
                        yield chunk({"content": text})
                        yield ""
            except TimeoutError:
                raise GatewayError(
                    504, f"no token within {self.settings.timeout:g} s", type="timeout_error"
                ) from None
            gen = await task
            yield chunk({}, gen.finish_reason)
            yield ""
            if include_usage:
                yield chunk({}, usage=_usage(gen))
                yield ""
            yield "data: [DONE]"
            yield ""

        try:
            yield lines()
        finally:
            stop.set()
            if not task.done():
                await asyncio.gather(task, return_exceptions=True)  # let the worker wind down

    async def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.settings.model_name,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "glyph",
                }
            ],
        }

    async def aclose(self) -> None:
        self.reader.close()


def _usage(gen: Any) -> dict[str, int]:
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.prompt_tokens + gen.completion_tokens,
    }


def to_hf_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages -> transformers chat messages (images decoded in memory).

    Only data URLs are accepted for images: fetching arbitrary URLs or reading paths on the
    server's behalf would let any client make it read files or call other hosts.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str) or content is None:
            out.append({"role": role, "content": content or ""})
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": str(part.get("text", ""))})
            elif kind == "image" and isinstance(part.get("image"), Image.Image):  # our rendered pages
                parts.append({"type": "image", "image": part["image"]})
            elif kind == "image_url":
                url = (
                    (part.get("image_url") or {}).get("url")
                    if isinstance(part.get("image_url"), dict)
                    else None
                )
                parts.append({"type": "image", "image": decode_data_url(url)})
            else:
                raise GatewayError(400, f"unsupported content part type {kind!r} for the local backend")
        if role != "user":
            if any(p["type"] != "text" for p in parts):
                raise GatewayError(
                    400, f"images are accepted in user messages only (got one in a {role!r} message)"
                )
            out.append({"role": role, "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": role, "content": parts})
    return out


def decode_data_url(url: Any) -> Image.Image:
    """A ``data:image/...;base64,`` URL -> RGB image, or a 400 saying what is wrong."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise GatewayError(
            400, "the local backend accepts images as base64 data URLs only (data:image/png;base64,...)"
        )
    header, _, data = url.partition(",")
    if ";base64" not in header:
        raise GatewayError(400, "image data URL must be base64-encoded")
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as img:
            img.load()
            return img.convert("RGB")
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError) as exc:
        raise GatewayError(400, f"cannot decode image data URL: {exc}") from None


def make_backend(settings: ServeSettings) -> Backend:
    """The backend the settings name."""
    return UpstreamBackend(settings) if settings.upstream else LocalBackend(settings)
