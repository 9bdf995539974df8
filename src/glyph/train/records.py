"""Training records: page images plus chat messages, in the shape TRL and chat templates take.

A record is ``images`` (encoded image files, in order) and ``messages`` whose ``content`` is a
list of ``{"type": "image"}`` and ``{"type": "text", "text": ...}`` parts; the k-th image part
stands for ``images[k]``. That is the conversational vision format of TRL's ``SFTTrainer`` and of
``processor.apply_chat_template``, so a shard loads into either unchanged.

What the model learns is fixed by one rule, the same for every stage: **the text parts of
assistant messages are the targets**; images, system/user text, role tags and padding never are.
``template`` says how the messages become a token sequence:

* ``"chat"``: the checkpoint's chat template (OCR, generation, SFT: an instruction, then the
  assistant's answer);
* ``"none"``: no template, the parts concatenated as they stand, images as the model's image
  placeholder (interleaved language modelling: a document whose spans alternate between text and
  page images, no instruction; its text spans sit in one assistant message, so they are the targets).

Records are validated on the way in and on the way out of a shard; a bad one raises
:class:`RecordError` naming it, so the caller can skip it and keep the rest.
"""

from __future__ import annotations

import io
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "ImagePart",
    "Message",
    "Record",
    "RecordError",
    "TextPart",
    "image_size",
    "record_from_row",
]

ROLES = ("system", "user", "assistant")
#: Magic numbers of the image files a record may hold (what PIL and the processors decode).
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")


class RecordError(ValueError):
    """A record that cannot be used, named in the message (its id, and its shard and row when known)."""

    def __init__(self, record_id: str | None, reason: str, where: str = "") -> None:
        self.record_id = record_id
        self.reason = reason
        self.where = where
        who = f"record {record_id!r}" if record_id else "record"
        super().__init__(f"{who}{f' ({where})' if where else ''}: {reason}")


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """A placeholder: the next image of the record's ``images`` goes here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["image"] = "image"

    @model_validator(mode="before")
    @classmethod
    def _drop_null_text(cls, data: Any) -> Any:
        # an Arrow struct column gives image parts a ``text: None`` field (and TRL rows an ``image`` one)
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k == "type" or (v is not None and k != "image")}
        return data


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: list[Part]

    @field_validator("content", mode="before")
    @classmethod
    def _string_content(cls, value: Any) -> Any:
        return [{"type": "text", "text": value}] if isinstance(value, str) else value

    @property
    def text(self) -> str:
        """The message's text parts, joined."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def n_images(self) -> int:
        return sum(isinstance(p, ImagePart) for p in self.content)


