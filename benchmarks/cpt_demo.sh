#!/usr/bin/env bash
# The README's CPT walk-through, timed, in a fresh directory: a tiny random-weight GLM-4.1V with the
# real Qwen vocabulary, CPT data from the bundled essays, then `glyph train cpt` for 20 steps on CPU.
# Copies the loss curve and the training log to benchmarks/results/cpt/ (the README shows the curve).
#
#   bash benchmarks/cpt_demo.sh [RESULTS_DIR]
set -euo pipefail
results=$(realpath "${1:-benchmarks/results/cpt}")
mkdir -p "$results"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
log="$results/demo_timing.txt"
{
  echo "# bash benchmarks/cpt_demo.sh -- $(date '+%Y-%m-%d %H:%M'), $(nproc) cores"
  echo "# load before: $(uptime)"
} > "$log"
step() {
  local name=$1; shift
  /usr/bin/time -f "$name: %e s wall, %U s user, %S s sys, %M KiB peak RSS" -a -o "$log" "$@"
}
step tiny-model glyph train tiny-model tiny-glm
step data-cpt glyph data cpt essays --out data/cpt-demo --samples 32 --max-context 1536
step train-cpt glyph train cpt --recipe cpt-tiny-cpu
echo "# load after: $(uptime)" >> "$log"
cp runs/cpt-tiny/loss_curve.png "$results/demo_loss_curve.png"
cp runs/cpt-tiny/train_log.jsonl "$results/demo_train_log.jsonl"
cat "$log"
