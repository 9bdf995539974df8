"""Are the model inputs `glyph eval` builds the ones the official scripts build? Checked on the same records.

Takes checkouts of the official repositories and runs their own code (in subprocesses, with
their folders on ``sys.path``; nothing of theirs is copied into glyph) next to glyph's:

* **RULER** (NVIDIA/RULER): its generator (``scripts/data/prepare.py`` and the task scripts)
  prepares records offline, with Qwen's BPE as a Hugging Face tokenizer directory and
  SQuAD / HotpotQA files of our own in the official schema. glyph loads them
  (``glyph eval ruler --data --templates``) and must rebuild each model input byte for byte
  (``instruction + context + question == input + answer_prefix``, chat wrapping dropped).
* **LongBench** (THUDM/LongBench): ``pred.py`` cannot be imported here (it imports flash-attn
  and loads a model on CUDA), so the statements of its ``get_pred`` loop that build the
  prompt (``prompt_format.format(**json_obj)`` and the middle truncation) are taken from
  its source with ``ast`` and executed as they are, with its ``dataset2prompt.json`` and the
  same tokenizer. glyph's text prompt must equal that prompt; generation lengths must equal
  ``dataset2maxlen.json``; the chat-template exceptions must equal ``pred.py``'s list.
* **Glyph** (thu-coai/Glyph ``evaluation/``): ``post_api_longbench.process_item`` (with its
  HTTP call replaced by a recorder), ``post_api_ruler.process_data_item`` and
  ``post_api_mrcr.process_data_item`` give the text sent next to the pages; glyph's page
  prompt must be byte-equal. Glyph's renderers (``word2png_longbench.process_one``,
  ``word2png_ruler.process_one``, ``word2png_mrcr.process_one``) render the same contexts
  with ``config/config_en.json`` and ``config/Verdana.ttf``; glyph's renderer must give the
  same page count and the same line breaks (page text as pdfplumber extracts it from
  Glyph's PDF vs glyph's drawn lines, whitespace normalised), with the keys ``glyph eval`` gives
  Glyph's records (``paragraph-lines`` 0: one Paragraph per context, as the evaluation renderers
  do; RULER: ``crop-margin`` half) and, for comparison, with glyph's default 30 lines per
  Paragraph (``scripts/word2png_function.py``'s layout). glyph's reference harness
  (``glyph.render.reference``, reportlab itself) is rendered in both modes too.
* Text readers: what they put on the wire (``Sample.prompt_format().join(*text_reader_parts())``)
  must equal the official prompt, and LongBench's raw-prompt tasks must be exactly ``pred.py``'s.

    python benchmarks/eval_compat.py --ruler /work/peers/RULER --longbench /work/peers/LongBench \\
        --glyph /work/peers/Glyph [--out benchmarks/results/eval_compat]

Needs the ``[compat]`` extra (pdfplumber, wonderwords, nltk: what the official scripts import)
and the ``[reference]`` extra with poppler. Writes ``compat.json`` and ``compat.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from glyph.data import text_of_tokens
from glyph.eval.longbench import DATASET_METRIC, load_longbench
from glyph.eval.mrcr import load_mrcr
from glyph.eval.official import NO_CHAT_TEMPLATE, LongBenchPromptFiles, RulerTemplates
from glyph.eval.records import GLYPH_RENDERERS
from glyph.eval.ruler_data import load_ruler_data
from glyph.render import RenderConfig, render_pages
from glyph.render.layout import layout_text
from glyph.render.reference import reference_render

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "eval" / "fixtures"
RULER_LENGTH = 4096
RULER_SAMPLES = 3


# ----------------------------------------------------------------------------- helpers


def commit_of(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def run_py(code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter; its last stdout line is JSON (stderr kept for errors)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def qwen_hf_dir(out: Path) -> Path:
    """Qwen's byte-level BPE as a Hugging Face tokenizer directory (what RULER and LongBench load)."""
    from glyph.readers.tiny import build_tokenizer

    build_tokenizer([], eos="<|endoftext|>", kind="qwen").save_pretrained(out)
    return out


def norm(text: str) -> str:
    return " ".join(text.replace("\xa0", " ").split())


# ----------------------------------------------------------------------------- RULER


