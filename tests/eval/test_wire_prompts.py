"""What the text baseline puts on the wire is the official prompt, byte for byte, over loopback HTTP.

A scripted OpenAI-compatible server (``/v1/models``, ``/v1/chat/completions``,
``/v1/completions``) records every request body. The expected prompts are built here the way
the official scripts build them, independently of glyph's loaders: LongBench's ``pred.py``
fills ``dataset2prompt.json`` with ``prompt_format.format(**json_obj)`` and sends trec,
triviaqa, samsum, lsht, lcc and repobench-p without a chat template (so: ``/v1/completions``
with the raw prompt), ending samsum at its first newline; RULER sends ``input + answer_prefix``.
The templates below are our own wording in LongBench's whitespace layout (trec and lsht: one
newline before the question, lcc and repobench-p: none), the layouts a blank-line joiner breaks.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glyph.eval.longbench import load_longbench
from glyph.eval.official import LongBenchPromptFiles, RulerTemplates
from glyph.eval.ruler_data import load_ruler_data
from glyph.eval.runner import evaluate
from glyph.readers import CHAT, PromptFormat, get_reader

from .conftest import FIXTURES

fastapi = pytest.importorskip("fastapi")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))  # the shared loopback helpers
from loopback import serve_app

OFFICIAL = FIXTURES / "official"

#: our wording, LongBench's layout around {context} and {input} (its dataset2prompt.json)
TEMPLATES = {
    "trec": "Sort the question into its type. Typed examples follow.\n\n{context}\n{input}",
    "lsht": "请判断新闻的类别。下面是例子。\n\n{context}\n{input}",
    "lcc": "Continue the code below. \n{context}Next line of code:\n",
    "repobench-p": "Continue the code below. \n{context}{input}Next line of code:\n",
    "samsum": "Sum up the dialogue in a sentence. Examples follow.\n\n{context}\n\n{input}",
    "hotpotqa": "Answer from the passages.\n\n{context}\n\nAnswer from the passages.\n\nQuestion: {input}\nAnswer:",
}
RECORDS = {
    "trec": {"input": "Where is Lima ?", "context": "Question: Who wrote Hamlet ?\nType: Individual\n",
             "answers": ["Other location"], "all_classes": ["Individual", "Other location"]},
    "lsht": {"input": "新闻：股市今天上涨。", "context": "新闻：球队赢了比赛。\n类别：体育\n",
             "answers": ["财经"], "all_classes": ["体育", "财经"]},
    "lcc": {"input": "", "context": "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n",
            "answers": ["    return a - b"], "all_classes": None},
    "repobench-p": {"input": "import os\nclass Store:\n", "context": "# file: util.py\ndef path(x):\n    return x\n",
                    "answers": ["    def __init__(self):"], "all_classes": None},
    "samsum": {"input": "Dialogue: Ann: Lunch?\nBob: Sure, noon.\nSummary: ",
               "context": "Dialogue: Cy: Done?\nDi: Yes.\nSummary: Di is done.\n",
               "answers": ["Ann and Bob meet for lunch at noon."], "all_classes": None},
    "hotpotqa": {"input": "Who founded the shop?", "context": "Passage 1:\nThe shop was founded by Ada.\n",
                 "answers": ["Ada"], "all_classes": None},
}  # fmt: skip
RAW = {"trec", "lsht", "lcc", "repobench-p", "samsum"}


class Recorder:
    """An OpenAI-compatible server that records each request body with its endpoint."""

    def __init__(self, completions: bool = True) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.app = fastapi.FastAPI()

        @self.app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "text-llm", "object": "model"}]}

        @self.app.post("/v1/chat/completions")
        async def chat(request: fastapi.Request) -> dict[str, Any]:
            self.requests.append(("chat", await request.json()))
            return {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "chat answer"}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}  # fmt: skip

        if completions:

            @self.app.post("/v1/completions")
            async def complete(request: fastapi.Request) -> dict[str, Any]:
                self.requests.append(("completions", await request.json()))
                await asyncio.sleep(0)
                return {"object": "text_completion", "choices": [{"index": 0, "text": " raw answer",
                        "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 2,
                        "total_tokens": 7}}  # fmt: skip


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()
    with serve_app(rec.app) as url:
        yield rec, url + "/v1"


def longbench_data(tmp_path: Path) -> tuple[Path, LongBenchPromptFiles]:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, record in RECORDS.items():
        full = {**record, "length": 40, "dataset": name, "language": "en", "_id": f"{name}-1"}
        (folder / f"{name}.jsonl").write_text(json.dumps(full, ensure_ascii=False) + "\n", encoding="utf-8")
    prompt_file = tmp_path / "dataset2prompt.json"
    prompt_file.write_text(json.dumps(TEMPLATES, ensure_ascii=False), encoding="utf-8")
    return folder, LongBenchPromptFiles.load(prompt_file)


def test_longbench_prompts_on_the_wire_are_pred_pys(recorder, tmp_path, tok, cfg) -> None:
    rec, url = recorder
    data, files = longbench_data(tmp_path)
    samples = list(load_longbench(data, files=files, tokenizer=tok))
    results = {r.task: r for r in evaluate(samples, get_reader("text", base_url=url), cfg, on_error="raise")}
    sent: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, body in rec.requests:
        prompt = body["prompt"] if kind == "completions" else body["messages"][-1]["content"]
        name = next(n for n, r in RECORDS.items() if prompt == TEMPLATES[n].format(**r))  # pred.py's prompt
        sent[name] = (kind, body)
    assert set(sent) == set(RECORDS)  # every prompt matched its official one exactly
    for name, (kind, body) in sent.items():
        assert kind == ("completions" if name in RAW else "chat"), name
        assert body["model"] == "text-llm" and body["temperature"] == 0.0
        if kind == "chat":
            assert body["messages"] == [{"role": "user", "content": TEMPLATES[name].format(**RECORDS[name])}]
            assert "prompt" not in body
        else:
            assert "messages" not in body
        assert body.get("stop") == (["\n"] if name == "samsum" else None), name
    assert results["trec"].prediction == " raw answer" and results["hotpotqa"].prediction == "chat answer"
    assert results["trec"].usage["prompt_tokens"] == 5  # the completions endpoint's own usage
    # the four layouts a blank line breaks: one newline (or none) before the question, as sent
    assert sent["trec"][1]["prompt"].endswith("Type: Individual\n\nWhere is Lima ?")
    assert sent["lcc"][1]["prompt"].endswith("def sub(a, b):\nNext line of code:\n")
    assert sent["repobench-p"][1]["prompt"].endswith("return x\nimport os\nclass Store:\nNext line of code:\n")


def test_ruler_prompts_on_the_wire_are_input_plus_answer_prefix(recorder, tok, cfg) -> None:
    rec, url = recorder
    templates = RulerTemplates.load(OFFICIAL / "ruler_checkout")
    samples = list(load_ruler_data(OFFICIAL / "ruler_prepared", templates, tokenizer=tok))
    evaluate(samples, get_reader("text", base_url=url), cfg, on_error="raise")
    sent = sorted(body["messages"][-1]["content"] for kind, body in rec.requests if kind == "chat")
    official = []
    for f in sorted((OFFICIAL / "ruler_prepared").rglob("validation.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if not r["input"].startswith("<<user>>"):  # base model template: the input is the prompt
                official.append(r["input"] + r["answer_prefix"])
    assert official and sorted(official) == [s for s in sent if s in official]
    assert all(kind == "chat" for kind, _ in rec.requests)  # RULER has no raw-prompt tasks
    niah = next(s for s in sent if "calm-river" in s)
    assert "The sky is blue.\nWhat is the hidden number" in niah  # RULER's single newline, not a blank line


def test_raw_prompts_false_sends_every_task_as_chat(tmp_path, tok, cfg) -> None:
    rec = Recorder(completions=False)
    data, files = longbench_data(tmp_path)
    samples = [s for s in load_longbench(data, files=files, tokenizer=tok) if s.task in ("trec", "samsum")]
    with serve_app(rec.app) as url:
        failed = evaluate(samples, get_reader("text", base_url=url + "/v1", max_retries=0), cfg)
        chat_only = evaluate(samples, get_reader("text", base_url=url + "/v1", raw_prompts=False), cfg)
    # a chat-only server: the 404 of /v1/completions says what to do
    assert all(r.error and "raw_prompts=false" in r.error and "404" in r.error for r in failed)
    assert all(r.error is None and r.prediction == "chat answer" for r in chat_only)
    prompts = [body["messages"][-1]["content"] for kind, body in rec.requests if kind == "chat"]
    assert sorted(prompts) == sorted(TEMPLATES[s.task].format(**RECORDS[s.task]) for s in samples)
    assert [body.get("stop") for _, body in rec.requests if "Ann" in json.dumps(body)] == [["\n"]]


def test_a_system_prompt_cannot_go_into_a_raw_prompt(recorder, tmp_path, tok, cfg) -> None:
    rec, url = recorder
    data, files = longbench_data(tmp_path)
    samples = [s for s in load_longbench(data, files=files, tokenizer=tok) if s.task in ("trec", "hotpotqa")]
    results = {r.task: r for r in evaluate(samples, get_reader("text", base_url=url), cfg, system="Be brief.")}
    assert "no place for the system prompt 'Be brief.'" in (results["trec"].error or "")
    assert results["hotpotqa"].error is None
    assert [kind for kind, _ in rec.requests] == ["chat"]  # nothing was sent for trec


def test_samples_carry_longbenchs_rules_as_a_prompt_format(tmp_path, tok) -> None:
    data, files = longbench_data(tmp_path)
    by_task = {s.task: s for s in load_longbench(data, files=files, tokenizer=tok)}
    assert by_task["samsum"].prompt_format() == PromptFormat(joiner="", chat_template=False, stop=("\n",))
    assert by_task["lcc"].prompt_format() == PromptFormat(joiner="", chat_template=False)
    assert by_task["hotpotqa"].prompt_format() == PromptFormat(joiner="")
    for s in by_task.values():
        assert s.prompt_format().join(*s.text_reader_parts()) == s.text_prompt()
    # glyph's own wording keeps its blank-line joiner and LongBench's per-task rules
    ours = {s.task: s for s in load_longbench(data, tokenizer=tok)}
    assert ours["hotpotqa"].prompt_format() == CHAT
    hot = ours["hotpotqa"]
    assert hot.prompt_format().join(*hot.text_reader_parts()) == hot.text_prompt()
    assert ours["samsum"].prompt_format().stop == ("\n",) and not ours["trec"].prompt_format().chat_template
