"""The reference pipeline (reportlab -> PDF -> poppler), for compatibility checks and speed comparisons.

This re-implements the steps of thu-coai/Glyph ``scripts/word2png_function.py`` with the
same libraries and the same parameters: escape the text, turn runs of 2+ spaces into
``&nbsp;``, drop U+00AD/U+200B, split on newlines, join 30 lines per ``Paragraph`` with the
newline markup (``paragraph-lines``; 0 puts the whole text in one, as Glyph's evaluation
renderers ``evaluation/*/scripts/word2png_*.py`` do), build with ``SimpleDocTemplate``,
rasterise with ``pdf2image`` (poppler), then horizontal scale and auto-crop (glyph's own
:func:`~glyph.render.raster.postprocess`, so ``crop-margin`` applies too). It also records which words reportlab put on each
line of each page, so our layout can be compared line by line.

Needs the ``[reference]`` extra (reportlab, pdf2image) and poppler-utils (``pdftoppm``).
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image

from glyph.render.config import RenderConfig
from glyph.render.layout import reflow_text
from glyph.render.raster import postprocess

_CJK = re.compile(r"[\u4E00-\u9FFF]")


def reference_available() -> str | None:
    """None when the reference pipeline can run here, else what is missing."""
    import shutil

    try:
        import pdf2image  # noqa: F401
        import reportlab  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'glyph-vtc[reference]')"
    if shutil.which("pdftoppm") is None:
        return "poppler-utils (pdftoppm) is not installed (scripts/install_system_deps.sh)"
    return None


@dataclass
class ReferenceResult:
    pages: list[Image.Image]
    lines: list[list[str]]  # per page, the text of each drawn line (NBSP as space)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def reference_render(text: str, cfg: RenderConfig, rasterize: bool = True) -> ReferenceResult:
    """Render ``text`` exactly as the reference pipeline does (uses our config's reference keys)."""
    from pdf2image import convert_from_bytes
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if cfg.reflow:
        text = reflow_text(text)
    font_file = cfg.font_file
    font_name = "glyphref-" + Path(font_file).stem
    if font_name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(font_name, str(font_file)))
    align = {"LEFT": TA_LEFT, "CENTER": TA_CENTER, "RIGHT": TA_RIGHT, "JUSTIFY": TA_JUSTIFY}[cfg.alignment.value]
    page_size = cfg.page_size
    style = ParagraphStyle(
        name="GlyphReference",
        parent=getSampleStyleSheet()["Normal"],
        fontName=font_name,
        fontSize=cfg.font_size,
        leading=cfg.leading,
        textColor=colors.HexColor(cfg.font_color),
        backColor=colors.HexColor(cfg.para_bg_color),
        borderColor=colors.HexColor(cfg.para_border_color),
        borderWidth=cfg.border_width,
        borderPadding=cfg.border_padding,
        firstLineIndent=cfg.first_line_indent,
        wordWrap="CJK" if _CJK.search(text) else None,
        leftIndent=cfg.left_indent,
        rightIndent=cfg.right_indent,
        alignment=align,
        spaceBefore=cfg.space_before,
        spaceAfter=cfg.space_after,
    )
    recorded: list[tuple[int, list[str]]] = []

    class RecordingParagraph(Paragraph):
        """Records the lines reportlab draws, with the page they land on."""

        def draw(self) -> None:
            page = self.canv.getPageNumber()
            for line in self.blPara.lines:
                recorded.append((page, [_line_text(line)]))
            super().draw()

    body = text.replace("\xad", "").replace("\u200b", "")
    body = re.sub(r" {2,}", lambda m: "&nbsp;" * len(m.group()), escape(body))
    parts = body.split("\n")
    markup = cfg.newline_markup
    group = cfg.paragraph_lines or len(parts)  # 0: the whole text in one Paragraph (Glyph's eval renderers)
    story = [RecordingParagraph(markup.join(parts[i : i + group]), style) for i in range(0, len(parts), group)]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=page_size,
        leftMargin=cfg.margin_x,
        rightMargin=cfg.margin_x,
        topMargin=cfg.margin_y,
        bottomMargin=cfg.margin_y,
    )
    bg = colors.HexColor(cfg.page_bg_color)

    def paint_background(canvas, _doc) -> None:  # noqa: ANN001
        canvas.saveState()
        canvas.setFillColor(bg)
        canvas.rect(0, 0, page_size[0], page_size[1], stroke=0, fill=1)
        canvas.restoreState()

    doc.build(story, onFirstPage=paint_background, onLaterPages=paint_background)
    pdf = buf.getvalue()
    timings["pdf"] = time.perf_counter() - t0
    n_pages = _page_count(pdf)
    lines: list[list[str]] = [[] for _ in range(n_pages)]
    for page, texts in recorded:
        lines[page - 1].extend(texts)
    pages: list[Image.Image] = []
    if rasterize:
        t1 = time.perf_counter()
        raw = convert_from_bytes(pdf, dpi=cfg.dpi)
        timings["rasterize"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        pages = [postprocess(img, cfg, i == len(raw) - 1) for i, img in enumerate(raw)]
        timings["postprocess"] = time.perf_counter() - t2
    return ReferenceResult(pages=pages, lines=lines, timings=timings)


def _page_count(pdf: bytes) -> int:
    from pdf2image import pdfinfo_from_bytes

    return int(pdfinfo_from_bytes(pdf)["Pages"])


def _line_text(line) -> str:  # noqa: ANN001 - reportlab's FragLine or (extraspace, words) tuple
    if isinstance(line, tuple):
        return " ".join(str(w) for w in line[1]).replace("\xa0", " ")
    words = getattr(line, "words", [])
    return "".join(getattr(w, "text", "") for w in words).replace("\xa0", " ")


