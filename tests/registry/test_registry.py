"""The lazy registry (glyph.registry) and its two users: readers and search evaluators.

What is promised: listing names imports no member; a member is imported on first use; third
parties register a factory, a "module:attr" string or an entry point; bad registrations and
unknown names fail with the name; readers declare what they consume, checked at class
definition, and the eval runner dispatches on that declaration.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from glyph.readers import READERS, Consumes, Reader, ReaderAnswer, ReaderUnavailableError, get_reader
from glyph.registry import Registry
from glyph.render.pages import RenderedPage

SRC = Path(__file__).resolve().parents[2] / "src"


def run_python(code: str) -> str:
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_listing_imports_no_reader_and_no_evaluator() -> None:
    out = run_python(
        textwrap.dedent("""
        import sys
        from glyph.readers import reader_names
        from glyph.search.evaluators import evaluator_names
        names, evaluators = reader_names(), evaluator_names()
        heavy = ["glyph.readers.ocr", "glyph.readers.local_hf", "glyph.readers.openai_http", "httpx",
                 "onnxruntime", "torch", "glyph.search.evaluators.fidelity", "glyph.search.evaluators.ruler"]
        print(sorted(names), sorted(evaluators), [m for m in heavy if m in sys.modules])
    """)
    )
    assert out == (
        "['ocr', 'ocr-pixels', 'openai', 'oracle', 'ppocr', 'rapidocr-page', 'tesseract', 'text', 'transformers', "
        "'transformers-text'] "
        "['ocr-fidelity', 'ocr-ruler', 'synthetic', 'vlm-ruler'] []"
    )


def test_a_reader_is_imported_on_first_use_and_unknown_names_are_refused() -> None:
    out = run_python(
        textwrap.dedent("""
        import sys
        from glyph.readers import get_reader
        before = "glyph.readers.oracle" in sys.modules
        reader = get_reader("oracle")
        print(before, type(reader).__module__, "glyph.readers.ocr" in sys.modules)
    """)
    )
    assert out == "False glyph.readers.oracle False"
    with pytest.raises(
        ValueError,
        match=r"unknown reader 'orcle' \(did you mean 'oracle'\?\); known readers: .*ocr, ocr-pixels, openai, oracle",
    ):
        get_reader("orcle")


# ------------------------------------------------------------------------ third parties
@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``glyph_test_plugin`` with one reader, and an installed distribution declaring it
    as an entry point of the ``glyph.test_readers`` group."""
    (tmp_path / "glyph_test_plugin.py").write_text(
        textwrap.dedent("""
        from glyph.readers import Reader

        class ShoutReader(Reader):
            name = "shout"

            def __init__(self, suffix="!"):
                self.suffix = suffix

            def transcribe(self, pages):
                return [p.text.upper() + self.suffix for p in pages]

        def not_a_reader():
            return 42
    """)
    )
    dist = tmp_path / "glyph_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: glyph-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[glyph.test_readers]\nshout = glyph_test_plugin:ShoutReader\nocr = glyph_test_plugin:ShoutReader\n"
        "broken = not a target\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "glyph_test_plugin", raising=False)
    return tmp_path


def test_third_parties_register_a_string_a_factory_or_an_entry_point(plugin_dir: Path) -> None:
    registry: Registry[Reader] = Registry(
        "reader", base=Reader, unavailable=ReaderUnavailableError, group="glyph.test_readers"
    )
    registry.builtin("ocr", "glyph.readers.ocr:LineOCRReader", "the built-in one")
    registry.register("by-string", "glyph_test_plugin:ShoutReader", "registered as a string")
    assert "glyph_test_plugin" not in sys.modules  # nothing imported by registering or listing
    names = registry.names()
    assert names["by-string"] == "registered as a string"
    assert names["shout"] == "plugin from glyph-test-plugin (glyph_test_plugin:ShoutReader)"
    assert names["ocr"] == "the built-in one"  # a plugin cannot take over a built-in name
    assert "broken" not in names  # a malformed entry point is skipped, not fatal
    assert "glyph_test_plugin" not in sys.modules
    shout = registry.create("shout", suffix="?")
    assert type(shout).__name__ == "ShoutReader" and shout.suffix == "?"
    assert registry.factory("by-string") is registry.factory("shout")  # one class, imported once
    registry.register("by-object", type(shout), "a factory object")
    assert isinstance(registry.create("by-object"), type(shout))


