#!/usr/bin/env bash
# Wheels that benchmarks/gpu/*.sh need on a GPU machine without network: the Python packages glyph's
# rendering and tokenizer use that a bare PyTorch image lacks (pydantic, freetype-py; dashscope ships
# the Qwen vocabulary, installed without its own dependencies; the essays ship inside glyph) and
# transformers at the version the CPU tests run. Run it HERE (it needs PyPI), then carry .whl:
#   bash benchmarks/gpu/fetch_wheels.sh [python version, default 3.12]
# .whl/ is git-ignored; the GPU scripts install from it when it is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${1:-3.12}"
mkdir -p .whl
for pkg in pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
           freetype-py==2.5.1 dashscope==2.0.2 transformers==5.24.0; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$pkg"
done
du -sh .whl
