#!/usr/bin/env bash
# The README's sweep figure: `glyph sweep` as a new user runs it (the bundled essays' first
# 60,000 characters, dpi 60/72/96/120 x font size 7/9/11, two pages per point read by the
# default `ocr` reader), into benchmarks/results/sweep/ with the machine and load beside it.
# The PP-OCRv4 sweep of 2026-11-21 (the `ocr` reader of the time, now `ppocr`) is kept in
# benchmarks/results/sweep_ppocr/.
#   bash benchmarks/sweep.sh [more glyph sweep options]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/results/sweep
mkdir -p "$OUT"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load before: $(uptime | sed 's/.*load average: //')"
  echo "command: glyph sweep --out $OUT $*"
} > "$OUT/run.txt"
/usr/bin/time -f "wall %e s, cpu %U s user + %S s sys" -a -o "$OUT/run.txt" glyph sweep --out "$OUT" "$@"
echo "load after: $(uptime | sed 's/.*load average: //')" >> "$OUT/run.txt"
cat "$OUT/run.txt"
