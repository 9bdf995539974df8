#!/usr/bin/env bash
# Install everything the tests need (Debian packages, the package with its [test] extra,
# the CPU build of PyTorch) and run the whole suite. The demo texts ship inside the package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system_deps.sh
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -d .venv ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"
# a private PostgreSQL server for the shared-study test (skipped, with the reason, if it cannot start)
if [ -z "${GLYPH_TEST_POSTGRES_URL:-}" ] && pg=$(bash scripts/start_postgres.sh); then eval "$pg"; export GLYPH_TEST_POSTGRES_URL; fi
python -m pytest -q "$@"
