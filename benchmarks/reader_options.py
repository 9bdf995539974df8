"""Decision record for the default reader: where PP-OCRv4's time goes, and what each option buys.

On two reference-default pages of held-out prose (9 pt at dpi 72, ~80 lines each), one
thread, the same line crops for every option:

* PP-OCRv4 recognition (the ``rapidocr-onnxruntime`` wheel's model) split into
  preprocessing, the ONNX session and CTC decoding;
* ONNX Runtime session options (memory arena, graph optimisation level);
* batches of width-sorted lines padded to a common width (4, 8, 16, 32 lines);
* the model at input height 32 instead of 48;
* int8 dynamic quantisation (``onnxruntime.quantization``) and OpenVINO (``pip install openvino``; skipped if absent);
* recognisers other wheels ship with weights: PP-OCRv6 small (``rapidocr`` 3.10, pass
  ``--ppocr-v6 path/to/PP-OCRv6_rec_small.onnx`` from the wheel) and the Indra "lite" model of
  ``rapidocrlite`` (``--lite-dir path/to/models/lite``; OpenRAIL-M weights, not Apache-2.0);
* glyph's compact recogniser (``glyph.readers.glyphrec``), per line and in batches of 8.

    pip download --no-deps rapidocr==3.10.0 rapidocrlite==5.0.0a15 -d wheels
    unzip -q -o wheels/rapidocr-3.10.0-py3-none-any.whl 'rapidocr/models/*' -d rapidocr310
    unzip -q -o wheels/rapidocrlite-5.0.0a15-*.whl 'rapidocr/models/lite/*' -d rapidocrlite
    python benchmarks/reader_options.py --ppocr-v6 rapidocr310/rapidocr/models/PP-OCRv6_rec_small.onnx \
        --lite-dir rapidocrlite/rapidocr/models/lite [--out benchmarks/results]

The compact recogniser's rows name the weights' revision: its speed is the architecture's,
its accuracy that of those weights (``reader_speed.py`` measures the shipped ones on more pages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from glyph.measure import score_pages
from glyph.readers.glyphrec.runtime import GlyphRecognizer, prepare_line
from glyph.readers.ocr import LineOCRReader, _gray, _rapidocr_dir
from glyph.render import render_pages
from glyph.render.config import reference_default
from glyph.train.recognizer.data import prose


def session(path: str, arena: bool = False, level: Any = ort.GraphOptimizationLevel.ORT_ENABLE_ALL) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = arena
    opts.graph_optimization_level = level
    opts.log_severity_level = 4
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def charset_of(path: str) -> list[str]:
    meta = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    return ["<blank>", *meta["character"].split("\n"), " "]


def normalise(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """PP-OCR's preprocessing: resize to ``height`` (aspect kept), scale to [-1, 1], pad right."""
    h, w = crop.shape[:2]
    resized_w = min(width, math.ceil(height * w / h))
    x = cv2.resize(crop, (resized_w, height)).astype(np.float32).transpose(2, 0, 1) / 255 * 2 - 1
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :resized_w] = x
    return out


def decode(pred: np.ndarray, chars: list[str]) -> list[str]:
    out = []
    for row in pred.argmax(-1):
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        keep &= row != 0
        out.append("".join(chars[i] for i in row[keep]))
    return out


