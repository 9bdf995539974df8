#!/usr/bin/env bash
# RULER with the offline reader (PP-OCRv4 line OCR + rule-based extraction, a legibility bound,
# not a language model) at dpi 72, 96 and 120 with the reference default config.
# Resumable: run it again after an interruption and finished samples are skipped.
#   bash benchmarks/ruler_offline.sh [samples] [lengths]
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES="${1:-20}"
LENGTHS="${2:-8k,32k}"
TASKS="niah_single_2,niah_single_3,vt,cwe"
OUT=benchmarks/results/ruler_offline
for LEN in ${LENGTHS//,/ }; do
  for DPI in 72 96 120; do
    glyph eval ruler --reader ocr --reader-opt workers=2 --set "dpi=$DPI" --tasks "$TASKS" \
      --lengths "$LEN" --samples "$SAMPLES" --seed 0 --out "$OUT/dpi$DPI"
  done
done
glyph eval report "$OUT/dpi72" "$OUT/dpi96" "$OUT/dpi120" --out "$OUT"