def test_bad_registrations_and_targets_fail_with_the_name(plugin_dir: Path) -> None:
    registry: Registry[Reader] = Registry("reader", base=Reader, unavailable=ReaderUnavailableError)
    with pytest.raises(
        ValueError, match=r"reader 'x': target must be 'package.module:attribute', got 'nope'"
    ):
        registry.register("x", "nope", "")
    with pytest.raises(TypeError, match="target must be callable"):
        registry.register("x", 42, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be a non-empty word"):
        registry.register("two words", "a:b", "")
    registry.register("missing-module", "glyph_no_such_module.sub:Reader", "")
    with pytest.raises(
        ReaderUnavailableError,
        match=r"reader 'missing-module' cannot be imported \(missing module "
        r"'glyph_no_such_module'\)",
    ):
        registry.factory("missing-module")
    registry.register("missing-attr", "glyph_test_plugin:NoSuchReader", "")
    with pytest.raises(ValueError, match="glyph_test_plugin has no attribute 'NoSuchReader'"):
        registry.factory("missing-attr")
    registry.register("wrong-type", "glyph_test_plugin:not_a_reader", "")
    with pytest.raises(TypeError, match="reader 'wrong-type' built a int, not a Reader"):
        registry.create("wrong-type")


# ------------------------------------------------------------------------ declarations
@pytest.mark.parametrize(
    ("name", "consumes", "answers"),
    [
        ("ocr", Consumes.PAGES, False),
        ("rapidocr-page", Consumes.PAGES, False),
        ("tesseract", Consumes.PAGES, False),
        ("oracle", Consumes.PAGES, False),
        ("openai", Consumes.PAGES, True),
        ("transformers", Consumes.PAGES, True),
        ("text", Consumes.TEXT, True),
    ],
)
def test_built_in_readers_declare_what_they_consume(name: str, consumes: Consumes, answers: bool) -> None:
    cls = READERS.factory(name)
    assert (cls.consumes, cls.answers) == (consumes, answers)  # type: ignore[attr-defined]


def test_declarations_are_checked_when_a_reader_class_is_defined() -> None:
    with pytest.raises(TypeError, match="consumes 'text', so it answers: set answers = True"):

        class Mute(Reader):
            consumes = Consumes.TEXT

            def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
                return []

    with pytest.raises(TypeError, match="declares it answers from 'text' but implements none of answer_text"):

        class Forgetful(Reader):
            consumes = Consumes.TEXT
            answers = True

            def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
                return []

    with pytest.raises(TypeError, match="Undeclared implements aanswer but declares answers = False"):

        class Undeclared(Reader):  # a VLM that forgot the flag must not end up behind the OCR extractor
            def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
                return []

            async def aanswer(self, pages, question, *, system=None, max_tokens=512):  # type: ignore[no-untyped-def]
                return ReaderAnswer("x")

    with pytest.raises(TypeError, match="consumes must be a glyph.readers.Consumes"):

        class Stringly(Reader):
            consumes = "text"  # type: ignore[assignment]

            def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
                return []


def test_the_runner_dispatches_on_the_declaration_and_refuses_transcribers() -> None:
    from glyph.eval import ExtractReader, evaluate, resolve_reader
    from glyph.eval.ruler import generate_ruler
    from glyph.render.config import reference_default

    class Both(Reader):
        """Has every method, declares TEXT: the runner must call answer_text, nothing else."""

        name = "both"
        consumes = Consumes.TEXT
        answers = True
        called: ClassVar[list[str]] = []

        def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
            raise AssertionError("transcribe")

        def answer(self, pages, question, *, system=None, max_tokens=512):  # type: ignore[no-untyped-def]
            raise AssertionError("answer(pages)")

        def answer_sample(self, sample, pages):  # type: ignore[no-untyped-def]
            raise AssertionError("answer_sample")

        def answer_text(  # type: ignore[no-untyped-def]
            self, text, question, *, system=None, max_tokens=512, prompt_format=None
        ):
            self.called.append("text")
            return ReaderAnswer("x")

    cfg = reference_default()
    samples = list(generate_ruler(["niah_single_1"], [512], 1, 0, "qwen"))
    results = evaluate(samples, Both(), cfg, on_error="raise")
    assert Both.called == ["text"] and results[0].mode == "text"
    with pytest.raises(ValueError, match="reader 'oracle' transcribes but does not answer.*'oracle-extract'"):
        evaluate(samples, get_reader("oracle"), cfg)
    wrapped = resolve_reader("oracle")
    assert isinstance(wrapped, ExtractReader) and wrapped.consumes is Consumes.SAMPLE
    assert evaluate(samples, wrapped, cfg, on_error="raise")[0].score == 1.0


# ------------------------------------------------------------------------ evaluators
def test_evaluators_come_from_the_same_registry() -> None:
    from glyph.search.evaluators import EVALUATORS, EvaluatorUnavailableError, evaluator_names, get_evaluator

    assert EVALUATORS.unavailable is EvaluatorUnavailableError
    assert evaluator_names()["synthetic"].startswith("analytic stand-in")
    synthetic = get_evaluator("synthetic", legible_px=5.0)
    assert synthetic.name == "synthetic" and synthetic.describe() == {
        "name": "synthetic",
        "options": {"legible_px": 5.0},
    }
    with pytest.raises(
        ValueError, match=r"unknown evaluator 'ocr-fidelty' \(did you mean 'ocr-fidelity'\?\)"
    ):
        get_evaluator("ocr-fidelty")


def test_glyph_readers_lists_the_registry() -> None:
    from typer.testing import CliRunner

    from glyph.cli import app

    result = CliRunner().invoke(app, ["readers"])
    assert result.exit_code == 0, result.output
    for name in ("ocr", "openai", "oracle", "tesseract", "text", "transformers"):
        assert name in result.output
    assert "PP-OCRv4" in result.output and "-extract" in result.output