def ppocr(run: Callable[[np.ndarray], np.ndarray], chars: list[str], crops: list[np.ndarray], height: int = 48,
          batch: int = 1, split: dict[str, float] | None = None) -> list[str]:
    order = np.argsort([c.shape[1] / c.shape[0] for c in crops])
    out: list[str] = [""] * len(crops)
    for start in range(0, len(crops), batch):
        ids = order[start : start + batch]
        t0 = time.process_time()
        width = max(int(height * 320 / 48), max(math.ceil(height * crops[i].shape[1] / crops[i].shape[0]) for i in ids))
        x = np.stack([normalise(crops[i], height, width) for i in ids])
        t1 = time.process_time()
        pred = run(x)
        t2 = time.process_time()
        for i, text in zip(ids, decode(pred, chars)):
            out[i] = text
        if split is not None:
            split["preprocess"] += t1 - t0
            split["session"] += t2 - t1
            split["decode"] += time.process_time() - t2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--ppocr-v6", type=Path, help="PP-OCRv6_rec_small.onnx from the rapidocr 3.10 wheel")
    parser.add_argument("--lite-dir", type=Path, help="models/lite of the rapidocrlite wheel (rec.onnx, meta.json)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    pages = list(render_pages("\n\n".join(prose("heldout")), reference_default()))[1 : 1 + args.pages]
    lines_per_page = [len(p.lines) for p in pages]
    crops = [c for p in pages for c in LineOCRReader(cache_lines=0).crops(p)]
    rows: list[dict[str, Any]] = []

    def record(option: str, fn: Callable[[], list[str]], **extra: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        reads = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        texts, k = [], 0
        for n in lines_per_page:
            texts.append("\n".join(reads[k : k + n]))
            k += n
        fid, _ = score_pages([p.text for p in pages], texts)
        row = {"option": option, "cpu_per_page": cpu / len(pages), "wall_per_page": wall / len(pages),
               "char_accuracy": fid.char_accuracy, "word_accuracy": fid.word_accuracy, **extra}
        rows.append(row)
        print(json.dumps(row), flush=True)

    v4 = str(_rapidocr_dir() / "models/ch_PP-OCRv4_rec_infer.onnx")
    chars = charset_of(v4)
    s = session(v4)
    name = s.get_inputs()[0].name
    split = {"preprocess": 0.0, "session": 0.0, "decode": 0.0}
    record("PP-OCRv4, one line per run (the `ppocr` reader; rapidocr's session: arena off, all graph optimisations)",
           lambda: ppocr(lambda x: s.run(None, {name: x})[0], chars, crops, split=split))
    rows[0]["split_cpu_per_page"] = {k: v / len(pages) for k, v in split.items()}  # filled by the run above
    sa = session(v4, arena=True)
    record("PP-OCRv4, memory arena on", lambda: ppocr(lambda x: sa.run(None, {name: x})[0], chars, crops))
    sb = session(v4, level=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
    record("PP-OCRv4, basic graph optimisation only", lambda: ppocr(lambda x: sb.run(None, {name: x})[0], chars, crops))
    for batch in (4, 8, 16, 32):
        record(f"PP-OCRv4, width-sorted batches of {batch}",
               lambda batch=batch: ppocr(lambda x: sa.run(None, {name: x})[0], chars, crops, batch=batch))
    record("PP-OCRv4 at input height 32", lambda: ppocr(lambda x: sa.run(None, {name: x})[0], chars, crops, height=32))
    with tempfile.TemporaryDirectory() as tmp:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre, q = os.path.join(tmp, "pre.onnx"), os.path.join(tmp, "int8.onnx")
        quant_pre_process(v4, pre, skip_symbolic_shape=True)
        quantize_dynamic(pre, q, weight_type=QuantType.QUInt8)
        sq = session(q, arena=True)
        record("PP-OCRv4 int8 (dynamic quantisation)", lambda: ppocr(lambda x: sq.run(None, {name: x})[0], chars, crops))
    try:
        import openvino as ov

        compiled = ov.Core().compile_model(v4, "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"})
        record("PP-OCRv4 on OpenVINO", lambda: ppocr(lambda x: compiled(x)[0], chars, crops))
        record("PP-OCRv4 on OpenVINO, batches of 8", lambda: ppocr(lambda x: compiled(x)[0], chars, crops, batch=8))
    except ImportError:
        print("openvino not installed: skipped", flush=True)
    if args.ppocr_v6:
        c6 = charset_of(str(args.ppocr_v6))
        s6 = session(str(args.ppocr_v6), arena=True)
        n6 = s6.get_inputs()[0].name
        record("PP-OCRv6 small (rapidocr 3.10 wheel)", lambda: ppocr(lambda x: s6.run(None, {n6: x})[0], c6, crops))
    if args.lite_dir:
        meta = json.loads((args.lite_dir / "meta.json").read_text())
        vocab = json.loads(meta["vocab"])
        lite_chars = ["<blank>", *vocab["chars"]]
        sl = session(str(args.lite_dir / "rec.onnx"), arena=True)

        def lite() -> list[str]:
            out = []
            for crop in crops:
                g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
                w = math.ceil(32 * g.shape[1] / g.shape[0])
                x = (cv2.resize(g, (w, 32)).astype(np.float32) / 255)[None, None]
                ids, _conf, lengths = sl.run(None, {"x": x, "widths": np.array([w], np.int64)})
                out.append("".join(lite_chars[i] for i in ids[0][: lengths[0]] if i))
            return out

        record("Indra lite (rapidocrlite wheel; OpenRAIL-M weights)", lite)
    prepared = [prepare_line(_gray(p.image)[b.top : b.bottom, max(0, b.left - 2) : b.right + 2])
                for p in pages for b in p.lines]
    for batch in (1, 8):
        rec = GlyphRecognizer(threads=1, batch=batch)
        label = f"batches of {batch}" if batch > 1 else "one line per run"
        record(f"glyph compact recogniser (weights {rec.revision}), {label}", lambda rec=rec: [r.text for r in rec(prepared)])
    sp = rows[0]["split_cpu_per_page"]
    fast = [r for r in rows if r["cpu_per_page"] <= 1.0 and r["char_accuracy"] >= 0.995]
    summary = (
        f"PP-OCRv4 spends {sp['session']:.2f} of {sum(sp.values()):.2f} CPU s/page in the ONNX session "
        f"({100 * sp['session'] / sum(sp.values()):.0f}%); preprocessing takes {sp['preprocess']:.3f} s and CTC "
        f"decoding {sp['decode']:.3f} s, so only a cheaper network can help. Options at <= 1 CPU s/page with "
        f">= 99.5% characters: {', '.join(r['option'] for r in fast) or 'none'}."
    )
    meta_out = {"date": dt.datetime.now().isoformat(timespec="minutes"), "load": [round(x, 2) for x in os.getloadavg()],
                "command": "python benchmarks/reader_options.py " + " ".join(sys.argv[1:]),
                "pages": len(pages), "lines": len(crops)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reader_options.json").write_text(
        json.dumps({"meta": meta_out, "summary": summary, "options": rows}, indent=2) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
