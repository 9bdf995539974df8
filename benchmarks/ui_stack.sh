#!/usr/bin/env bash
# What Gradio (the peer demo's web stack) would add to a glyph-vtc install, measured:
# two fresh virtualenvs' worth of one: the package's core dependencies, then `pip install gradio`
# on top. Prints installed size, the packages added and every version pip changed (a downgrade
# of a pinned package is a conflict with our stack). Result: benchmarks/results/ui_stack.md.
#   bash benchmarks/ui_stack.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/ui_stack.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
pip="$work/venv/bin/pip"
site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$pip" install -q --disable-pip-version-check . >/dev/null
"$pip" freeze --exclude-editable | sort > "$work/before.txt"
before_mb=$(du -sm "$site" | cut -f1)
"$pip" install -q --disable-pip-version-check gradio >/dev/null
"$pip" freeze --exclude-editable | sort > "$work/after.txt"
after_mb=$(du -sm "$site" | cut -f1)
gradio_version=$(grep -i '^gradio==' "$work/after.txt" | cut -d= -f3)
{
  echo "# What Gradio adds to a glyph-vtc install"
  echo
  echo "\`bash benchmarks/ui_stack.sh\`, $(date -u +%Y-%m-%d), $(uname -sm), Python $("$work/venv/bin/python" -V | cut -d' ' -f2)."
  echo
  echo "| | site-packages | packages |"
  echo "|---|---:|---:|"
  echo "| glyph-vtc core dependencies | ${before_mb} MB | $(wc -l < "$work/before.txt") |"
  echo "| + gradio ${gradio_version} | ${after_mb} MB (+$((after_mb - before_mb)) MB) | $(wc -l < "$work/after.txt") |"
  echo
  echo "Added: $(comm -13 <(cut -d= -f1 "$work/before.txt") <(cut -d= -f1 "$work/after.txt") | tr '\n' ' ')"
  echo
  echo "Versions pip changed to fit gradio (before -> after):"
  echo
  join -t= -j1 <(sed 's/==/=/' "$work/before.txt" | sort -t= -k1,1) <(sed 's/==/=/' "$work/after.txt" | sort -t= -k1,1) \
    | awk -F= '$2 != $3 {print "- " $1 ": " $2 " -> " $3}'
  echo
  echo "fastapi / starlette / pydantic / uvicorn after: $(grep -iE '^(fastapi|starlette|pydantic|uvicorn)==' "$work/after.txt" | tr '\n' ' ')"
  echo
  echo "Gradio's own pins on them: $("$work/venv/bin/python" -c "import importlib.metadata as m; print('; '.join(r for r in m.requires('gradio') if r.split('<')[0].split('>')[0].split('=')[0].strip().lower() in ('fastapi','starlette','pydantic','pillow','uvicorn','numpy','typer') or 'pydantic' in r))")"
} > "$out"
cat "$out"
