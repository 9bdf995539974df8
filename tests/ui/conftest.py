"""Fixtures of the playground tests: the tiny GLM behind ``glyph serve`` (shared with tests/serve)."""

import ui_helpers  # noqa: F401 - puts tests/serve on sys.path
from serve_helpers import glm_gateway, glm_reader, tiny_glm  # noqa: F401