class Record(BaseModel):
    """One training sample. ``images`` hold encoded files (PNG, JPEG or WebP bytes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=512)
    messages: list[Message] = Field(min_length=1)
    images: list[bytes] = Field(default_factory=list)
    template: Literal["chat", "none"] = "chat"
    task: str = ""  # e.g. "ocr", "lm", "gen", "sft": for statistics and filtering
    theme: str = ""  # the style theme the pages were drawn in, if any
    meta: dict[str, Any] = Field(default_factory=dict)  # provenance: render config, source span, token counts

    @field_validator("images", mode="before")
    @classmethod
    def _encode_images(cls, value: Any) -> Any:
        """PIL images are encoded as PNG; ``datasets`` image dicts give their bytes (or their file)."""
        if not isinstance(value, (list, tuple)):
            return value
        out = []
        for item in value:
            if isinstance(item, dict) and ("bytes" in item or "path" in item):
                item = item.get("bytes") or _read_file(item.get("path"))
            elif hasattr(item, "save") and hasattr(item, "size"):  # a PIL image
                item = _png(item)
            out.append(item)
        return out

    @model_validator(mode="after")
    def _check(self) -> Record:
        placeholders = sum(m.n_images for m in self.messages)
        if placeholders != len(self.images):
            raise ValueError(
                f"{placeholders} image part(s) in the messages but {len(self.images)} image(s) in 'images'"
            )
        for k, data in enumerate(self.images):
            if not data.startswith(_IMAGE_MAGIC):
                raise ValueError(f"images[{k}] is not a PNG, JPEG or WebP file (starts with {data[:8]!r})")
        if not any(m.role == "assistant" and m.text for m in self.messages):
            raise ValueError("no target: the record needs an assistant message with non-empty text")
        if self.template == "chat":
            for i, m in enumerate(self.messages):
                if m.role == "assistant" and m.n_images:
                    raise ValueError(
                        f"messages[{i}]: images in an assistant turn need template 'none' "
                        "(chat templates draw images in user turns only)"
                    )
        return self

    # ------------------------------------------------------------------ views
    @property
    def targets(self) -> list[str]:
        """The texts the model learns to produce, in order (one per assistant text part)."""
        return [
            p.text
            for m in self.messages
            if m.role == "assistant"
            for p in m.content
            if isinstance(p, TextPart)
        ]

    def image_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of each image, read from the file headers (no decoding)."""
        return [image_size(data, self.id, k) for k, data in enumerate(self.images)]

    def pil_images(self) -> list[Any]:
        """The images decoded as RGB PIL images; a file that does not decode raises :class:`RecordError`."""
        from PIL import Image

        out = []
        for k, data in enumerate(self.images):
            try:
                with Image.open(io.BytesIO(data)) as img:
                    out.append(img.convert("RGB"))
            except (OSError, ValueError, SyntaxError) as exc:
                raise RecordError(self.id, f"images[{k}] does not decode: {exc}") from exc
        return out

    def check_images(self) -> None:
        """Verify every image file's structure and checksums (PIL ``verify``), without decoding pixels."""
        from PIL import Image

        for k, data in enumerate(self.images):
            try:
                with Image.open(io.BytesIO(data)) as img:
                    img.verify()
            except (OSError, ValueError, SyntaxError) as exc:
                raise RecordError(self.id, f"images[{k}] is corrupt: {exc}") from exc

    # ------------------------------------------------------------------ rows
    def to_row(self) -> dict[str, Any]:
        """The record as a row of :data:`glyph.train.shards.RECORD_SCHEMA` (``datasets`` image structs)."""
        return {
            "id": self.id,
            "task": self.task,
            "theme": self.theme,
            "template": self.template,
            "images": [{"bytes": data, "path": None} for data in self.images],
            "messages": [
                {
                    "role": m.role,
                    "content": [
                        p.model_dump() | ({} if p.type == "text" else {"text": None}) for p in m.content
                    ],
                }
                for m in self.messages
            ],
            "meta": json.dumps(self.meta, ensure_ascii=False, sort_keys=True),
        }

    def to_trl(self) -> dict[str, Any]:
        """What TRL's vision collators and ``apply_chat_template`` take: decoded images plus messages."""
        return {"images": self.pil_images(), "messages": [m.model_dump() for m in self.messages]}


def record_from_row(row: Any, where: str = "") -> Record:
    """A validated record from a shard row, a TRL/``datasets`` row or a dict; :class:`RecordError` if bad."""
    if isinstance(row, Record):
        return row
    if not isinstance(row, dict):
        raise RecordError(None, f"expected a mapping, got {type(row).__name__}", where)
    rid = row.get("id")
    rid = rid if isinstance(rid, str) and rid else None
    data = dict(row)
    meta = data.get("meta")
    if isinstance(meta, str):
        try:
            data["meta"] = json.loads(meta) if meta else {}
        except json.JSONDecodeError as exc:
            raise RecordError(rid, f"meta is not valid JSON ({exc.msg})", where) from None
    elif meta is None:
        data.pop("meta", None)
    for key in ("task", "theme"):
        if data.get(key) is None:
            data.pop(key, None)
    try:
        return Record.model_validate(data)
    except ValidationError as exc:
        raise RecordError(rid, _validation_message(exc), where) from None


def _validation_message(exc: ValidationError) -> str:
    """One line per problem, naming the field (``messages.0.content.1.text: ...``)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def image_size(data: bytes, record_id: str | None = None, index: int = 0) -> tuple[int, int]:
    """(width, height) from an image file's header; a file PIL cannot identify raises :class:`RecordError`."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise RecordError(record_id, f"images[{index}] is not a readable image: {exc}") from exc


def _png(image: Any) -> bytes:
    from glyph.render.raster import png_bytes

    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return png_bytes(image)


def _read_file(path: Any) -> bytes:
    if not path:
        raise ValueError("an image entry has neither bytes nor a path")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ValueError(f"cannot read image file {path!r}: {exc}") from None
