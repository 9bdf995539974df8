"""Training the compact line recogniser that the default ``ocr`` reader runs (``glyph.readers.glyphrec``).

Lines come from this project's renderer under a broad config distribution with the exact labels the
layout records (``data.py``); the CNN + CTC model (``model.py``) is trained by transformers'
Trainer and exported to ONNX (``train.py``). It lives in ``glyph.train`` because it is training:
it draws its needles and words from ``glyph.eval``'s RULER generators, which the readers (a lower
layer) must not import. Reading the shipped weights needs none of this (``ocr-train`` extra).
"""
