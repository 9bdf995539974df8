"""The official prompt files, loaded from where the user keeps them, and split around the document.

Wording changes scores, so a number that is to sit beside a published one must use the
published wording. These files are not ours to ship; the user points to them:

* LongBench (THUDM/LongBench ``LongBench/config/``): ``dataset2prompt.json`` (one template per
  dataset, with ``{context}`` and ``{input}``), ``dataset2maxlen.json`` (generation budget per
  dataset), and, for page readers, a file in the format of thu-coai/Glyph's
  ``evaluation/longbench/config/dataset2vlmprompt.json`` (the same templates with the document
  replaced by a note that it "is shown in the images").
* RULER (NVIDIA/RULER): the task templates of ``scripts/data/synthetic/constants.py``, the model
  templates of ``scripts/data/template.py`` and the task table ``scripts/synthetic.yaml``; a
  checkout, or one templates file in the format of ``constants.py`` (or JSON/YAML with the same
  ``TASKS`` mapping). The Python files are read as data (``ast.literal_eval``), never run.

Every loaded file is recorded with its SHA-256, so reports can tell two runs' prompts apart.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from glyph.eval.prompts import fill


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (first 16 hex digits), so equal files match wherever they live."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _json_mapping(path: str | Path, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no such {what} file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} file {path} must hold a JSON object (dataset -> value)")  # noqa: TRY004
    return data, {"path": str(path), "sha256": file_digest(path)}


# ----------------------------------------------------------------------------- LongBench


@dataclass(frozen=True)
class LongBenchPromptFiles:
    """The official LongBench prompt files a run uses (any of them may be absent)."""

    text: dict[str, str] | None = None  # dataset2prompt.json
    maxlen: dict[str, int] | None = None  # dataset2maxlen.json
    pages: dict[str, str] | None = None  # dataset2vlmprompt.json (Glyph's page prompts)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> {path, sha256}

    @classmethod
    def load(
        cls,
        prompt_file: str | Path | None = None,
        maxlen_file: str | Path | None = None,
        page_prompt_file: str | Path | None = None,
    ) -> LongBenchPromptFiles:
        sources: dict[str, dict[str, str]] = {}
        text = maxlen = pages = None
        if prompt_file is not None:
            text, sources["prompts"] = _json_mapping(prompt_file, "LongBench prompt")
            _check_strings(text, prompt_file, need_context=True)
        if maxlen_file is not None:
            maxlen, sources["maxlen"] = _json_mapping(maxlen_file, "LongBench maxlen")
            bad = {k: v for k, v in maxlen.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1}
            if bad:
                name, value = next(iter(bad.items()))
                raise ValueError(f"{maxlen_file}: {name!r} must map to a positive token count, got {value!r}")
        if page_prompt_file is not None:
            pages, sources["page_prompts"] = _json_mapping(page_prompt_file, "page prompt")
            _check_strings(pages, page_prompt_file, need_context=False)
        return cls(text, maxlen, pages, sources)

    def template(self, dataset: str) -> str | None:
        return _lookup(self.text, dataset, self.sources.get("prompts"))

    def page_template(self, dataset: str) -> str | None:
        return _lookup(self.pages, dataset, self.sources.get("page_prompts"))

    def max_new_tokens(self, dataset: str) -> int | None:
        if self.maxlen is None:
            return None
        value = self.maxlen.get(dataset)
        if value is None:
            raise ValueError(f"{self.sources['maxlen']['path']} has no generation length for {dataset!r}")
        return int(value)


def _check_strings(data: dict[str, Any], path: str | Path, need_context: bool) -> None:
    for name, template in data.items():
        if not isinstance(template, str):
            raise ValueError(f"{path}: the template of {name!r} must be a string, got {type(template).__name__}")  # noqa: TRY004
        if need_context and template.count("{context}") != 1:
            raise ValueError(
                f"{path}: the template of {name!r} must hold {{context}} exactly once "
                f"(found {template.count('{context}')})"
            )


def _lookup(table: dict[str, str] | None, dataset: str, source: dict[str, str] | None) -> str | None:
    if table is None:
        return None
    if dataset not in table:
        where = source["path"] if source else "the prompt file"
        raise ValueError(f"{where} has no template for {dataset!r}; it has {', '.join(sorted(table))}")
    return table[dataset]


def split_longbench(template: str, record: dict[str, Any]) -> tuple[str, str]:
    """``(before, after)`` the document in ``template.format(**record)``, as LongBench's ``pred.py`` fills it.

    ``before + record['context'] + after`` is the official prompt byte for byte.
    """
    head, tail = template.split("{context}")
    values = {k: ("" if v is None else v) for k, v in record.items() if k != "context"}
    return fill(head, **values), fill(tail, **values)


def glyph_page_prompt(template: str, record: dict[str, Any]) -> str:
    """The text Glyph sends next to the pages: ``template.replace('{input}', input.strip()).strip()``.

    That is ``post_api_longbench.py --use_image``: ``str.replace``, not ``str.format``, and
    both the question and the whole prompt stripped.
    """
    return template.replace("{input}", (record.get("input") or "").strip()).strip()


#: LongBench sends these datasets' prompts without the chat template (``pred.py``: "chat models
#: are better off without build prompts on these tasks").
NO_CHAT_TEMPLATE = ("trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p")

#: LongBench ends these datasets' answers at the first newline (``pred.py``: the newline token is
#: an end-of-sequence id for samsum, "prevent illegal output on samsum").
STOP_AT_NEWLINE = ("samsum",)


# ----------------------------------------------------------------------------- RULER

#: RULER task name -> its base task, for templates files without ``synthetic.yaml``
_RULER_BASE = (
    (re.compile(r"^niah_"), "niah"),
    (re.compile(r"^vt$"), "variable_tracking"),
    (re.compile(r"^cwe$"), "common_words_extraction"),
    (re.compile(r"^fwe$"), "freq_words_extraction"),
    (re.compile(r"^qa_\d+$"), "qa"),
)


def _literal_assignment(path: Path, name: str) -> Any:
    """The literal value assigned to ``name`` in a Python file, read without running the file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        raise ValueError(f"no such RULER templates file: {path}") from None
    except SyntaxError as exc:
        raise ValueError(f"{path} is not valid Python: {exc}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise ValueError(f"{path}: {name} is not a literal mapping") from None
    raise ValueError(f"{path} assigns no {name} = {{...}}")


@dataclass(frozen=True)
class RulerTemplates:
    """RULER's task templates, model templates and task table, with where they came from."""

    tasks: dict[str, dict[str, Any]]  # base task -> {template, answer_prefix, tokens_to_generate}
    models: dict[str, str] = field(default_factory=lambda: {"base": "{task_template}"})
    table: dict[str, dict[str, Any]] = field(default_factory=dict)  # task name -> {task, args}
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> RulerTemplates:
        """From a RULER checkout (its ``scripts/`` files) or one templates file (.py, .json, .yaml)."""
        path = Path(path)
        if path.is_dir():
            root = path / "scripts" if (path / "scripts").is_dir() else path
            constants = root / "data" / "synthetic" / "constants.py"
            if not constants.is_file():
                raise ValueError(
                    f"{path} is not a RULER checkout: no scripts/data/synthetic/constants.py "
                    "(pass the checkout's root or a templates file)"
                )
            sources = {"tasks": {"path": str(constants), "sha256": file_digest(constants)}}
            tasks = _literal_assignment(constants, "TASKS")
            models: dict[str, str] = {"base": "{task_template}"}
            template_py = root / "data" / "template.py"
            if template_py.is_file():
                models = _literal_assignment(template_py, "Templates")
                sources["models"] = {"path": str(template_py), "sha256": file_digest(template_py)}
            table: dict[str, dict[str, Any]] = {}
            task_yaml = root / "synthetic.yaml"
            if task_yaml.is_file():
                table = yaml.safe_load(task_yaml.read_text(encoding="utf-8")) or {}
                sources["table"] = {"path": str(task_yaml), "sha256": file_digest(task_yaml)}
            return cls._checked(tasks, models, table, sources, path)
        if not path.is_file():
            raise ValueError(f"no such RULER templates file or checkout: {path}")
        if path.suffix == ".py":
            tasks = _literal_assignment(path, "TASKS")
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            tasks = data.get("TASKS", data) if isinstance(data, dict) else data
        return cls._checked(tasks, {"base": "{task_template}"}, {}, {"tasks": {
            "path": str(path), "sha256": file_digest(path)}}, path)  # fmt: skip

    @classmethod
    def _checked(
        cls,
        tasks: Any,
        models: Any,
        table: Any,
        sources: dict[str, dict[str, str]],
        path: Path,
    ) -> RulerTemplates:
        if not isinstance(tasks, dict) or not tasks:
            raise ValueError(f"{path}: TASKS must map task names to {{template, ...}}")
        for name, task in tasks.items():
            if not isinstance(task, dict) or "{context}" not in str(task.get("template", "")):
                raise ValueError(f"{path}: task {name!r} needs a 'template' holding {{context}}")
        if not isinstance(models, dict) or any("{task_template}" not in str(m) for m in models.values()):
            raise ValueError(f"{path}: every model template must hold {{task_template}}")
        return cls(tasks, dict(models), dict(table or {}), sources)

    def base_task(self, task: str) -> str:
        """The base task (``niah``, ``variable_tracking``, ...) of a task name (``niah_single_1``)."""
        if task in self.table:
            return str(self.table[task]["task"])
        if task in self.tasks:
            return task
        for pattern, base in _RULER_BASE:
            if pattern.match(task) and base in self.tasks:
                return base
        raise ValueError(f"no RULER template for task {task!r}; templates have {', '.join(self.tasks)}")

    def tokens_to_generate(self, task: str) -> int:
        return int(self.tasks[self.base_task(task)].get("tokens_to_generate", 128))

    def answer_prefix(self, task: str) -> str:
        return str(self.tasks[self.base_task(task)].get("answer_prefix", ""))


@dataclass(frozen=True)
class RulerSplit:
    """A RULER input cut into the parts glyph keeps apart."""

    instruction: str  # the task template's text before the haystack
    context: str  # the haystack (rendered)
    question: str  # the task template's text after the haystack
    model_template: str  # which model template wrapped the input ("base": none)
    fields: dict[str, str]  # the other placeholders' values (query, type_needle_v, num_v)


def _singular(template: str) -> str:
    """RULER's niah wording for one needle and one query (``niah.py``'s replacements, in order)."""
    for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
        template = template.replace(old, new)
    return template


def _collapsed(template: str) -> str:
    """RULER's ``--remove_newline_tab``: newlines and tabs to spaces, whitespace runs collapsed."""
    return " ".join(template.replace("\n", " ").replace("\t", " ").strip().split())


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex that matches ``template`` filled in, capturing each placeholder (``{context}`` greedily)."""
    out: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        if name in seen:
            out.append(f"(?P={name})")
        else:
            seen.add(name)
            out.append(f"(?P<{name}>.*)" if name == "context" else f"(?P<{name}>.*?)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def split_ruler_input(text: str, task: str, templates: RulerTemplates, record: str = "") -> RulerSplit:
    """Cut a RULER ``input`` into instruction, context and question with the task's official template.

    The prepared input is ``model_template.format(task_template=template)`` filled in, minus
    the answer prefix; niah with one needle and one query uses RULER's singular wording, and
    ``--remove_newline_tab`` data (base model template only) is collapsed. Every model
    template of the checkout is tried; its wrapping is dropped (glyph's readers apply their
    own chat template), so instruction and question are the task template's own text.
    """
    base = templates.base_task(task)
    task_template = str(templates.tasks[base]["template"])
    models = sorted(templates.models.items(), key=lambda kv: kv[0] != "base")
    for model_name, model in models:
        head, tail = model.split("{task_template}", 1)
        for singular in (False, True) if base == "niah" else (False,):
            h, t, inner = (head, tail, task_template)
            if singular:
                h, t, inner = _singular(head), _singular(tail), _singular(task_template)
            for collapse in (False, True) if not (head or tail) else (False,):
                body_template = _collapsed(inner) if collapse else inner
                if not (text.startswith(h) and text.endswith(t)) or len(text) < len(h) + len(t):
                    continue
                body = text[len(h) : len(text) - len(t)]
                m = _template_regex(body_template).match(body)
                if m is None:
                    continue
                start, end = m.span("context")
                return RulerSplit(
                    instruction=body[:start],
                    context=m.group("context"),
                    question=body[end:],
                    model_template=model_name + (" (newlines removed)" if collapse else ""),
                    fields={k: v for k, v in m.groupdict().items() if k != "context"},
                )
    raise ValueError(
        f"record {record!r} (task {task}): its input does not match RULER's {base!r} template under any "
        f"model template of {templates.sources.get('tasks', {}).get('path', 'the templates')}"
    )
