#!/usr/bin/env bash
# The CPU efficiency runs that benchmarks/results/efficiency.md shows: the tiny random-weight
# GLM-4.1V and Qwen2.5-VL (1K-16K) and the mid-size GLM-4.1V (hidden 1024, 6 layers; 1K-8K),
# text tokens vs pages of the reference default config, one CPU thread, each case in a fresh
# process; then the combined report and plot. ~15 minutes on a 2-core machine.
#   bash benchmarks/efficiency.sh            (timed runs take /work/bench.lock when it exists)
# The full-size GLM-4.1V-9B on a GPU: bash benchmarks/gpu/efficiency_9b.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=/work/bench.lock
run() {
  if [ -e "$LOCK" ]; then flock "$LOCK" python benchmarks/efficiency.py --no-report "$@"
  else python benchmarks/efficiency.py --no-report "$@"; fi
}
run --model random:glm4v:bench --name tiny-glm4v --lengths 1k,2k,4k,8k,16k
run --model random:qwen2.5vl:bench --name tiny-qwen2.5vl --lengths 1k,2k,4k,8k,16k
run --model random:glm4v:mid --name mid-glm4v --lengths 1k,2k,4k,8k --repeat 2
python benchmarks/efficiency.py --report
