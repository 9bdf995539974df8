#!/usr/bin/env bash
# RULER with the offline reader (the default `ocr` line reader, glyphrec, + rule-based extraction:
# a legibility bound, not a language model) at dpi 72, 96 and 120 (and 48, 60 at 8K) with the
# reference default config. The PP-OCRv4 run of 2026-11-21 is kept in results/ruler_offline_ppocr/.
# Resumable: run it again after an interruption and finished samples are skipped.
#   bash benchmarks/ruler_offline.sh [samples] [cwe samples at 32K]
# CWE contexts are random word lists, so unlike the haystack tasks none of their lines recur
# and every page costs a full OCR pass (~0.3 s on one core with glyphrec, ~3 s with PP-OCRv4): pass a
# smaller second argument to save time.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES="${1:-20}"
CWE_32K="${2:-20}"
OUT=benchmarks/results/ruler_offline
run() {  # dpi lengths tasks samples
  glyph eval ruler --reader ocr --reader-opt workers=2 --set "dpi=$1" --lengths "$2" --tasks "$3" \
    --samples "$4" --seed 0 --out "$OUT/dpi$1"
}
# dpi 48 and 60 (8K only) show where legibility, not the reader, binds
for DPI in 48 60 72 96 120; do run "$DPI" 8k niah_single_2,niah_single_3,vt,cwe "$SAMPLES"; done
for DPI in 72 96 120; do run "$DPI" 32k niah_single_2,niah_single_3,vt "$SAMPLES"; done
for DPI in 72 96 120; do run "$DPI" 32k cwe "$CWE_32K"; done
glyph eval report "$OUT/dpi48" "$OUT/dpi60" "$OUT/dpi72" "$OUT/dpi96" "$OUT/dpi120" --out "$OUT"
