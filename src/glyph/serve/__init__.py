"""``glyph serve``: an OpenAI-compatible gateway that renders long text parts to pages.

``create_app(ServeSettings(upstream="http://localhost:8000/v1"))`` fronts a vLLM/SGLang
server; ``ServeSettings(model="path/or/hub-id")`` runs a transformers checkpoint in-process.
"""

from glyph.serve.app import create_app
from glyph.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