def ruler_generate(ruler: Path, work: Path, tok_dir: Path) -> dict[str, Any]:
    """Run RULER's prepare.py for every task of synthetic.yaml (base and one chat template)."""
    scripts = work / "ruler_scripts"
    shutil.copytree(ruler / "scripts", scripts)  # a scratch copy: the QA files go into its json/
    shutil.copy(FIXTURES / "official/qa/squad.json", scripts / "data/synthetic/json/squad.json")
    shutil.copy(FIXTURES / "official/qa/hotpotqa.json", scripts / "data/synthetic/json/hotpotqa.json")
    from glyph.data.essays import essay_texts

    essays = {"text": "\n\n".join(t for _, t in essay_texts())}  # what download_paulgraham_essay.py would write
    (scripts / "data/synthetic/json/PaulGrahamEssays.json").write_text(json.dumps(essays), encoding="utf-8")
    import yaml

    tasks = list(yaml.safe_load((scripts / "synthetic.yaml").read_text()))
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NLTK_DATA": str(work / "nltk_data")}
    runs: dict[str, Any] = {}
    for template in ("base", "meta-llama3"):
        out = work / f"ruler_out_{template}" / str(RULER_LENGTH) / "data"
        for task in tasks if template == "base" else ["niah_single_1", "vt", "qa_1"]:
            cmd = [sys.executable, "prepare.py", "--save_dir", str(out), "--benchmark", "synthetic", "--task", task,
                   "--tokenizer_path", str(tok_dir), "--tokenizer_type", "hf", "--max_seq_length", str(RULER_LENGTH),
                   "--model_template_type", template, "--num_samples", str(RULER_SAMPLES)]  # fmt: skip
            start = time.perf_counter()
            try:
                done = subprocess.run(cmd, cwd=scripts / "data", capture_output=True, text=True,
                                      env={**os.environ, **env}, timeout=600, check=False)  # fmt: skip
                log = done.stdout + done.stderr
            except subprocess.TimeoutExpired:
                log = "Error: timed out after 600 s"
            made = out / task / "validation.jsonl"
            error = None
            if not made.is_file():
                raised = [ln for ln in log.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception): ", ln)]
                detail = [ln for ln in log.splitlines() if "Resource" in ln and "not found" in ln]
                error = " ".join(x.strip() for x in (raised[-1:] + detail[:1])) or "no output"
                error = error[:240]
            runs[f"{template}/{task}"] = {"ok": made.is_file(), "error": error,
                                          "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    return {"tasks": tasks, "runs": runs}


def ruler_compare(ruler: Path, work: Path, tok_spec: str) -> list[dict[str, Any]]:
    """glyph's split of every prepared record vs the record itself."""
    templates = RulerTemplates.load(ruler)
    rows = []
    for template in ("base", "meta-llama3"):
        root = work / f"ruler_out_{template}"
        if not root.is_dir():
            continue
        wrap_head, wrap_tail = templates.models[template].split("{task_template}")
        for s in load_ruler_data(root, templates, tokenizer=tok_spec):
            rec = json.loads((root / str(RULER_LENGTH) / "data" / s.task / "validation.jsonl").read_text()
                             .splitlines()[int(s.id.rsplit("-", 1)[1])])  # fmt: skip
            official = rec["input"]
            if template != "base":
                official = official.removeprefix(wrap_head).removesuffix(wrap_tail)
            official += rec.get("answer_prefix", "")
            base = templates.base_task(s.task)
            head = str(templates.tasks[base]["template"]).split("{context}")[0]
            rows.append({
                "template": template, "task": s.task, "id": s.id,
                "prompt_equal": s.text_prompt() == official,
                "sent_equal": s.prompt_format().join(*s.text_reader_parts()) == official,
                "answers_equal": s.answers == rec["outputs"],
                "instruction_is_template_text": norm(re.sub(r"\{\w+\}", "", head)).split()[:3]
                == norm(s.instruction).split()[:3],
                "context_chars": len(s.context),
                "max_new_tokens": s.max_new_tokens,
                "official_tokens_to_generate": templates.tokens_to_generate(s.task),
            })  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- LongBench

_PRED_LINES = r"""
import ast, json, sys
pred_py, tok_dir, records_file, max_length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tree = ast.parse(open(pred_py).read())
get_pred = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'get_pred')
loop = next(n for n in ast.walk(get_pred) if isinstance(n, ast.For))
body, chat_skip = [], None
for stmt in loop.body:  # the statements before the chat template is applied build the prompt
    if isinstance(stmt, ast.If) and 'build_chat' in ast.unparse(stmt):
        chat_skip = ast.literal_eval(stmt.test.comparators[0])
        break
    body.append(stmt)
code = compile(ast.Module(body=body, type_ignores=[]), pred_py + ':get_pred', 'exec')
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(tok_dir)
dataset2prompt = json.load(open(pred_py.rsplit('/', 1)[0] + '/config/dataset2prompt.json'))
out = []
for json_obj in json.load(open(records_file)):
    ns = {'prompt_format': dataset2prompt[json_obj['dataset'].removesuffix('_e')], 'json_obj': json_obj,
          'tokenizer': tokenizer, 'model_name': 'glyph-compat', 'max_length': max_length}
    exec(code, ns)
    out.append(ns['prompt'])
print(json.dumps({'prompts': out, 'chat_skip': chat_skip, 'statements': [ast.unparse(s)[:80] for s in body]}))
"""


def longbench_records(work: Path) -> Path:
    """One short record per dataset (our fixture texts) and long ones cut from the essays, official schema."""
    records: list[dict[str, Any]] = []
    for f in sorted((FIXTURES / "longbench").glob("*.jsonl")):
        records += [json.loads(line) for line in f.read_text().splitlines() if line]
    have = {r["dataset"] for r in records}
    for name in DATASET_METRIC:
        if name not in have:
            records.append({"input": f"What does the text say about {name}?", "context": "Passage 1:\nA short text.\n",
                            "answers": ["x"], "length": 5, "dataset": name, "language": "en",
                            "all_classes": None, "_id": f"{name}-syn"})  # fmt: skip
    for name, tokens in (("hotpotqa", 6000), ("gov_report", 40000)):
        records.append({"input": "What is the author's main argument?", "context": text_of_tokens(tokens),
                        "answers": ["x"], "length": tokens, "dataset": name, "language": "en",
                        "all_classes": None, "_id": f"{name}-essay-{tokens}"})  # fmt: skip
    folder = work / "longbench_data"
    folder.mkdir()
    for r in records:
        with (folder / f"{r['dataset']}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    (work / "longbench_records.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return folder


def longbench_compare(longbench: Path, work: Path, tok_dir: Path, data: Path) -> dict[str, Any]:
    cfg = longbench / "LongBench" / "config"
    files = LongBenchPromptFiles.load(cfg / "dataset2prompt.json", cfg / "dataset2maxlen.json")
    maxlen = json.loads((cfg / "dataset2maxlen.json").read_text())
    records = json.loads((work / "longbench_records.json").read_text())
    out: dict[str, Any] = {"windows": {}}
    for window in (3500, 31500):  # model2maxlen.json: llama2-7b-chat-4k, chatglm2-6b / longchat-32k
        theirs = run_py(_PRED_LINES, str(longbench / "LongBench" / "pred.py"), str(tok_dir),
                        str(work / "longbench_records.json"), str(window))  # fmt: skip
        ours = {s.id: s for s in load_longbench(data, tokenizer=f"hf:{tok_dir}", files=files, max_length=window)}
        rows = []
        for rec, prompt in zip(records, theirs["prompts"]):
            s = ours[rec["_id"]]
            fmt = s.prompt_format()  # what the text readers put on the wire
            raw_official = rec["dataset"].removesuffix("_e") in theirs["chat_skip"]
            rows.append({"id": rec["_id"], "dataset": rec["dataset"], "equal": s.text_prompt() == prompt,
                         "sent_equal": fmt.join(*s.text_reader_parts()) == prompt,
                         "template_rule_equal": fmt.chat_template is not raw_official,
                         "truncated": bool(s.metadata.get("truncation")),
                         "max_new_tokens_equal": s.max_new_tokens == maxlen[rec["dataset"]]})  # fmt: skip
        out["windows"][window] = rows
        out["pred_py_statements"] = theirs["statements"]
        out["chat_skip_official"] = theirs["chat_skip"]
    out["chat_skip_equal"] = out["chat_skip_official"] == list(NO_CHAT_TEMPLATE)
    return out


# ----------------------------------------------------------------------------- Glyph prompts

_GLYPH_LB = r"""
import io, contextlib, json, sys
sys.path.insert(0, sys.argv[1] + '/evaluation/longbench/scripts')
with contextlib.redirect_stdout(io.StringIO()):
    import post_api_longbench as m
seen = []
m.post_api = lambda prompt, **kw: (seen.append(prompt), ('', 0))[1]
prompts = {'page': json.load(open(sys.argv[1] + '/evaluation/longbench/config/dataset2vlmprompt.json')),
           'text': json.load(open(sys.argv[1] + '/evaluation/longbench/config/dataset2prompt.json'))}
out = {'page': [], 'text': []}
for item in json.load(open(sys.argv[2])):
    for mode in ('page', 'text'):
        item = dict(item, input=item['input'].strip(), context=item['context'].strip(), image_paths=[])
        seen.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            m.process_item((item, mode == 'page', 'http://unused', prompts[mode]))
        out[mode].append(seen[0] if seen else None)
print(json.dumps(out))
"""

_GLYPH_MRCR_RULER = r"""
import io, contextlib, json, sys
sys.path[:0] = [sys.argv[1] + '/evaluation/mrcr/scripts', sys.argv[1] + '/evaluation/ruler/scripts']
with contextlib.redirect_stdout(io.StringIO()):
    import post_api_mrcr, post_api_ruler
def text_of(message):
    return [c['text'] for c in message['messages'][0]['content'] if c['type'] == 'text'][0]
out = {'mrcr': [text_of(post_api_mrcr.process_data_item(r)) for r in json.load(open(sys.argv[2]))],
       'ruler': [text_of(post_api_ruler.process_data_item(r)) for r in json.load(open(sys.argv[3]))]}
print(json.dumps(out))
"""


def glyph_prompts(glyph: Path, work: Path, data: Path) -> dict[str, Any]:
    records = json.loads((work / "longbench_records.json").read_text())
    theirs = run_py(_GLYPH_LB, str(glyph), str(work / "longbench_records.json"))
    pages = LongBenchPromptFiles.load(page_prompt_file=glyph / "evaluation/longbench/config/dataset2vlmprompt.json")
    texts = LongBenchPromptFiles.load(glyph / "evaluation/longbench/config/dataset2prompt.json")
    ours = {s.id: s for s in load_longbench(data, files=pages)}
    ours_text = {s.id: s for s in load_longbench(data, files=texts)}
    lb = []
    for rec, page, text in zip(records, theirs["page"], theirs["text"]):
        s, t = ours[rec["_id"]], ours_text[rec["_id"]]
        lb.append({"id": rec["_id"], "dataset": rec["dataset"], "page_equal": s.page_prompt() == page,
                   "text_equal": t.text_prompt() == text, "text_equal_stripped": t.text_prompt().strip() == text})
    mrcr_file = FIXTURES / "official/glyph_evaluation/mrcr/data/processed_2needle_0-128k.json"
    ruler_file = FIXTURES / "official/glyph_evaluation/ruler/data/dpi96_processed_ruler_all_tasks_4096.json"
    other = run_py(_GLYPH_MRCR_RULER, str(glyph), str(mrcr_file), str(ruler_file))
    mrcr = [s.page_prompt() == t for s, t in zip(load_mrcr(mrcr_file), other["mrcr"])]
    ruler = [s.page_prompt() == t for s, t in zip(load_ruler_data(ruler_file), other["ruler"])]
    return {"longbench": lb, "mrcr_equal": mrcr, "ruler_equal": ruler}


# ----------------------------------------------------------------------------- rendering

_GLYPH_RENDER = r"""
import io, contextlib, json, os, sys
glyph, script, items_file, out_dir = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(script))
name = os.path.basename(script)[:-3]
with contextlib.redirect_stdout(io.StringIO()):
    m = __import__(name)
m.OUTPUT_DIR, m.recover, m.lens_current = out_dir, False, 0
from reportlab.lib import colors
m.PAGE_BG_COLOR, m.FONT_COLOR = colors.HexColor('#FFFFFF'), colors.HexColor('#000000')
m.PARA_BG_COLOR, m.PARA_BORDER_COLOR = colors.HexColor('#FFFFFF'), colors.HexColor('#FFFFFF')
out = []
for item in json.load(open(items_file)):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        done = m.process_one(dict(item))
    folder = os.path.join(out_dir, item['unique_id'])
    texts = json.load(open(os.path.join(folder, 'page_texts.json'))) if os.path.isdir(folder) else None
    pngs = sorted(f for f in os.listdir(folder) if f.endswith('.png')) if os.path.isdir(folder) else []
    from PIL import Image
    sizes = [Image.open(os.path.join(folder, f)).size for f in pngs]
    out.append({'id': item['unique_id'], 'ok': done is not None, 'page_texts': texts, 'sizes': sizes})
print(json.dumps(out))
"""


def render_items(glyph: Path, work: Path, ruler_root: Path) -> list[dict[str, Any]]:
    """Contexts to render, each with the config Glyph's scripts would give it (config_en.json + Verdana)."""
    cfg = json.loads((glyph / "config/config_en.json").read_text())
    cfg["font-path"] = str(glyph / "config/Verdana.ttf")
    red = '<font color="#FF0000"> \\n </font>'  # add_uid_jsonl.py --chose-newline
    items = [
        {"script": "longbench", "unique_id": "essay-8k", "context": text_of_tokens(8000), "config": cfg},
        {"script": "longbench", "unique_id": "essay-32k", "context": text_of_tokens(32000), "config": cfg},
        {"script": "longbench", "unique_id": "essay-8k-marker", "context": text_of_tokens(8000),
         "config": {**cfg, "newline-markup": red}},
        {"script": "longbench", "unique_id": "essay-8k-dpi96", "context": text_of_tokens(8000),
         "config": {**cfg, "dpi": 96}},
    ]  # fmt: skip
    base = ruler_root / str(RULER_LENGTH) / "data"
    for task in ("niah_single_1", "niah_multikey_2", "vt", "cwe", "fwe", "qa_1"):
        f = base / task / "validation.jsonl"
        if f.is_file():
            items.append({"script": "ruler", "unique_id": f"ruler-{task}", "ruler_task": task, "config": cfg})
    turns = json.loads(json.loads((FIXTURES / "mrcr/2needle.jsonl").read_text().splitlines()[0])["prompt"])
    convo = "\n".join(f"{t['role'].title()}: {t['content']}" for t in turns[:-1])
    items.append({"script": "mrcr", "unique_id": "mrcr-convo", "context": (convo + "\n") * 40,
                  "config": {**cfg, "newline-markup": None}})  # fmt: skip
    return items


def render_compare(glyph: Path, work: Path, ruler: Path) -> list[dict[str, Any]]:
    items = render_items(glyph, work, work / "ruler_out_base")
    if any(i["script"] == "ruler" for i in items):  # the RULER contexts, as glyph split them
        by_task = {s.task: s for s in load_ruler_data(work / "ruler_out_base", RulerTemplates.load(ruler),
                                                      limit=1)}  # fmt: skip
        for item in items:
            if item["script"] == "ruler":
                item["context"] = by_task[item.pop("ruler_task")].context
    rows = []
    for script in ("longbench", "ruler", "mrcr"):
        batch = [i for i in items if i["script"] == script]
        if not batch:
            continue
        items_file = work / f"render_{script}.json"
        items_file.write_text(json.dumps([{k: v for k, v in i.items() if k != "script"} for i in batch]))
        path = glyph / f"evaluation/{script}/scripts/word2png_{script}.py"
        theirs = run_py(_GLYPH_RENDER, str(glyph), str(path), str(items_file), str(work / f"png_{script}"),
                        cwd=glyph / "evaluation")  # fmt: skip
        for item, t in zip(batch, theirs):
            conf = {k: v for k, v in item["config"].items() if v is not None}
            rc30 = RenderConfig.from_dict(conf)  # word2png_function.py's layout: 30 lines per Paragraph
            rc = rc30.with_updates(**GLYPH_RENDERERS[script])  # what glyph eval gives Glyph's records
            pages = list(render_pages(item["context"], rc))
            pages30 = list(render_pages(item["context"], rc30))
            ref = reference_render(item["context"], rc, rasterize=False)  # the harness, same mode
            ref30 = reference_render(item["context"], rc30, rasterize=False)
            row = {"script": script, "id": item["unique_id"], "glyph_ok": t["ok"], "chars": len(item["context"]),
                   "dpi": rc.dpi, "newline": "marker" if "font" in rc.newline_markup else "<br/>",
                   "glyph_keys": GLYPH_RENDERERS[script],
                   "pages_glyph_eval": len(t["sizes"]), "pages_glyph": len(pages), "pages_glyph_30": len(pages30),
                   "pages_word2png_function": len(ref30.lines), "pages_harness": len(ref.lines),
                   "harness_lines_differing": _differing(_layout_lines(item["context"], rc), ref.lines)}  # fmt: skip
            if t["page_texts"] is not None:
                theirs_lines = [[norm(x) for x in (txt or "").split("\n") if norm(x)] for txt in t["page_texts"]]
                sizes = [tuple(x) for x in t["sizes"]]
                for suffix, mine in (("", pages), ("_30", pages30)):
                    ours_lines = [[norm(line.text) for line in p.lines if norm(line.text)] for p in mine]
                    flat_t = [x for p in theirs_lines for x in p]
                    flat_o = [x for p in ours_lines for x in p]
                    per_page = sum(a == b for a, b in zip(theirs_lines, ours_lines))
                    row.update({"lines_glyph_eval": len(flat_t), f"lines_glyph{suffix}": len(flat_o),
                                f"lines_equal{suffix}": sum(a == b for a, b in zip(flat_t, flat_o)),
                                f"pages_same_lines{suffix}": f"{per_page}/{len(theirs_lines)}",
                                f"lines_per_page_glyph{suffix}": [len(b) for b in ours_lines],
                                f"sizes_equal{suffix}": f"{sum(a == b.image.size for a, b in zip(sizes, mine))}/{len(sizes)}",
                                f"max_size_diff_px{suffix}": max((max(abs(a[0] - b.image.size[0]), abs(a[1] - b.image.size[1]))
                                                                  for a, b in zip(sizes, mine)), default=0)})  # fmt: skip
                row["lines_per_page_glyph_eval"] = [len(a) for a in theirs_lines]
            rows.append(row)
    return rows


def _render_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    def frac(key: str) -> tuple[int, int]:
        got = [tuple(int(x) for x in r[key].split("/")) for r in rows if isinstance(r.get(key), str)]
        return sum(a for a, _ in got), sum(b for _, b in got)

    pages, of_pages = frac("pages_same_lines")
    return {"pages": pages, "of_pages": of_pages, "pages_30": frac("pages_same_lines_30")[0],
            "lines": sum(r.get("lines_equal", 0) for r in rows), "of_lines": sum(r.get("lines_glyph_eval", 0) for r in rows),
            "lines_30": sum(r.get("lines_equal_30", 0) for r in rows), "sizes": frac("sizes_equal")[0],
            "sizes_30": frac("sizes_equal_30")[0], "harness": sum(r.get("harness_lines_differing", 0) for r in rows)}  # fmt: skip


def _layout_lines(text: str, cfg: RenderConfig) -> list[list[str]]:
    """glyph's lines per page as the harness reports them (NBSP as space), from the layout stage."""
    return [[line.plain for line in page.lines] for page in layout_text(text, cfg).pages]


def _differing(ours: list[list[str]], ref: list[list[str]]) -> int:
    """Lines that differ (by position) between two layouts, page breaks included, plus the surplus."""
    flat_o = [(i, x) for i, p in enumerate(ours) for x in p]
    flat_r = [(i, x) for i, p in enumerate(ref) for x in p]
    return sum(a != b for a, b in zip(flat_o, flat_r)) + abs(len(flat_o) - len(flat_r))


# ----------------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    c = result["commits"]
    lines = [
        "# Evaluation inputs: glyph vs the official scripts",
        "",
        f"`{result['command']}`",
        "",
        (f"Run {result['date']} on {result['machine']} (load: {result['load']}); against "
        f"RULER {c['ruler'][:12]}, LongBench {c['longbench'][:12]}, Glyph {c['glyph'][:12]}. "
        f"{result['seconds']:.0f} s in all."),
        "",
        "## RULER: records prepared by RULER's own generator, loaded by `glyph eval ruler --data --templates`",
        "",
        ("| model template | task | generator ran | records | prompt byte-equal | sent byte-equal | references equal | "
        "generation length = tokens_to_generate |"),
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    rows = result["ruler"]["records"]
    for key, run in result["ruler"]["generator"]["runs"].items():
        template, task = key.split("/")
        mine = [r for r in rows if r["template"] == template and r["task"] == task]
        if not run["ok"]:
            lines.append(f"| {template} | {task} | no: {run['error']} | 0 | – | – | – | – |")
            continue
        lines.append(
            f"| {template} | {task} | yes ({run['seconds']} s) | {len(mine)} | "
            f"{sum(r['prompt_equal'] for r in mine)}/{len(mine)} | {sum(r.get('sent_equal', False) for r in mine)}/{len(mine)} | "
            f"{sum(r['answers_equal'] for r in mine)}/{len(mine)} | "
            f"{sum(r['max_new_tokens'] == r['official_tokens_to_generate'] for r in mine)}/{len(mine)} |"
        )
    lb = result["longbench"]
    lines += ["", "## LongBench: text prompts vs `pred.py`'s own statements, lengths vs `dataset2maxlen.json`", ""]
    lines += [("| window (tokens) | records | prompt byte-equal | sent byte-equal | chat template as pred.py | "
              "truncated | generation length equal |"),
              "|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for window, wrows in lb["windows"].items():
        lines.append(f"| {window} | {len(wrows)} | {sum(r['equal'] for r in wrows)}/{len(wrows)} | "
                     f"{sum(r.get('sent_equal', False) for r in wrows)}/{len(wrows)} | "
                     f"{sum(r.get('template_rule_equal', False) for r in wrows)}/{len(wrows)} | "
                     f"{sum(r['truncated'] for r in wrows)} | {sum(r['max_new_tokens_equal'] for r in wrows)}/{len(wrows)} |")  # fmt: skip
    lines += ["", ("*Sent*: what glyph's text readers put on the wire (document and question joined as the "
              "sample's prompt format says); *chat template as pred.py*: sent as a raw prompt exactly for "
              "the tasks `pred.py` does not wrap in `build_chat`."), ""]
    lines += ["", f"Chat-template exceptions equal to `pred.py`'s list ({', '.join(lb['chat_skip_official'])}): "
              f"**{lb['chat_skip_equal']}**. Statements of `pred.py` executed: "
              + "; ".join(f"`{s.splitlines()[0]}`" for s in lb["pred_py_statements"]), ""]  # fmt: skip
    g = result["glyph_prompts"]
    n = len(g["longbench"])
    lines += [
        "## Glyph: the text sent next to the pages (and Glyph's text-mode prompt)",
        "",
        "| benchmark | records | page prompt byte-equal | text prompt byte-equal | text prompt equal after strip |",
        "|---|---:|---:|---:|---:|",
        (f"| LongBench (`post_api_longbench.process_item`, both `dataset2*.json` of Glyph) | {n} | "
        f"{sum(r['page_equal'] for r in g['longbench'])}/{n} | {sum(r['text_equal'] for r in g['longbench'])}/{n} | "
        f"{sum(r['text_equal_stripped'] for r in g['longbench'])}/{n} |"),
        f"| MRCR (`post_api_mrcr.process_data_item`) | {len(g['mrcr_equal'])} | {sum(g['mrcr_equal'])}/{len(g['mrcr_equal'])} | – | – |",
        f"| RULER (`post_api_ruler.process_data_item`) | {len(g['ruler_equal'])} | {sum(g['ruler_equal'])}/{len(g['ruler_equal'])} | – | – |",
        "",
        ("Glyph's text mode (`post_api_longbench.py` without `--use_image`) strips the question, the document "
        "and the whole prompt and fills its template with `str.replace`; glyph's text prompt follows LongBench's "
        "`pred.py` (`str.format`, nothing stripped), the prompt behind a text model's published LongBench score."),
        "",
        "## Rendering: Glyph's evaluation renderers vs glyph's renderer (config_en.json, Verdana)",
        "",
        ("glyph renders Glyph's evaluation records with the keys of their renderer "
        "(`glyph.eval.records.GLYPH_RENDERERS`: `paragraph-lines` 0, one reportlab Paragraph per context, "
        "and for RULER `crop-margin` half); the *30-line* columns are glyph's default layout, the one of "
        "`scripts/word2png_function.py` (30 source lines per Paragraph). *Harness*: `glyph.render.reference` "
        "(reportlab itself) in the same one-Paragraph mode, against glyph's layout."),
        "",
        ("| script | context | chars | dpi | newlines | pages Glyph eval / glyph / 30-line / word2png_function | "
        "lines Glyph eval / glyph / 30-line | equal lines glyph / 30-line | pages with the same lines glyph / 30-line | "
        "page sizes equal glyph / 30-line (max diff px) | lines differing from the harness |"),
        "|---|---|---:|---:|---|---|---|---|---|---|---:|",
    ]  # fmt: skip
    for r in result["render"]:
        lines.append(
            f"| {r['script']} | {r['id']} | {r['chars']:,} | {r['dpi']} | {r['newline']} | "
            f"{r['pages_glyph_eval']} / {r['pages_glyph']} / {r.get('pages_glyph_30', '–')} / {r['pages_word2png_function']} | "
            f"{r.get('lines_glyph_eval', '–')} / {r.get('lines_glyph', '–')} / {r.get('lines_glyph_30', '–')} | "
            f"{r.get('lines_equal', '–')} / {r.get('lines_equal_30', '–')} | "
            f"{r.get('pages_same_lines', '–')} / {r.get('pages_same_lines_30', '–')} | "
            f"{r.get('sizes_equal', '–')} ({r.get('max_size_diff_px', '–')}) / {r.get('sizes_equal_30', '–')} "
            f"({r.get('max_size_diff_px_30', '–')}) | {r.get('harness_lines_differing', '–')} |"
        )
    totals = _render_totals(result["render"])
    lines += [
        "",
        (f"In all: pages holding the same lines {totals['pages']} of {totals['of_pages']} with Glyph's evaluation "
        f"layout ({totals['pages_30']} with 30 lines per Paragraph); lines equal {totals['lines']} of "
        f"{totals['of_lines']} ({totals['lines_30']}); page sizes equal {totals['sizes']} of {totals['of_pages']} "
        f"({totals['sizes_30']}); lines differing between glyph and the reportlab harness in one-Paragraph mode: "
        f"{totals['harness']}."),
        "",
        ("A page holds the same lines when its text (as pdfplumber extracts it from Glyph's PDF, whitespace "
        "normalised) equals glyph's line for line. With 30 lines per Paragraph, reportlab's orphan control "
        "moves a line across a page break differently at some Paragraph boundaries, and an inline newline "
        "marker flows differently (every 30th newline ends a Paragraph instead of being drawn); "
        "`word2png_ruler.py` crops at the last inked column/row + 1 + half the margin, the other scripts at "
        "+ the margin."),
        "",
        "## What could not run, and why",
        "",
    ] + [f"- {x}" for x in result["not_run"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ruler", type=Path, help="checkout of NVIDIA/RULER")
    ap.add_argument("--longbench", type=Path, help="checkout of THUDM/LongBench")
    ap.add_argument("--glyph", type=Path, help="checkout of thu-coai/Glyph")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "eval_compat")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite compat.md from the compat.json in --out")
    args = ap.parse_args()
    if args.markdown_only:
        result = json.loads((args.out / "compat.json").read_text(encoding="utf-8"))
        (args.out / "compat.md").write_text(markdown(result), encoding="utf-8")
        return
    if not (args.ruler and args.longbench and args.glyph):
        ap.error("--ruler, --longbench and --glyph are all needed (checkouts of the official repositories)")
    start = time.perf_counter()
    result: dict[str, Any] = {
        "command": "python benchmarks/eval_compat.py " + " ".join(sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load": subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip(),
        "commits": {"ruler": commit_of(args.ruler), "longbench": commit_of(args.longbench), "glyph": commit_of(args.glyph)},
        "not_run": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tok_dir = qwen_hf_dir(work / "qwen_hf")
        print("RULER generator ...", flush=True)
        gen = ruler_generate(args.ruler, work, tok_dir)
        result["ruler"] = {"generator": gen, "records": ruler_compare(args.ruler, work, f"hf:{tok_dir}")}
        failed = {k: v["error"] for k, v in gen["runs"].items() if not v["ok"]}
        words = args.ruler / "scripts/data/synthetic/json/english_words.json"
        why = {
            "punkt_tab": "the essay haystack splits sentences with nltk's punkt_tab data, which nltk.download "
            "fetches from the web (it is neither a PyPI nor a Debian package)",
            "JSONDecodeError": "json/english_words.json in the checkout is a Git LFS pointer, not the word list"
            if words.is_file() and words.read_text(errors="replace").startswith("version https://git-lfs")
            else "a JSON file of the checkout could not be read",
        }
        for key, reason in why.items():
            hit = [k for k, v in failed.items() if key in v]
            if hit:
                result["not_run"].append(f"RULER {', '.join(hit)}: {reason} ({failed[hit[0]]})")
        rest = [k for k, v in failed.items() if not any(key in v for key in why)]
        if rest:
            result["not_run"].append("RULER " + "; ".join(f"{k}: {failed[k]}" for k in rest))
        print("LongBench ...", flush=True)
        data = longbench_records(work)
        result["longbench"] = longbench_compare(args.longbench, work, tok_dir, data)
        print("Glyph prompts ...", flush=True)
        result["glyph_prompts"] = glyph_prompts(args.glyph, work, data)
        print("rendering ...", flush=True)
        result["render"] = render_compare(args.glyph, work, args.ruler)
    result["not_run"] += [
        ("LongBench pred.py as a program: it imports flash-attn (llama_flash_attn_monkey_patch) and loads a model "
        "on CUDA; only the statements of its get_pred loop that build the prompt ran (taken from its source with ast)"),
        ("Glyph's Glyph_Evaluation data (Hugging Face CCCCCC/Glyph_Evaluation) is not reachable here: its layout is "
        "taken from the fields Glyph's scripts read, and the MRCR / RULER prompt checks use our fixture records in "
        "that layout; Glyph's add_uid_jsonl.py (langdetect) was not run: configs are given as it writes them"),
        "No model was run: these are checks of the inputs, not of scores",
    ]
    result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compat.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "compat.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
