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
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from glyph.render.config import RenderConfig
from glyph.render.fonts import FontChain
from glyph.render.layout import MissingGlyphs, NewlineMarker, PageLayout, chain_for, iter_pages_with_spans
from glyph.render.pages import LineBox, RenderedPage

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


class _SpriteTable:
    """Non-zero pixels of every (glyph slot, x phase) seen, as flat (offset, value) runs for one canvas width.

    Indexed densely by ``key = slot * SUBPIXEL + phase``, so a page looks its glyph instances up with
    one gather instead of hashing them. Arrays grow geometrically; a reader takes one consistent
    snapshot tuple ``(have, starts, lens, offsets, values)``, and entries it can see never change.
    """

    def __init__(self, atlas: GlyphAtlas, width: int) -> None:
        self.atlas = atlas
        self.width = width
        self._lock = threading.Lock()
        self._n_pixels = 0
        z = np.zeros(0, dtype=np.int64)
        empty = (np.zeros(0, dtype=bool), z, z, z, np.zeros(0, dtype=np.uint8))
        self.snapshot: tuple[np.ndarray, ...] = empty

    def ensure(self, keys: np.ndarray, atlas_key: Callable[[int], int]) -> tuple[np.ndarray, ...]:
        """The snapshot, with every key in ``keys`` rendered; ``atlas_key(key)`` names its glyph bitmap."""
        snap = self.snapshot
        have = snap[0]
        if keys.size == 0 or (int(keys.max()) < len(have) and have[keys].all()):
            return snap
        with self._lock:
            have, starts, lens, offsets, values = self.snapshot
            top = int(keys.max()) + 1
            if top > len(have):
                cap = max(top, 2 * len(have), 64)
                grown = (np.concatenate((a, np.zeros(cap - len(a), a.dtype))) for a in (have, starts, lens))
                have, starts, lens = grown
            else:
                have = have.copy()  # the published one must not claim keys its `offsets` may lack
            need = np.unique(keys[~have[keys]]).tolist()
            bitmaps = []
            for key in need:
                bmp, left, top_ = self.atlas.get(atlas_key(key))
                rows, cols = np.nonzero(bmp)
                bitmaps.append(((rows - top_).astype(np.int64) * self.width + (cols + left), bmp[rows, cols]))
            grow = sum(len(o) for o, _ in bitmaps)
            pos = self._n_pixels
            if pos + grow > len(offsets):
                cap = max(pos + grow, 2 * len(offsets), 4096)
                offsets = np.concatenate((offsets[:pos], np.zeros(cap - pos, np.int64)))
                values = np.concatenate((values[:pos], np.zeros(cap - pos, np.uint8)))
            for key, (off, val) in zip(need, bitmaps):
                offsets[pos : pos + len(off)] = off
                values[pos : pos + len(off)] = val
                starts[key], lens[key] = pos, len(off)
                pos += len(off)
            have[need] = True
            self._n_pixels = pos
            self.snapshot = snap = (have, starts, lens, offsets, values)
        return snap


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
        self.size = page_pixel_size(cfg)
        # poppler maps PDF y (from the bottom) onto a page rounded up to whole pixels, so baselines sit
        # lower by the rounding remainder, and each glyph origin is snapped down to a whole row
        # (measured against pdftoppm at 72/96/120 dpi: mean gray difference 3.4/3.7/2.6 of 255)
        remainder = self.size[1] - cfg.page_size[1] * self.scale
        self.y_snap = remainder - 0.5 if remainder > 1e-9 else 0.0
        self.pad = int(math.ceil(cfg.font_size * self.scale * 2)) + 2
        self.marker_color = NewlineMarker.parse(cfg.newline_markup).color or cfg.font_color
        self._sprites = _SpriteTable(self.atlas, self.size[0] + 2 * self.pad)
        # per code point: its glyph slot (0: draws nothing, -1: not seen yet) and its advance in pt;
        # a slot is one distinct (face, glyph id), so a sprite key is slot * SUBPIXEL + x phase
        self._cp_slot = np.full(0x10000, -1, dtype=np.int64)
        self._cp_adv = np.zeros(0x10000, dtype=np.float64)
        self._astral: dict[int, tuple[int, float]] = {}
        self._slot_of: dict[tuple[int, int], int] = {}
        self._slot_glyph: list[tuple[int, int]] = [(0, 0)]  # slot -> (face, glyph id); slot 0 is inkless
        self._cp_lock = threading.Lock()
        self._ramp = np.arange(0, dtype=np.int64)

    # -------------------------------------------------------------------- coverage
    def _register(self, cps: list[int]) -> None:
        """Give code points their slot and advance (once per rasteriser)."""
        with self._cp_lock:
            faces, w1000 = self.chain.resolve(np.asarray(cps, dtype=np.uint32))
            adv = w1000 * (self.cfg.font_size / 1000.0)
            inkless = set(_INKLESS.tolist())
            for cp, fi, a in zip(cps, faces.tolist(), adv.tolist()):
                if cp in inkless:
                    slot = 0
                else:
                    gid = 0 if fi < 0 or fi >= 128 else self.chain.face(fi).cmap.get(cp, 0)
                    glyph = (max(fi, 0), gid)
                    slot = self._slot_of.get(glyph)
                    if slot is None:
                        slot = self._slot_of[glyph] = len(self._slot_glyph)
                        self._slot_glyph.append(glyph)
                if cp < 0x10000:
                    self._cp_adv[cp] = a
                    self._cp_slot[cp] = slot  # written last: a reader seeing the slot sees the advance
                else:
                    self._astral[cp] = (slot, a)

    def _lookup(self, cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Glyph slot (0 = inkless) and advance in pt of each code point."""
        if int(cps.max()) < 0x10000:
            idx = cps.astype(np.intp)  # once, rather than once per gather
            slots = self._cp_slot.take(idx)
            if int(slots.min()) < 0:
                self._register(np.unique(cps[slots < 0]).tolist())
                slots = self._cp_slot.take(idx)
            return slots, self._cp_adv.take(idx)
        astral = cps >= 0x10000
        new = [cp for cp in set(cps.tolist()) if (cp >= 0x10000 and cp not in self._astral)]
        new += np.unique(cps[~astral][self._cp_slot[cps[~astral]] < 0]).tolist()
        if new:
            self._register(sorted(new))
        bmp = np.where(astral, 0, cps)
        slots, adv = self._cp_slot[bmp], self._cp_adv[bmp]
        for pos in np.flatnonzero(astral).tolist():
            slots[pos], adv[pos] = self._astral[int(cps[pos])]
        return slots, adv

    def _atlas_key(self, key: int) -> int:
        face, gid = self._slot_glyph[key // SUBPIXEL]
        return (face << 40) | (gid << 8) | ((key % SUBPIXEL) << 4)  # _pack with y phase 0

    def coverage(self, page: PageLayout) -> tuple[np.ndarray, np.ndarray | None]:
        """Ink coverage (uint8, 0..255) of the page, and of its inline markers if any."""
        cov, marker_cov, _ = self.layers(page)
        return cov, marker_cov

    def layers(self, page: PageLayout) -> tuple[np.ndarray, np.ndarray | None, list[tuple[str, np.ndarray]]]:
        """Coverage of the ink, of inline markers (or None), and of each highlighted syntax class
        (``(colour, coverage)``, only with ``syntax-colors``); every glyph is in exactly one of them."""
        w, h = self.size
        pad = self.pad
        canvas = np.zeros((h + 2 * pad, w + 2 * pad), dtype=np.uint8)
        crop = (slice(pad, pad + h), slice(pad, pad + w))
        lines = page.lines
        texts = [line.text for line in lines]
        joined = "".join(texts)
        if not joined:
            return canvas[crop], None, []
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        slots, adv = self._lookup(cps)
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        ends = np.cumsum(lens)
        starts = ends - lens
        # x[i] = (advance before char i) - (advance before its line's first char), as prefix sums of the page
        cum = np.empty(len(adv) + 1, dtype=np.float64)
        cum[0] = 0.0
        np.cumsum(adv, out=cum[1:])
        x = cum[:-1] - np.repeat(cum[starts], lens)
        if any(line.word_space for line in lines):
            spaces = np.concatenate(([0], np.cumsum((cps == 0x20) | (cps == 0xA0))))  # reportlab: NBSP too
            spaces_before = spaces[:-1] - np.repeat(spaces[starts], lens)
            x = x + spaces_before * np.repeat(np.array([line.word_space for line in lines]), lens)
        x = x + np.repeat(np.array([line.x for line in lines]), lens)
        # poppler snaps each glyph's baseline to a whole pixel row (rounding down); only x keeps phases
        baselines = np.array([line.baseline for line in lines])
        row = np.floor(baselines * self.scale + pad + self.y_snap).astype(np.int64)
        ink = slots != 0
        markers = any(line.marker for line in lines)
        if markers:
            marker_mask = np.zeros(len(cps), dtype=bool)
            for li, line in enumerate(lines):
                for a, b in line.marker:
                    marker_mask[starts[li] + a : starts[li] + b] = True
        syntax = syntax_classes(texts, starts, len(cps)) if self.cfg.syntax_colors else None
        yi = np.repeat(row, lens)
        if not ink.all():
            x, slots, yi = x[ink], slots[ink], yi[ink]
            if markers:
                marker_mask = marker_mask[ink]
            if syntax is not None:
                syntax = syntax[ink]
        if x.size == 0:
            return canvas[crop], (np.zeros_like(canvas)[crop] if markers else None), []
        # whole pixel and quarter-pixel phase of each glyph origin px: rint(4 * px) - 4 * floor(px) equals
        # rint(4 * (px - floor(px))) exactly, as px - floor(px) is exact for px >= 0 (Sterbenz), scaling
        # by 4 is exact, and a shift by an even integer keeps round-half-even's choice (an origin at
        # px < 0 gets xi <= 0 and is dropped below, however it rounds)
        q = np.rint((x * self.scale + pad) * SUBPIXEL).astype(np.int64)
        xi, xq = q // SUBPIXEL, q % SUBPIXEL
        # glyphs whose origin lies beyond the padding would wrap around the flat canvas: drop them
        reach = int(math.ceil(self.cfg.font_size * self.scale * 1.5))
        if not (
            int(xi.min()) >= reach
            and int(xi.max()) < canvas.shape[1] - reach
            and int(yi.min()) >= reach
            and int(yi.max()) < canvas.shape[0] - reach
        ):
            height, width = canvas.shape
            inside = (xi >= reach) & (xi < width - reach) & (yi >= reach) & (yi < height - reach)
            slots, xq, xi, yi = slots[inside], xq[inside], xi[inside], yi[inside]
            if markers:
                marker_mask = marker_mask[inside]
            if syntax is not None:
                syntax = syntax[inside]
        keys = slots * SUBPIXEL + xq
        marker_canvas = None
        if markers:
            marker_canvas = np.zeros_like(canvas)
            self._blit(marker_canvas, keys[marker_mask], xi[marker_mask], yi[marker_mask])
            keep = ~marker_mask
            keys, xi, yi = keys[keep], xi[keep], yi[keep]
            if syntax is not None:
                syntax = syntax[keep]
        layers: list[tuple[str, np.ndarray]] = []
        if syntax is not None:
            for k, color in enumerate(self.cfg.syntax_colors or (), start=1):
                mask = syntax == k
                if mask.any():
                    layer = np.zeros_like(canvas)
                    self._blit(layer, keys[mask], xi[mask], yi[mask])
                    layers.append((color, layer[crop]))
            keep = syntax == 0
            keys, xi, yi = keys[keep], xi[keep], yi[keep]
        self._blit(canvas, keys, xi, yi)
        return canvas[crop], (marker_canvas[crop] if marker_canvas is not None else None), layers

    def _blit(self, canvas: np.ndarray, keys: np.ndarray, xi: np.ndarray, yi: np.ndarray) -> None:
        """Max-combine every glyph instance into ``canvas`` with one ``np.maximum.at``.

        Each distinct key's non-zero pixels live in a flat table as (offset, value) pairs,
        offsets pre-multiplied by the canvas width; the instances' pixel runs are gathered
        with a vectorised ragged index, so the cost is per pixel, not per Python call.
        """
        if keys.size == 0:
            return
        _, starts, lens, offsets, values = self._sprites.ensure(keys, self._atlas_key)
        lens = lens.take(keys)
        ends = np.cumsum(lens)
        total = int(ends[-1])
        if total == 0:
            return
        ramp = self._ramp
        if len(ramp) < total:
            ramp = self._ramp = np.arange(max(total, 2 * len(ramp)), dtype=np.int64)
        # pixel j of instance i sits at table row starts[key_i] + j: one ragged range per instance
        gather = np.repeat(starts.take(keys) - (ends - lens), lens)
        gather += ramp[:total]
        idx = offsets.take(gather)  # take: a third faster than fancy indexing here
        idx += np.repeat(yi * canvas.shape[1] + xi, lens)
        np.maximum.at(canvas.reshape(-1), idx, values.take(gather))

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
            extra = line.word_space * (line.text.count(" ") + line.text.count("\xa0"))
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
        cov, marker_cov, syntax = self.layers(page)
        bg = _hex_rgb(cfg.page_bg_color)
        fg = _hex_rgb(cfg.font_color)
        plain = (
            cfg.page_bg_color == "#FFFFFF"
            and cfg.font_color == "#000000"
            and marker_cov is None
            and not syntax
            and not self._has_boxes()
        )
        if plain:
            # crop in grayscale, then widen to RGB: the same pixels as the reference's RGB path, less work
            if cfg.horizontal_scale == 1.0:
                # the crop box straight from the coverage (gray = 255 - coverage), then one copy out
                width, height = _crop_size(cov, cfg, page.is_last)
                img = Image.fromarray(np.subtract(255, cov[:height, :width]))
            else:
                img = postprocess(Image.fromarray(255 - cov, "L"), cfg, page.is_last)
            if cfg.color_mode == "RGB":
                # three copies of the gray channel: the bytes of convert("RGB"), in a third of the time
                gray, img = img, Image.merge("RGB", (img, img, img))
                img.info["glyph_gray"] = gray  # lets save_png write 1 channel instead of 3, losslessly
                img.info["glyph_gray_of"] = id(img)  # Pillow copies info to crops/copies: tie it to this object
            return img
        elif marker_cov is None and not syntax and not self._has_boxes():
            # one ink on one background: each pixel depends on its coverage only, so compose the 256
            # possible values once (the same float32 arithmetic as _over) and map the page through them
            levels = np.arange(256, dtype=np.uint8)
            table = np.rint(_over(np.broadcast_to(bg, (256, 3)), fg, levels)).astype(np.uint8)
            gray = Image.fromarray(cov)
            img = Image.merge("RGB", [gray.point(table[:, c].tolist()) for c in range(3)])
            if cfg.color_mode == "L":
                img = img.convert("L")
        else:
            base = np.broadcast_to(bg, cov.shape + (3,)).copy()
            self._paint_boxes(base, page)
            out = _over(base, fg, cov)
            for color, layer in syntax:  # highlighted code: each class in its own colour
                out = _over(out, _hex_rgb(color), layer)
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


#: Code highlighting, per drawn line: comments (# or // to the line's end), quoted strings, keywords of
#: common languages, numbers; class k colours with ``syntax-colors[k - 1]``. Deliberately lexer-free: pages
#: hold line fragments of any language, and an editor-like look is the point, not a parse.
_SYNTAX = re.compile(
    r"(?P<comment>(?:#|//).*$)"
    r"|(?P<string>\"(?:[^\"\\]|\\.)*\"?|'(?:[^'\\]|\\.)*'?)"
    r"|(?P<keyword>\b(?:and|as|assert|async|await|break|case|catch|class|const|continue|def|default|del|do|elif|"
    r"else|enum|except|export|extends|false|False|finally|fn|for|from|func|function|if|impl|import|in|"
    r"interface|is|lambda|let|match|mut|new|nil|None|nonlocal|not|null|or|package|pass|pub|raise|return|self|"
    r"static|struct|switch|this|throw|true|True|try|type|use|var|void|while|with|yield)\b)"
    r"|(?P<number>\b\d+(?:\.\d+)?\b)"
)
_SYNTAX_CLASS = {"keyword": 1, "string": 2, "comment": 3, "number": 4}


def syntax_classes(texts: list[str], starts: np.ndarray, n: int) -> np.ndarray:
    """Class of each character of the page's joined line texts: 0 plain, 1..4 keyword/string/comment/number."""
    out = np.zeros(n, dtype=np.uint8)
    for text, start in zip(texts, starts.tolist()):
        for m in _SYNTAX.finditer(text.replace("\xa0", " ")):
            out[start + m.start() : start + m.end()] = _SYNTAX_CLASS[m.lastgroup]
    return out


def _over(base: np.ndarray, color: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    alpha = (coverage.astype(np.float32) / 255.0)[..., None]
    return base * (1 - alpha) + color * alpha


def _crop_size(cov: np.ndarray, cfg: RenderConfig, is_last: bool) -> tuple[int, int]:
    """The size :func:`postprocess` would crop the unscaled page ``255 - cov`` to, read off ``cov`` itself."""
    h, w = cov.shape
    if not (cfg.auto_crop_width or (cfg.auto_crop_last_page and is_last)):
        return w, h
    corner = sorted((255 - cov[:2, :2].astype(np.int64)).ravel().tolist())
    mid = len(corner) // 2
    bg = float(corner[mid]) if len(corner) % 2 else (corner[mid - 1] + corner[mid]) / 2  # np.median
    hi, lo = math.floor(bg + 5), math.ceil(bg - 5)
    # gray > hi  <=>  cov < 255 - hi;   gray < lo  <=>  cov > 255 - lo

    def ink(axis: int) -> np.ndarray:
        out = np.zeros(cov.shape[1 - axis], dtype=bool)
        if lo > 0:
            out |= cov.max(axis=axis) > 255 - lo
        if hi < 255:
            out |= cov.min(axis=axis) < 255 - hi
        return out

    width, height = w, h
    if cfg.auto_crop_width:
        cols = np.flatnonzero(ink(0))
        if cols.size:
            width = min(w, round(int(cols[-1]) + 1 + cfg.margin_x))
    if cfg.auto_crop_last_page and is_last:
        rows = np.flatnonzero(ink(1))
        if rows.size:
            height = min(h, round(int(rows[-1]) + cfg.margin_y))
    return width, height


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


_PNG_COLOR_TYPE = {"L": 0, "RGB": 2}


def save_png(image: Image.Image, path, compress_level: int = 3) -> None:  # noqa: ANN001
    """Write a page as PNG; gray pages go out as 1-channel PNG (same pixels, ~3x faster, half the bytes).

    ``path`` is a file name or a binary file object. 8-bit gray and RGB pages are encoded by
    :func:`png_bytes`; other modes go through PIL. The gray twin is used only for the very
    image the renderer returned (not a crop, resize or copy of it); draw on a copy of a page,
    not on the page itself, if you will save it with this function.
    """
    gray = image.info.get("glyph_gray")
    own = image.info.get("glyph_gray_of") == id(image) and isinstance(gray, Image.Image)
    target = gray if own and gray.size == image.size else image
    if target.mode not in _PNG_COLOR_TYPE or 0 in target.size:
        target.save(path, "PNG", compress_level=compress_level)
        return
    data = png_bytes(target, compress_level)
    if hasattr(path, "write"):
        path.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def png_bytes(image: Image.Image, compress_level: int = 3) -> bytes:
    """A PNG file of an 8-bit L or RGB image: every row unfiltered (filter type 0), one zlib stream.

    PIL tries all five row filters on every row and keeps the best, which on text pages costs
    more than deflating them; text pages are mostly runs of background that deflate handles as
    well unfiltered. Decodes to the same pixels; on the benchmark pages it takes about a third of
    PIL's time at the same level, and the files come out a few per cent smaller.
    """
    width, height = image.size
    channels = 1 if image.mode == "L" else 3
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPE[image.mode], 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(rows, compress_level)),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


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
