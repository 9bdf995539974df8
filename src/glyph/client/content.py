"""Request content in the OpenAI chat format: messages, and page images as PNG data URLs.

Pages travel inside the request, never as file paths: the server may run elsewhere, and
vLLM refuses local paths unless told otherwise. ``max_pixels`` downscales larger pages
(aspect kept) before encoding, for servers whose image budget is smaller than our pages.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

from PIL import Image


def capped_size(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """Size after the ``max_pixels`` cap: unchanged when under it, else scaled down, aspect kept."""
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def image_data_url(image: Image.Image, max_pixels: int | None = None) -> str:
    """``data:image/png;base64,...`` of an image, downscaled to ``max_pixels`` if larger."""
    size = capped_size(image.width, image.height, max_pixels)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L", "RGBA"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)  # text pages compress well; level 3 is fast
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_part(image: Image.Image, max_pixels: int | None = None) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part carrying the image itself."""
    return {"type": "image_url", "image_url": {"url": image_data_url(image, max_pixels)}}


def chat_messages(content: list[dict[str, Any]] | str, system: str | None) -> list[dict[str, Any]]:
    """``[system?, user]`` messages with the given user content."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": content}]
