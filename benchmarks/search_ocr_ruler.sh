#!/usr/bin/env bash
# The committed rendering search (CPU, offline): ocr-ruler fitness (5 tasks x 2K/4K x 4 samples = 40
# samples per config, read by the layout-free ocr-pixels reader, 95% Wilson intervals, tie rule),
# classical operators only (no LLM endpoint here), two worker processes on one SQLite study; at the end
# the Pareto front and the reference default config are re-scored on the held-out split (seed +1000,
# tasks niah_single_1 / niah_multikey_2 / niah_multivalue / niah_multiquery, 8 samples x 2 lengths) and
# the validation winner is exported as best_config.json. Sized to ~30 CPU minutes on 2 cores.
#   flock /work/bench.lock nice -n 10 bash benchmarks/search_ocr_ruler.sh     # a fresh run (deletes the old)
# Timings, date, machine and load go to $OUT/run_info.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/search}"
STUDY=ocr-ruler-validated
rm -rf "$OUT" && mkdir -p "$OUT"
ARGS=(--evaluator ocr-ruler --generations "${GENERATIONS:-6}" --population "${POPULATION:-8}"
      --accuracy-floor 0.9 --seed 0 --val-opt samples="${VAL_SAMPLES:-8}"
      --storage "sqlite:///$OUT/study.db" --study "$STUDY" --out "$OUT")
{
  echo "command: GENERATIONS=${GENERATIONS:-6} POPULATION=${POPULATION:-8} VAL_SAMPLES=${VAL_SAMPLES:-8} bash benchmarks/search_ocr_ruler.sh (under flock /work/bench.lock, nice -n 10)"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr)"
  echo "load before: $(uptime)"
} > "$OUT/run_info.txt"
# the second worker joins the same study and leaves the final validation to the first
/usr/bin/time -f "worker 2: %e s wall, %U s user, %S s sys" -a -o "$OUT/run_info.txt" \
  glyph search run "${ARGS[@]}" --no-validate > "$OUT/worker2.log" 2>&1 &
sleep 5
/usr/bin/time -f "worker 1 (+ validation): %e s wall, %U s user, %S s sys" -a -o "$OUT/run_info.txt" \
  glyph search run "${ARGS[@]}" > "$OUT/worker1.log" 2>&1
wait
echo "load after: $(uptime)" >> "$OUT/run_info.txt"
rm -rf "$OUT"/study-cache  # the caches are large and rebuildable
cat "$OUT/run_info.txt"
tail -n 30 "$OUT/worker1.log"
