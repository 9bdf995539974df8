"""Session fixtures for the gateway tests: the tiny local VLMs and a gateway serving one."""

from serve_helpers import glm_gateway, glm_reader, qwen_reader, tiny_glm, tiny_qwen  # noqa: F401
