"""Client images: which ``image_url`` values may reach the upstream, and how many a request carries.

The upstream (vLLM, SGLang) fetches what an ``image_url`` names, from inside the deployment's
network: a client that may send ``file://`` or ``http://169.254.169.254/`` reads the model
server's disk or the cloud's metadata service through it. So the operator names the schemes
clients may use (``--image-url-schemes``; default ``data`` and ``https``), and URLs whose host is
a loopback, private, link-local or reserved address (or ``localhost``) are refused whatever the
scheme. A host *name* that resolves to such an address cannot be caught without resolving it
here (and the upstream may resolve it differently): allow ``data`` only to rule that out.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from glyph.serve.errors import GatewayError

__all__ = ["check_image_url", "count_images"]

IMAGE_PART_TYPES = ("image_url", "image", "input_image")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _refuse(where: str, why: str) -> GatewayError:
    return GatewayError(400, f"{where}: {why}", code="image_url_not_allowed")


def check_image_url(url: Any, schemes: tuple[str, ...], where: str) -> None:
    """Raise a 400 unless ``url`` is a string with an allowed scheme and a public host."""
    if not isinstance(url, str) or not url:
        raise GatewayError(400, f"{where}: image_url.url must be a non-empty string")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in schemes:
        allowed = ", ".join(f"{s}:" for s in schemes)
        raise _refuse(where, f"image URL scheme {scheme + ':' if scheme else '(none)'} is not allowed here (allowed: {allowed})")
    if scheme == "data":
        if not url[5:].lower().startswith("image/"):
            raise _refuse(where, "a data URL must carry an image (data:image/...)")
        return
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        raise _refuse(where, "image URL has no host")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        raise _refuse(where, f"image URL host {host} is local")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: see the module docstring
    if not address.is_global or address.is_multicast:
        raise _refuse(where, f"image URL host {host} is not a public address")


def count_images(messages: list[dict[str, Any]], schemes: tuple[str, ...]) -> int:
    """Image parts in every message (any role), each URL checked; bad part shapes are 400s."""
    images = 0
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            if not isinstance(part, dict):
                raise GatewayError(400, f"{where}: content parts must be objects, got {type(part).__name__}")
            kind = part.get("type")
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise GatewayError(400, f"{where}: a text part needs a string 'text'")
            elif kind in IMAGE_PART_TYPES:
                images += 1
                if kind == "image_url":
                    spec = part.get("image_url")
                    check_image_url(spec.get("url") if isinstance(spec, dict) else spec, schemes, where)
                elif kind == "input_image":
                    check_image_url(part.get("image_url"), schemes, where)
                else:  # "image": a URL string some servers accept
                    check_image_url(part.get("image"), schemes, where)
    return images
