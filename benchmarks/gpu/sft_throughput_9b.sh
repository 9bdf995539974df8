#!/usr/bin/env bash
# SFT throughput on the full-size GLM-4.1V-9B architecture (random weights, bf16) at 32K context, text tokens
# vs pages of the same text: one short prepared run for a GPU machine (one 80+ GB GPU; ~5 min on an H100/H200).
#
#   bash benchmarks/gpu/sft_throughput_9b.sh                 # writes benchmarks/results/sft_throughput_9b.md (+ .json)
#   OUT=$OUT bash benchmarks/gpu/sft_throughput_9b.sh         # on the device machine: results under $OUT
#
# Rehearsed on CPU with a tiny model (tests/train/test_sft_throughput_bench.py):
#   DIMS=test DEVICE=cpu LENGTHS=512 REPEAT=1 OUT=/tmp/x bash benchmarks/gpu/sft_throughput_9b.sh
# Needs torch with CUDA, transformers >= 5, trl (the project's [train] extras); no download (random weights,
# the tokenizer and image processor are built locally). Each case runs in its own process; the 9B model is
# made directly on the GPU (20.6 GB in bf16), with gradient checkpointing so 32K text fits with its grads.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIMS=${DIMS:-9b}
DEVICE=${DEVICE:-cuda}
LENGTHS=${LENGTHS:-32k}
REPEAT=${REPEAT:-2}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
{
  date -Is
  uptime
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
  python -c "import torch, transformers, trl; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'trl', trl.__version__)"
} | tee "$OUT/sft_throughput_9b.env.txt"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python benchmarks/sft_throughput.py --dims "$DIMS" --device "$DEVICE" --lengths "$LENGTHS" --repeat "$REPEAT" \
  --gradient-checkpointing --out "$OUT/sft_throughput_9b.md" 2>&1 | tee "$OUT/sft_throughput_9b.log"
