"""glyphrec: the compact line recogniser behind the default ``ocr`` reader.

A 0.3 M-parameter CNN + CTC model (``model.py``) trained on lines this project's renderer drew
under a broad config distribution, with the exact labels the layout records (``data.py``),
by transformers' Trainer (``train.py``), and shipped as ONNX (``glyphrec_latin.onnx``, with
its model card ``glyphrec_latin.json``: training command, seed, steps, held-out error).
Reading needs only onnxruntime and OpenCV (``runtime.py``); training needs the ``ocr-train``
extra. Latin script only: ``printable ASCII`` plus the marks of English prose (``CHARSET``);
the ``ocr`` reader hands lines in other scripts to PP-OCRv4.

Retrain (about an hour on two busy CPU cores for 2,500 steps of 32 lines)::

    python -m glyph.readers.glyphrec.train --out runs/glyphrec --steps 2500 --seed 0 \\
        --export src/glyph/readers/glyphrec/glyphrec_latin.onnx
"""

from glyph.readers.glyphrec.runtime import CHARSET, HEIGHT, GlyphRecognizer, Read, prepare_line

__all__ = ["CHARSET", "HEIGHT", "GlyphRecognizer", "Read", "prepare_line"]
