"""Shared by tests/serve and tests/readers: tiny random-weight VLMs built locally, and servers on loopback.

Tiny models: the real architectures (``Glm4vForConditionalGeneration``,
``Qwen2_5_VLForConditionalGeneration``) from small configs, a WordLevel tokenizer trained here
on a few strings plus the special tokens each chat template needs, the real image processor
with the released checkpoints' ``preprocessor_config.json`` values, and a chat template
string modelled on each family's. Saved as a checkpoint directory (config, weights,
tokenizer, preprocessor config, chat template) like the real ones; nothing is downloaded.

Servers: any ASGI app on a pre-bound ``127.0.0.1`` socket, uvicorn in a daemon thread.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# Released preprocessor_config.json values (GLM-4.1V-9B-Base / zai-org/Glyph; Qwen2.5-VL-7B-Instruct).
RELEASED_IMAGE_PROCESSOR: dict[str, dict[str, Any]] = {
    "glm4v": {
        "size": {"shortest_edge": 12544, "longest_edge": 9633792},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
    "qwen2.5vl": {
        "size": {"shortest_edge": 3136, "longest_edge": 12845056},
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
}

GLM_SPECIALS = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
    "<|end_of_video|>", "<|image|>", "<|video|>",
]  # fmt: skip
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip

# Modelled on GLM-4.1V's template: [gMASK]<sop>, role tags, each image as begin/placeholder/end.
GLM_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}"
    "{% if m.role == 'system' %}<|system|>\n{{ m.content }}"
    "{% elif m.role == 'user' %}<|user|>\n{% if m.content is string %}{{ m.content }}{% else %}"
    "{% for item in m.content %}{% if item.type == 'image' or 'image' in item %}"
    "<|begin_of_image|><|image|><|end_of_image|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% elif m.role == 'assistant' %}<|assistant|>\n{{ m.content }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# Modelled on Qwen2.5-VL's template: default system turn, <|vision_start|><|image_pad|><|vision_end|>.
QWEN_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m.role != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}{% else %}"
    "{% for item in m.content %}{% if item.type == 'image' or 'image' in item %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif item.type == 'text' %}{{ item.text }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "What is written on the page ? Answer the question about the document .",
    "Transcribe all text in this image exactly as written , line by line . Output only the text .",
    "You are a helpful assistant . system user assistant the a of to and is in it that",
    "Hello world . How to Do Great Work Paul Graham essay page number one two three",
]


def build_tokenizer(specials: list[str], eos: str) -> Any:
    """A WordLevel tokenizer trained on ``CORPUS``, wrapped for transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", *specials]))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="<|endoftext|>", eos_token=eos,
        additional_special_tokens=specials,
    )  # fmt: skip


