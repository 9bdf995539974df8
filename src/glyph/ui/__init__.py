"""The playground (``glyph ui``): one web page to see pages, measure the trade and ask models.

A FastAPI app of its own (not ``glyph serve``'s): the gateway is an API for programs, this
is a page for people, with other limits and its own auth; both reuse the same library
(render, measure, tokens, readers, the HTTP client). See :mod:`glyph.ui.app`.
"""

from glyph.ui.app import asgi_app, create_app
from glyph.ui.settings import Side, UISettings

__all__ = ["Side", "UISettings", "asgi_app", "create_app"]
