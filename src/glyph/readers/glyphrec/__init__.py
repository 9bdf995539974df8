"""glyphrec: the compact line recogniser behind the default ``ocr`` reader.

A 0.3 M-parameter CNN + CTC model trained on lines this project's renderer drew under a broad
config distribution, with the exact labels the layout records, by transformers' Trainer (all in
:mod:`glyph.train.recognizer`), and shipped as ONNX (``glyphrec_latin.onnx``, with
its model card ``glyphrec_latin.json``: training command, seed, steps, held-out error).
Reading needs only onnxruntime and OpenCV (``runtime.py``); training needs the ``ocr-train``
extra. Latin script only: ``printable ASCII`` plus the marks of English prose (``CHARSET``);
the ``ocr`` reader hands lines in other scripts to PP-OCRv4.

The shipped weights came from three runs of one schedule family (the model card keeps them;
about 45 minutes of two busy CPU cores in all), reproducible with the same seed::

    python -m glyph.train.recognizer.train --out runs/glyphrec --steps 4000 --warmup 200 --seed 0 \
        --threads 1 --stop-after 1000
    python -m glyph.train.recognizer.train --out runs/glyphrec --steps 2000 --warmup 200 --seed 0 \
        --threads 1 --resume
    python -m glyph.train.recognizer.train --out runs/glyphrec --steps 2500 --warmup 200 --seed 0 \
        --threads 1 --resume --dashes-from 2000
    python -m glyph.train.recognizer.train --out runs/glyphrec --steps 2500 --seed 0 \
        --export-checkpoint runs/glyphrec/checkpoint-2500 --export src/glyph/readers/glyphrec/glyphrec_latin.onnx

(the model card records these commands as they ran, when the trainer lived at
``glyph.readers.glyphrec.train``; the first run was stopped by hand after its step-1000 checkpoint, which ``--stop-after`` does;
a single ``--steps 2500`` run is the simpler recipe for new weights).
"""

from glyph.readers.glyphrec.runtime import CHARSET, HEIGHT, GlyphRecognizer, Read, prepare_line

__all__ = ["CHARSET", "HEIGHT", "GlyphRecognizer", "Read", "prepare_line"]