def _glm(out: Path) -> None:
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    tok = build_tokenizer(GLM_SPECIALS, eos="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in GLM_SPECIALS}
    config = Glm4vConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 8192,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [1, 1, 2],
                "partial_rotary_factor": 0.5,
            },
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "num_heads": 2,
            "intermediate_size": 64,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "image_size": 28,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    torch.manual_seed(0)
    model = Glm4vForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [ids["<|endoftext|>"], ids["<|user|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    _save(
        out,
        model,
        tok,
        Glm4vImageProcessorPil(**RELEASED_IMAGE_PROCESSOR["glm4v"]),
        "Glm4vProcessor",
        GLM_TEMPLATE,
    )


def _qwen(out: Path) -> None:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tok = build_tokenizer(QWEN_SPECIALS, eos="<|im_end|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 8192,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "num_heads": 2,
            "intermediate_size": 64,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    image_processor = Qwen2VLImageProcessorPil(**RELEASED_IMAGE_PROCESSOR["qwen2.5vl"])
    _save(out, model, tok, image_processor, "Qwen2_5_VLProcessor", QWEN_TEMPLATE)


def _save(out: Path, model: Any, tok: Any, image_processor: Any, processor_class: str, template: str) -> None:
    """The files a released checkpoint has: weights + config, tokenizer, preprocessor config, template."""
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(out)
        tok.save_pretrained(out)
        image_processor.save_pretrained(out)
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    (out / "processor_config.json").write_text(
        json.dumps({"processor_class": processor_class}), encoding="utf-8"
    )


BUILDERS = {"glm4v": _glm, "qwen2.5vl": _qwen}
_BUILT: dict[str, Path] = {}
_READERS: dict[str, Any] = {}


def tiny_checkpoint(arch: str, root: Path) -> Path:
    """Build (once per test session) the tiny checkpoint of ``arch`` under ``root``."""
    if arch not in _BUILT:
        BUILDERS[arch](root / f"tiny-{arch}")
        _BUILT[arch] = root / f"tiny-{arch}"
    return _BUILT[arch]


def tiny_reader(arch: str, root: Path) -> Any:
    """One loaded ``TransformersReader`` per architecture per session (loading is the slow part)."""
    from glyph.readers.local_hf import TransformersReader

    if arch not in _READERS:
        _READERS[arch] = TransformersReader(str(tiny_checkpoint(arch, root)), device="cpu")
    return _READERS[arch]


def image_processor(arch: str) -> Any:
    """The real image processor class of ``arch`` with the released settings (the independent count)."""
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    cls = Glm4vImageProcessorPil if arch == "glm4v" else Qwen2VLImageProcessorPil
    return cls(**RELEASED_IMAGE_PROCESSOR[arch])


def processor_image_tokens(arch: str, images: list[Any]) -> list[int]:
    """Image-pad tokens per image, from the real image processor's ``image_grid_thw``."""
    proc = image_processor(arch)
    grids = proc(images, return_tensors="pt")["image_grid_thw"]
    return [int(g.prod()) // proc.merge_size**2 for g in grids]


# ------------------------------------------------------------------------------------ servers
@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def completion(
    content: str, prompt_tokens: int = 11, completion_tokens: int = 3, model: str = "fake"
) -> dict[str, Any]:
    """A minimal ``chat.completion`` body, as an upstream would send it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# ------------------------------------------------------------------------------------ fixtures
# Imported by the test modules that need them (tests/serve/conftest.py re-exports them).
@pytest.fixture(scope="session")
def tiny_glm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("glm4v", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("qwen2.5vl", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def glm_reader(tiny_glm: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_reader("glm4v", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def qwen_reader(tiny_qwen: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return tiny_reader("qwen2.5vl", tmp_path_factory.getbasetemp())


def local_settings(model_dir: Path, **overrides: Any) -> Any:
    """Gateway settings for the tiny local model, short answers by default."""
    from glyph.serve import ServeSettings

    return ServeSettings(
        model=str(model_dir), served_model_name="tiny-glm", default_max_tokens=4, **overrides
    )


@contextmanager
def local_gateway(reader: Any, model_dir: Path, **overrides: Any) -> Iterator[str]:
    """``glyph serve`` on the tiny local model (the loaded reader shared), on loopback."""
    from glyph.serve import create_app
    from glyph.serve.backends import LocalBackend

    settings = local_settings(model_dir, **overrides)

    class _Shared(LocalBackend):
        async def aclose(self) -> None:  # the session's reader outlives each gateway
            return None

    with serve_app(create_app(settings, backend=_Shared(settings, reader=reader))) as url:
        yield url


@pytest.fixture(scope="session")
def glm_gateway(glm_reader: Any, tiny_glm: Path) -> Iterator[str]:
    """One gateway on the tiny GLM model for the whole session (default settings)."""
    with local_gateway(glm_reader, tiny_glm) as url:
        yield url


class FakeUpstream:
    """A scripted OpenAI-compatible server on loopback that records what it receives.

    ``respond(body, n)`` (sync or async; ``n`` counts chat calls from 1) returns a Starlette
    response. ``/v1/models`` lists ``model``. ``max_in_flight`` is the peak of concurrent chat calls.
    """

    def __init__(self, respond: Any, model: str = "fake-vlm") -> None:
        import asyncio
        import inspect

        from fastapi import FastAPI

        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = FastAPI()

        @self.app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": model, "object": "model"}]}

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                result = respond(body, len(self.requests))
                if inspect.isawaitable(result):
                    result = await result
                await asyncio.sleep(0)
                return result
            finally:
                self.in_flight -= 1

    @property
    def calls(self) -> int:
        return len(self.requests)

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve_app(self.app) as url:
            yield url


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def decode_data_url(url: str) -> Any:
    """The image inside a ``data:image/png;base64,`` URL (test-side decoding)."""
    import base64
    import io

    from PIL import Image

    assert url.startswith("data:image/png;base64,"), url[:40]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


TEMPLATES = {"glm4v": GLM_TEMPLATE, "qwen2.5vl": QWEN_TEMPLATE}


def expected_prompt_tokens(arch: str, tokenizer: Any, messages: list[dict[str, Any]]) -> int:
    """Prompt length computed independently of the code under test: the chat template rendered
    by jinja and counted by the tokenizer (one placeholder per image), plus the real image
    processor's token count for each image. ``messages`` hold PIL images as {"type": "image", "image": ...}."""
    import jinja2

    images = [
        p["image"]
        for m in messages
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "image"
    ]
    prompt = jinja2.Template(TEMPLATES[arch]).render(messages=messages, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return len(ids) - len(images) + sum(processor_image_tokens(arch, images)) if images else len(ids)


def user_turn(images: list[Any], question: str, system: str | None = None) -> list[dict[str, Any]]:
    """[system?, user: images then question] in transformers' message format."""
    content = [{"type": "image", "image": im} for im in images] + [{"type": "text", "text": question}]
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": content}
    ]
