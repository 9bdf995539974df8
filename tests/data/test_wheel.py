"""The built wheel carries what ``pip install glyph-vtc`` users need with no second step.

Built with hatchling (the project's build backend, in-process: no network, under a second) into
a temporary folder. Expected: every file git tracks under ``src/glyph`` (the corpus, the UI's
static files, the recogniser's ONNX weights, the YAML configs), and the unpacked wheel, imported
on its own (``src/`` not on the path), finds its corpus, page, weights and command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
hatchling = pytest.importorskip("hatchling.builders.wheel", reason="pip install hatchling (the [test] extra)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    (built,) = hatchling.WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    return Path(built)


def tracked_package_files() -> list[str] | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "src/glyph"], capture_output=True, text=True,
                              check=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return [line.removeprefix("src/") for line in done.stdout.splitlines() if line]


def test_wheel_holds_the_corpus_the_page_and_the_weights(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert wheel.name.startswith("glyph_vtc-")  # the distribution name users install
    corpus = [n for n in names if n.startswith("glyph/data/corpus/paul_graham/") and n.endswith(".txt")]
    assert len(corpus) == 49  # the 49 essays the demo and the benchmarks use
    assert {"glyph/data/corpus/NOTICE.md", "glyph/data/corpus/tang300.txt", "glyph/data/corpus/textwrap.py.txt",
            "glyph/data/corpus/PSF-LICENSE.txt"} <= names  # fmt: skip
    assert {"glyph/ui/static/index.html", "glyph/ui/static/app.js", "glyph/ui/static/style.css",
            "glyph/ui/static/vendor/chart.umd.min.js", "glyph/ui/static/vendor/chart.js-LICENSE.md"} <= names  # fmt: skip
    assert {"glyph/readers/glyphrec/glyphrec_latin.onnx", "glyph/readers/glyphrec/glyphrec_latin.json"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    tracked = tracked_package_files()
    if tracked is not None:  # a git checkout: everything it tracks under src/glyph ships
        assert not sorted(set(tracked) - names), "tracked package files missing from the wheel"
    weights = zipfile.ZipFile(wheel).getinfo("glyph/readers/glyphrec/glyphrec_latin.onnx")
    assert weights.file_size == (ROOT / "src/glyph/readers/glyphrec/glyphrec_latin.onnx").stat().st_size


def test_the_unpacked_wheel_runs_on_its_own(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    entry = (next(site.glob("*.dist-info")) / "entry_points.txt").read_text(encoding="utf-8")
    assert "glyph = glyph.cli:app" in entry
    code = """
import json, glyph, glyph.data
from glyph.data import essay_texts
from glyph.readers.glyphrec.runtime import MODEL_PATH
from glyph.ui.app import STATIC
print(json.dumps({"where": glyph.__file__, "essays": len(list(essay_texts())),
                  "page": (STATIC / "index.html").is_file(), "weights": MODEL_PATH.stat().st_size}))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(got["where"]).is_relative_to(site)  # the wheel's copy, not the source tree
    assert got["essays"] == 49 and got["page"] and got["weights"] > 1_000_000
