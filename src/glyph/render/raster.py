"""Rasteriser: a page layout -> an anti-aliased image, composed from cached glyph bitmaps with numpy.

Why not a PDF: the reference builds a PDF with reportlab and rasterises it with poppler,
about 70 ms a page. Our layout already knows every glyph's position in points, so a
page is just glyph bitmaps (FreeType, unhinted, anti-aliased like poppler's Splash)
placed at quarter-pixel offsets and combined with ``max``. Each distinct (glyph,
sub-pixel phase) is rendered once per process; all instances of it on a page are
placed with one fancy-indexing operation.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator

import numpy as np
from PIL import Image

from glyph.render.config import RenderConfig
from glyph.render.fonts import FontChain
from glyph.render.pages import LineBox, RenderedPage
from glyph.render.layout import MissingGlyphs, NewlineMarker, PageLayout, chain_for, iter_pages_with_spans

SUBPIXEL = 4  # glyph phases per pixel, horizontally and vertically (poppler's Splash uses 4 in x)
_INKLESS = np.array([0x20, 0xA0, 0x09, 0x0A, 0x0D, 0x3000, 0x200B, 0xAD], dtype=np.uint32)


def page_pixel_size(cfg: RenderConfig) -> tuple[int, int]:
    """Page size in pixels, rounded up as pdftoppm does."""
    w, h = cfg.page_size
    return math.ceil(w * cfg.dpi / 72 - 1e-9), math.ceil(h * cfg.dpi / 72 - 1e-9)


class GlyphAtlas:
    """Rendered glyph bitmaps for one font chain at one pixel size, keyed by (face, glyph, phase)."""

    def __init__(self, chain: FontChain, pixel_size: float) -> None:
        self.chain = chain
        self.pixel_size = pixel_size
        self._cache: dict[int, tuple[np.ndarray, int, int]] = {}
        self._lock = threading.Lock()
        self._faces: dict[int, object] = {}

    def get(self, key: int) -> tuple[np.ndarray, int, int]:
        """(coverage bitmap, left offset, top offset) for a packed key."""
        hit = self._cache.get(key)
        if hit is None:
            with self._lock:
                hit = self._cache[key] = self._render(key)
        return hit

    def _render(self, key: int) -> tuple[np.ndarray, int, int]:
        import freetype

        face_idx, gid, xq, yq = _unpack(key)
        face = self._faces.get(face_idx)
        if face is None:  # a face of our own: FreeType sizes are per face object, not per font file
            info = self.chain.face(face_idx)
            face = self._faces[face_idx] = freetype.Face(str(info.path), info.index)
            face.set_char_size(int(round(self.pixel_size * 64)), 0, 72, 72)
        delta = freetype.Vector(int(xq * 64 / SUBPIXEL), int(-yq * 64 / SUBPIXEL))
        face.set_transform(freetype.Matrix(0x10000, 0, 0, 0x10000), delta)
        face.load_glyph(gid, freetype.FT_LOAD_RENDER | freetype.FT_LOAD_NO_HINTING | freetype.FT_LOAD_NO_BITMAP)
        slot = face.glyph
        bm = slot.bitmap
        if bm.width == 0 or bm.rows == 0:
            return np.zeros((0, 0), dtype=np.uint8), 0, 0
        pitch = bm.pitch
        buf = np.frombuffer(bytes(bm.buffer), dtype=np.uint8)
        arr = buf.reshape(bm.rows, pitch)[:, : bm.width].copy()
        return arr, slot.bitmap_left, slot.bitmap_top


class _FlatGlyphTable:
    """Non-zero pixels of every glyph seen, as flat (offset, value) runs for one canvas width."""

    def __init__(self, atlas: GlyphAtlas) -> None:
        self.atlas = atlas
        self._id: dict[int, int] = {}
        self._width = -1
        self.starts = np.zeros(0, dtype=np.int64)
        self.lens = np.zeros(0, dtype=np.int64)
        self.offsets = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=np.uint8)
        self._lock = threading.Lock()

    def ids_for(self, keys: list[int], width: int) -> np.ndarray:
        if width != self._width:
            with self._lock:
                self.__init__(self.atlas)  # offsets depend on the canvas width
                self._width = width
        missing = [k for k in keys if k not in self._id]
        if missing:
            with self._lock:
                self._add([k for k in missing if k not in self._id], width)
        return np.fromiter((self._id[k] for k in keys), dtype=np.int64, count=len(keys))

    def _add(self, keys: list[int], width: int) -> None:
        starts, lens, offs, vals = [], [], [], []
        pos = len(self.offsets)
        for key in keys:
            bmp, left, top = self.atlas.get(key)
            rows, cols = np.nonzero(bmp)
            off = (rows - top).astype(np.int64) * width + (cols + left)
            self._id[key] = len(self.starts) + len(starts)
            starts.append(pos)
            lens.append(len(off))
            offs.append(off)
            vals.append(bmp[rows, cols])
            pos += len(off)
        self.starts = np.concatenate((self.starts, np.asarray(starts, dtype=np.int64)))
        self.lens = np.concatenate((self.lens, np.asarray(lens, dtype=np.int64)))
        self.offsets = np.concatenate((self.offsets, *offs)) if offs else self.offsets
        self.values = np.concatenate((self.values, *vals)) if vals else self.values


def _pack(face: np.ndarray, gid: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> np.ndarray:
    return (face.astype(np.int64) << 40) | (gid.astype(np.int64) << 8) | (xq.astype(np.int64) << 4) | yq


def _unpack(key: int) -> tuple[int, int, int, int]:
    return key >> 40, (key >> 8) & 0xFFFFFFFF, (key >> 4) & 0xF, key & 0xF


def _hex_rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


class PageRasterizer:
    """Turns page layouts into images for one config. Thread-safe; cheap to keep per config."""

    def __init__(self, cfg: RenderConfig) -> None:
        self.cfg = cfg
        self.chain = chain_for(cfg)
        self.scale = cfg.dpi / 72.0
        self.atlas = GlyphAtlas(self.chain, cfg.font_size * self.scale)
        self._table = _FlatGlyphTable(self.atlas)
        self.size = page_pixel_size(cfg)
        # poppler maps PDF y (from the bottom) onto a page rounded up to whole pixels, so baselines sit
        # lower by the rounding remainder, and each glyph origin is snapped down to a whole row
        # (measured against pdftoppm at 72/96/120 dpi: mean gray difference 3.4/3.7/2.6 of 255)
        remainder = self.size[1] - cfg.page_size[1] * self.scale
        self.y_snap = remainder - 0.5 if remainder > 1e-9 else 0.0
        self.pad = int(math.ceil(cfg.font_size * self.scale * 2)) + 2
        self.marker_color = NewlineMarker.parse(cfg.newline_markup).color or cfg.font_color
        # per-face glyph ids for every code point we have seen
        self._gid_cache: dict[tuple[int, int], int] = {}

    # -------------------------------------------------------------------- coverage
    def coverage(self, page: PageLayout) -> tuple[np.ndarray, np.ndarray | None]:
        """Ink coverage (uint8, 0..255) of the page, and of its inline markers if any."""
        w, h = self.size
        pad = self.pad
        canvas = np.zeros((h + 2 * pad, w + 2 * pad), dtype=np.uint8)
        marker_canvas = None
        texts = [line.text for line in page.lines]
        if not any(texts):
            return canvas[pad:-pad, pad:-pad], None
        joined = "".join(texts)
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        faces, w1000 = self.chain.resolve(cps)
        adv = w1000 * (self.cfg.font_size / 1000.0)
        lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        line_of = np.repeat(np.arange(len(texts)), lens)
        cum = np.concatenate(([0.0], np.cumsum(adv)))  # prefix sums; cum[i] = advance before char i
        x = cum[:-1] - cum[starts][line_of]
        if any(line.word_space for line in page.lines):
            spaces = np.concatenate(([0], np.cumsum(cps == 0x20)))
            spaces_before = spaces[:-1] - spaces[starts][line_of]
            x = x + spaces_before * np.array([line.word_space for line in page.lines])[line_of]
        x = x + np.array([line.x for line in page.lines])[line_of]
        y = np.array([line.baseline for line in page.lines])[line_of]
        ink = ~np.isin(cps, _INKLESS)
        marker_mask = None
        if any(line.marker for line in page.lines):
            marker_mask = np.zeros(len(cps), dtype=bool)
            for li, line in enumerate(page.lines):
                for a, b in line.marker:
                    marker_mask[starts[li] + a : starts[li] + b] = True
        px = x[ink] * self.scale + pad
        py = y[ink] * self.scale + pad
        gids = self._glyph_ids(faces[ink], cps[ink])
        face_idx = np.where(faces[ink] < 0, 0, faces[ink])
        xi = np.floor(px).astype(np.int64)
        xq = np.rint((px - xi) * SUBPIXEL).astype(np.int64)
        xi += xq // SUBPIXEL
        xq %= SUBPIXEL
        # poppler snaps each glyph's baseline to a whole pixel row (rounding down); only x keeps phases
        yi = np.floor(py + self.y_snap).astype(np.int64)
        yq = np.zeros_like(yi)
        # glyphs whose origin lies beyond the padding would wrap around the flat canvas: drop them
        reach = int(math.ceil(self.cfg.font_size * self.scale * 1.5))
        inside = (xi >= reach) & (xi < canvas.shape[1] - reach) & (yi >= reach) & (yi < canvas.shape[0] - reach)
        if not inside.all():
            face_idx, gids, xq, yq, xi, yi = (a[inside] for a in (face_idx, gids, xq, yq, xi, yi))
            if marker_mask is not None:
                marker_mask = marker_mask.copy()
                ink_idx = np.flatnonzero(ink)
                marker_mask[ink_idx[~inside]] = False
                ink = ink.copy()
                ink[ink_idx[~inside]] = False
        keys = _pack(face_idx, gids, xq, yq)
        if marker_mask is not None:
            sel = marker_mask[ink]
            marker_canvas = np.zeros_like(canvas)
            self._blit(marker_canvas, keys[sel], xi[sel], yi[sel])
            keys, xi, yi = keys[~sel], xi[~sel], yi[~sel]
        self._blit(canvas, keys, xi, yi)
        crop = (slice(pad, pad + h), slice(pad, pad + w))
        return canvas[crop], (marker_canvas[crop] if marker_canvas is not None else None)

    def _glyph_ids(self, faces: np.ndarray, cps: np.ndarray) -> np.ndarray:
        out = np.zeros(len(cps), dtype=np.int64)
        cache = self._gid_cache
        pairs = (faces.astype(np.int64) << 32) | cps.astype(np.int64)
        uniq, inverse = np.unique(pairs, return_inverse=True)
        vals = np.empty(len(uniq), dtype=np.int64)
        for i, pair in enumerate(uniq.tolist()):
            key = (pair >> 32, pair & 0xFFFFFFFF)
            gid = cache.get(key)
            if gid is None:
                fi, cp = key
                gid = 0 if fi < 0 or fi >= 128 else self.chain.face(fi).cmap.get(cp, 0)
                cache[key] = gid
            vals[i] = gid
        out[:] = vals[inverse]
        return out

    def _blit(self, canvas: np.ndarray, keys: np.ndarray, xi: np.ndarray, yi: np.ndarray) -> None:
        """Max-combine every glyph instance into ``canvas`` with one ``np.maximum.at``.

        Each distinct key's non-zero pixels live in a flat table as (offset, value) pairs,
        offsets pre-multiplied by the canvas width; the instances' pixel runs are gathered
        with a vectorised ragged index, so the cost is per pixel, not per Python call.
        """
        if keys.size == 0:
            return
        uniq, inverse = np.unique(keys, return_inverse=True)
        ids = self._table.ids_for(uniq.tolist(), canvas.shape[1])[inverse]
        lens = self._table.lens[ids]
        total = int(lens.sum())
        if total == 0:
            return
        ends = np.cumsum(lens)
        gather = np.repeat(self._table.starts[ids] - (ends - lens), lens) + np.arange(total)
        base = yi * canvas.shape[1] + xi
        idx = np.repeat(base, lens) + self._table.offsets[gather]
        np.maximum.at(canvas.reshape(-1), idx, self._table.values[gather])

    # -------------------------------------------------------------------- geometry
    def line_boxes(self, page: PageLayout, image_size: tuple[int, int]) -> tuple[LineBox, ...]:
        """Pixel boxes of the page's lines in the final (scaled, cropped) image, for line-level readers.

        Vertically a box spans the font's nominal ascent (0.95 em) above the snapped baseline row
        and descent (0.25 em) below it; neighbouring boxes may overlap by a pixel or two when the
        line height is tight, exactly as the ink does.
        """
        cfg = self.cfg
        s, hs = self.scale, cfg.horizontal_scale
        em = cfg.font_size * s
        width, height = image_size
        boxes = []
        for line in page.lines:
            if not line.text.strip():
                continue
            baseline = math.floor(line.baseline * s + self.y_snap)
            extra = line.word_space * line.text.count(" ")
            left = max(0, math.floor(line.x * s * hs))
            right = min(width, math.ceil((line.x + line.width + extra) * s * hs) + 1)
            top = max(0, math.floor(baseline - 0.95 * em))
            bottom = min(height, math.ceil(baseline + 0.25 * em) + 1)
            if right > left and bottom > top:
                boxes.append(LineBox(left, top, right, bottom, baseline, line.plain, line.start, line.end))
        return tuple(boxes)

    # -------------------------------------------------------------------- images
    def render(self, page: PageLayout) -> Image.Image:
        """The page as a PIL image, post-processed (horizontal scale, auto-crop) like the reference."""
        cfg = self.cfg
        cov, marker_cov = self.coverage(page)
        bg = _hex_rgb(cfg.page_bg_color)
        fg = _hex_rgb(cfg.font_color)
        plain = (
            cfg.page_bg_color == "#FFFFFF"
            and cfg.font_color == "#000000"
            and marker_cov is None
            and not self._has_boxes()
        )
        if plain:
            # crop in grayscale, then widen to RGB: the same pixels as the reference's RGB path, less work
            img = postprocess(Image.fromarray(255 - cov, "L"), cfg, page.is_last)
            if cfg.color_mode == "RGB":
                gray, img = img, img.convert("RGB")
                img.info["glyph_gray"] = gray  # lets save_png write 1 channel instead of 3, losslessly
            return img
        else:
            base = np.broadcast_to(bg, cov.shape + (3,)).copy()
            self._paint_boxes(base, page)
            out = _over(base, fg, cov)
            if marker_cov is not None:
                out = _over(out, _hex_rgb(self.marker_color), marker_cov)
            img = Image.fromarray(np.rint(out).astype(np.uint8), "RGB")
            if cfg.color_mode == "L":
                img = img.convert("L")
        return postprocess(img, cfg, page.is_last)

    def _has_boxes(self) -> bool:
        cfg = self.cfg
        return cfg.para_bg_color != cfg.page_bg_color or (cfg.border_width > 0 and cfg.para_border_color != cfg.page_bg_color)

    def _paint_boxes(self, rgb: np.ndarray, page: PageLayout) -> None:
        """Paragraph background and border, as reportlab draws them around each paragraph piece."""
        cfg = self.cfg
        if not self._has_boxes():
            return
        s = self.scale
        bp = cfg.border_padding
        x0 = cfg.margin_x + 6 + cfg.left_indent - bp
        x1 = cfg.page_size[0] - cfg.margin_x - 6 - cfg.right_indent + bp
        H, W = rgb.shape[:2]
        para_bg = _hex_rgb(cfg.para_bg_color)
        border = _hex_rgb(cfg.para_border_color)
        bw = max(1, int(round(cfg.border_width * s))) if cfg.border_width > 0 else 0
        for box in page.boxes:
            top, bottom = box.top - bp, box.bottom + bp
            r0, r1 = max(0, int(round(top * s))), min(H, int(round(bottom * s)))
            c0, c1 = max(0, int(round(x0 * s))), min(W, int(round(x1 * s)))
            if r1 <= r0 or c1 <= c0:
                continue
            rgb[r0:r1, c0:c1] = para_bg
            if bw:
                rgb[r0 : r0 + bw, c0:c1] = border
                rgb[max(r0, r1 - bw) : r1, c0:c1] = border
                rgb[r0:r1, c0 : c0 + bw] = border
                rgb[r0:r1, max(c0, c1 - bw) : c1] = border


def _over(base: np.ndarray, color: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    alpha = (coverage.astype(np.float32) / 255.0)[..., None]
    return base * (1 - alpha) + color * alpha


def postprocess(img: Image.Image, cfg: RenderConfig, is_last: bool) -> Image.Image:
    """Horizontal scale, then auto-crop, exactly as the reference does after rasterising.

    The crop keeps ``margin-x``/``margin-y`` *pixels* beyond the last ink, as the reference does.
    """
    w, h = img.size
    if cfg.horizontal_scale != 1.0:
        img = img.resize((int(w * cfg.horizontal_scale), h))
    if cfg.auto_crop_width or (cfg.auto_crop_last_page and is_last):
        gray = np.asarray(img.convert("L") if img.mode != "L" else img)
        bg = float(np.median(gray[:2, :2]))
        # |gray - bg| > 5 on integers, without a float copy of the page
        hi, lo = math.floor(bg + 5), math.ceil(bg - 5)
        if cfg.auto_crop_width:
            cols = np.flatnonzero((gray.max(axis=0) > hi) | (gray.min(axis=0) < lo))
            if cols.size:
                img = img.crop((0, 0, min(img.width, round(cols[-1] + 1 + cfg.margin_x)), img.height))
        if cfg.auto_crop_last_page and is_last:
            rows = np.flatnonzero((gray.max(axis=1) > hi) | (gray.min(axis=1) < lo))
            if rows.size:
                img = img.crop((0, 0, img.width, min(img.height, round(rows[-1] + cfg.margin_y))))
    return img


def save_png(image: Image.Image, path, compress_level: int = 3) -> None:  # noqa: ANN001
    """Write a page as PNG; gray pages go out as 1-channel PNG (same pixels, ~3x faster, half the bytes)."""
    gray = image.info.get("glyph_gray")
    target = gray if isinstance(gray, Image.Image) else image
    target.save(path, "PNG", compress_level=compress_level)


@functools.lru_cache(maxsize=32)
def rasterizer_for(cfg: RenderConfig) -> PageRasterizer:
    """One rasteriser per config and process, so its glyph atlas is built once, not per document."""
    return PageRasterizer(cfg)


def iter_page_images(
    text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None
) -> Iterator[tuple[PageLayout, Image.Image]]:
    """Lay out and rasterise lazily: one page in memory at a time."""
    raster = rasterizer_for(cfg)
    for page in iter_pages_with_spans(text, cfg, missing):
        yield page, raster.render(page)


def render_pages(text: str, cfg: RenderConfig, missing: MissingGlyphs | None = None) -> Iterator[RenderedPage]:
    """Pages with their ground truth (drawn text, pixel line boxes): what readers and metrics consume."""
    raster = rasterizer_for(cfg)
    for page in iter_pages_with_spans(text, cfg, missing):
        image = raster.render(page)
        yield RenderedPage(image, page.index, raster.line_boxes(page, image.size), page.start, page.end)
