"""What the renderer hands to readers: page images with the ground truth they were drawn from.

A reader (OCR engine or VLM) only needs ``image``. Fidelity measurement needs ``text`` (what
was drawn on the page) and line-level readers need ``lines`` (where each line is, in pixels),
both of which the layout knows exactly, so they travel with the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image


@dataclass(frozen=True, slots=True)
class LineBox:
    """One drawn line in image pixels: box ``[left, right) x [top, bottom)``, baseline row, text."""

    left: int
    top: int
    right: int
    bottom: int
    baseline: int
    text: str  # characters drawn (glued spaces as plain spaces)
    start: int = 0  # source span of the line in the rendered text
    end: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.right - self.left, self.bottom - self.top


@dataclass(frozen=True)
class RenderedPage:
    """A page image plus, when it came from our renderer, what is on it and where."""

    image: Image.Image
    index: int = 0
    lines: tuple[LineBox, ...] = field(default=())
    start: int = 0  # source span of the page in the rendered text
    end: int = 0

    @property
    def text(self) -> str:
        """The ground truth: drawn lines joined by newlines (empty lines are not drawn)."""
        return "\n".join(line.text for line in self.lines)

    @classmethod
    def from_image(cls, image: Image.Image | str, index: int = 0) -> RenderedPage:
        """Wrap an image (or an image path) that did not come from our renderer: no ground truth."""
        if isinstance(image, str):
            image = load_image(image)
        return cls(image=image, index=index)


class UnreadableImageError(ValueError):
    """An image file that cannot be decoded (named in the message), or a zero-size image."""


def load_image(path: str) -> Image.Image:
    """Open and fully decode an image, or raise :class:`UnreadableImageError` naming the file."""
    try:
        with Image.open(path) as img:
            img.load()
            image = img.copy()
    except (OSError, ValueError) as exc:  # PIL raises UnidentifiedImageError (an OSError) and friends
        raise UnreadableImageError(f"cannot read image {path!r}: {exc}") from exc
    if image.width == 0 or image.height == 0:
        raise UnreadableImageError(f"image {path!r} has zero size ({image.width}x{image.height})")
    return image
