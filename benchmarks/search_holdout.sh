#!/usr/bin/env bash
# Check the search's best config against the reference default on samples the search never saw
# (seed 1, 10 per task, 8K tokens), with the same offline reader: accuracy and compression.
#   bash benchmarks/search_holdout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/results/search/holdout
BEST=benchmarks/results/search/best_config.json
# the config names its font portably ("DejaVu Sans": matplotlib's copy, wherever it is installed);
# check it loads here before spending the OCR time
glyph config -c "$BEST" >/dev/null
ARGS=(--reader ocr --reader-opt workers=2 --lengths 8k --tasks niah_single_2,niah_single_3,vt --samples 10 --seed 1)
glyph eval ruler "${ARGS[@]}" --out "$OUT/reference"
glyph eval ruler "${ARGS[@]}" --config "$BEST" --out "$OUT/best"
glyph eval report "$OUT/reference" "$OUT/best" --out "$OUT"
