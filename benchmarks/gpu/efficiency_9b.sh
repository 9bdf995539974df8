#!/usr/bin/env bash
# Prefill, decoding and KV cache of the full-size GLM-4.1V-9B architecture (random weights, bf16,
# built directly on the GPU, nothing written to disk) at 32K, 64K and 128K text tokens against
# the pages of the same text (reference default config), beside the paper's 4.8x / 4.4x at 128K.
# One process: the model is built once (~20 GB); one warm-up at 1K, then per length and side one
# timed generate of 32 tokens (time to first token = prefill, then decoding tokens/s). A case that
# does not fit is recorded as out of memory and the rest still run. About 3-4 minutes on one H200.
#
# On the GPU machine (no network: carry the wheels fetched here first):
#   bash benchmarks/gpu/fetch_wheels.sh                       # here, once (.whl/, ~20 MB)
#   run: bash benchmarks/gpu/efficiency_9b.sh "$OUT"          # carry [".whl"], timeout_s ~480
# then copy $OUT/efficiency/glm4v-9b-gpu.json to benchmarks/results/efficiency/ and
#   python benchmarks/efficiency.py --report
#
# Every setting can be overridden from the environment; the CPU test runs this very script with
# MODEL=random:glm4v:test DEVICE=cpu DTYPE=fp32 LENGTHS=256,512 DECODE=3.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR="${1:-benchmarks/results}"
PY="${PYTHON:-python3}"
if [ -d .whl ] && compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/glyph-site .whl/*.whl
  export PYTHONPATH="/tmp/glyph-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TRANSFORMERS_VERBOSITY=error
if [ -z "${ATTN:-}" ]; then  # flash attention when installed, else PyTorch's SDPA (flash kernels inside)
  ATTN=$("$PY" -c "import importlib.util as u; print('flash_attention_2' if u.find_spec('flash_attn') else 'sdpa')")
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" benchmarks/efficiency.py \
  --model "${MODEL:-random:glm4v:9b}" --name "${NAME:-glm4v-9b-gpu}" \
  --lengths "${LENGTHS:-32k,64k,128k}" --device "${DEVICE:-cuda}" --dtype "${DTYPE:-bf16}" --attn "$ATTN" \
  --isolate none --warmup 0 --repeat "${REPEAT:-1}" --decode-tokens "${DECODE:-32}" \
  --out-dir "$OUT_DIR/efficiency" --report-out "$OUT_DIR/efficiency_gpu.md"
