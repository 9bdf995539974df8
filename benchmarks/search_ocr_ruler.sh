#!/usr/bin/env bash
# Rendering search on CPU with the offline OCR-RULER evaluator (8K-token samples), classical
# operators only (no LLM endpoint here); the reference default config is in generation 0, so
# the front is compared with it in the same run. Resumable: `glyph search resume` continues it.
#   bash benchmarks/search_ocr_ruler.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/results/search
glyph search run --evaluator ocr-ruler --reader ocr \
  --eval-opt 'lengths=[8192]' --eval-opt samples=1 --eval-opt 'tasks=["niah_single_3","vt"]' \
  --generations 10 --population 5 --accuracy-floor 0.95 --seed 0 \
  --storage "sqlite:///$OUT/study.db" --study ocr-ruler-8k --out "$OUT"
