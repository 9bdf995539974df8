"""Efficiency: the same text given to a VLM as text tokens and as pages, per length.

For each length a text of that many Qwen tokens is cut from the bundled Paul Graham essays
and put before the same question two ways: (a) as plain text in the chat template, (b) as
page images of the reference default config (``--config``/``--set`` to change it) that the
model's processor turns into image tokens. Each side is measured on the same model:

* **prefill**: time to first token of a greedy ``generate`` (the forward pass over the whole
  prompt that builds the KV cache, plus choosing one token); the pages side includes the
  vision tower, whose own time is taken with forward hooks (its **share** of the prefill).
* **decoding**: tokens/s over the ``--decode-tokens`` tokens after the first (greedy, fixed
  count: end-of-sequence is held back with ``min_new_tokens``), on the cache the prefill built.
* **KV cache**: bytes of the returned ``DynamicCache``'s tensors, checked to equal
  ``layers x 2 x kv_heads x head_dim x tokens x bytes`` (the run stops if they differ).
* **peak memory**: on CPU the rise of the process's resident-set high-water mark over what
  model and inputs hold (``VmHWM`` after ``clear_refs``), on CUDA ``max_memory_allocated``'s.
* **gateway**: what ``glyph serve --upstream`` spends per request before forwarding it (count,
  render, PNG, base64, the forwarded JSON), through the gateway's own planner, on this CPU.

Ratios are text / pages: above 1 the pages are cheaper. A **fitted cost model** per side
(prefill ``b*n + c*n**2`` in the side's own prompt length; seconds per decoded token
``d0 + d1*n``) gives the break-even length and an extrapolation to 128K, labelled as a model.

Models (``--model``): ``random:ARCH:DIMS`` builds a random-weight model of the real
architecture here (``glyph.readers.tiny``; ARCH ``glm4v`` or ``qwen2.5vl``; DIMS ``bench``
(tiny), ``mid`` (hidden 1024, 6 layers) or ``9b`` (the full GLM-4.1V-9B), with Qwen's real BPE
and the real image processor); or a checkpoint directory or hub id (``zai-org/Glyph``).
Random weights make the answers noise and the costs real. On CPU each case runs in a fresh
process on one thread and is clocked by that process's CPU time (steady on a shared machine,
equal to wall time on an idle one); on CUDA all cases share one process and the wall clock.

    python benchmarks/efficiency.py                                      # tiny GLM-4.1V, 1K-8K
    bash benchmarks/efficiency.sh                                        # what results/ holds
    python benchmarks/efficiency.py --model random:glm4v:9b --lengths 32k,64k,128k   # a GPU
    python benchmarks/efficiency.py --model zai-org/Glyph --lengths 32k,64k,128k     # released
    python benchmarks/efficiency.py --base-url http://localhost:8000/v1 --lengths 8k,32k  # a server
    python benchmarks/efficiency.py --report                             # tables + plot again

``--base-url`` times a running OpenAI-compatible server (vLLM, SGLang, ``glyph serve``) with
streaming: time to first token and decoding tokens/s for text vs pages (rendered here and sent
as PNG data URLs; with ``--via-gateway`` the server is ``glyph serve`` and renders them itself).
Each request starts with a fresh nonce so prefix caches cannot serve it; ``ignore_eos`` and
``min_tokens`` (vLLM/SGLang extensions, which ``glyph serve`` honours) fix the answer length
(``--no-ignore-eos`` for servers that refuse unknown fields).

``k`` is 1024 (``128k`` = 131,072 Qwen tokens). The paper's speed-ups (4.8x prefill, 4.4x
decoding at 128K, arXiv 2510.17800) come with its denser rendering (3-4x compression); the
reference default config compresses ~1.9x for GLM-4.1V, so expect smaller ratios with it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

QUESTION = "What is the main point of the document above? Answer in one sentence."
RESULTS = Path("benchmarks/results")
RUNS_DIR = RESULTS / "efficiency"
FAMILY = {"glm4v": "GLM-4.1V", "qwen2.5vl": "Qwen2.5-VL", "qwen2_5_vl": "Qwen2.5-VL"}
VLM_RULE = {"glm4v": "glm4v", "qwen2.5vl": "qwen2.5vl", "qwen2_5_vl": "qwen2.5vl", "qwen3_vl": "qwen3vl"}
DIMS_LABEL = {"bench": "tiny", "mid": "mid-size", "9b": "9B", "test": "test-size"}
#: Glyph's published speed-ups over its text backbone (GLM-4.1V-9B-Base, 128K context), read off
#: Figure "speedup_panels_times" of thu-coai/Glyph (assets/speedup_panels_times.png): length ->
#: (prefill, decoding throughput). Rendered with the paper's settings, not the reference default.
PAPER = {
    4096: (1.8, 2.3),
    8192: (2.0, 2.3),
    16384: (2.2, 2.5),
    32768: (2.5, 2.7),
    65536: (3.3, 3.2),
    131072: (4.8, 4.4),
}
EXTRAPOLATE_TO = 131072


def parse_lengths(spec: str) -> list[int]:
    """``"1k,2k,8000"`` -> ``[1024, 2048, 8000]`` (k = 1024)."""
    out = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            n = int(float(part[:-1]) * 1024) if part.endswith("k") else int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a length is a number of tokens like 8k or 8000, got {part!r}")
        if n < 1:
            raise argparse.ArgumentTypeError(f"lengths must be positive, got {part!r}")
        out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no lengths given")
    return out


def label(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 else f"{n:,}"


def parse_model(spec: str) -> dict[str, Any]:
    """``random:ARCH:DIMS`` -> a random-weight model to build; anything else: a checkpoint."""
    if not spec.startswith("random:"):
        return {"kind": "checkpoint", "path": spec, "name": Path(spec.rstrip("/")).name or spec}
    from glyph.readers.tiny import ARCHES, DIMS

    parts = spec.split(":")
    if len(parts) != 3 or parts[1] not in ARCHES or parts[2] not in DIMS:
        raise argparse.ArgumentTypeError(
            f"--model random:ARCH:DIMS with ARCH in {', '.join(ARCHES)} and DIMS in {', '.join(DIMS)}; "
            f"got {spec!r}"
        )
    return {"kind": "random", "arch": parts[1], "dims": parts[2], "name": f"{parts[1]}-{parts[2]}"}


# ------------------------------------------------------------------------------------ machine
def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _release_and_reset_peak() -> int:
    """Return freed heap to the OS, reset the RSS high-water mark; the RSS now (KiB)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")  # Linux >= 4.0: VmHWM := VmRSS
    return _rss_kib("VmRSS")


# ------------------------------------------------------------------------------------ one case
class Session:
    """A loaded model, its processor and how to clock it (one per process)."""

    def __init__(self, setup: dict[str, Any]) -> None:
        import torch

        from glyph.readers.local_hf import pick_device, pick_dtype

        self.setup = setup
        self.device = pick_device(setup["device"])
        self.dtype = pick_dtype(self.device, setup["dtype"])
        self.cuda = self.device.startswith("cuda")
        if setup["threads"]:
            torch.set_num_threads(setup["threads"])
        started = time.perf_counter()
        self.model, self.processor = self._load()
        self.load_s = time.perf_counter() - started
        self.cpu_clock = self.device == "cpu" and torch.get_num_threads() == 1
        self.visual = getattr(getattr(self.model, "model", self.model), "visual", None)
        from glyph.measure.efficiency import KVShape

        self.kv = KVShape.from_config(self.model.config)

    def _load(self) -> tuple[Any, Any]:
        import torch

        setup = self.setup
        if setup.get("checkpoint") is None:  # build the random model in memory, on the device
            from glyph.readers.tiny import DIMS, build_tiny_vlm

            vlm = build_tiny_vlm(
                setup["arch"], dims=DIMS[setup["dims"]], tokenizer="qwen", device=self.device,
                dtype=self.dtype, attn_implementation=setup["attn"],
            )  # fmt: skip
            return vlm.model, vlm.processor
        from transformers import AutoModelForImageTextToText

        from glyph.readers.local_hf import load_processor

        options: dict[str, Any] = {"dtype": self.dtype}
        if setup["attn"]:
            options["attn_implementation"] = setup["attn"]
        if self.cuda:
            options["device_map"] = self.device  # straight onto the GPU, not through host memory
        model = AutoModelForImageTextToText.from_pretrained(setup["checkpoint"], **options)
        with torch.device("cpu"):
            processor = load_processor(setup["checkpoint"])
        return model.to(self.device).eval(), processor

    def sync(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        elif self.device.startswith("mps"):
            torch.mps.synchronize()

    # -- prompts --------------------------------------------------------------------------
    def inputs(self, length: int, mode: str, row: dict[str, Any]) -> Any:
        """The prompt for ``length`` tokens of the essays as text or as pages; fills ``row``."""
        from glyph.cli.common import load_config
        from glyph.data import text_of_tokens
        from glyph.render import render_pages
        from glyph.tokens import get_vlm_rule

        text = text_of_tokens(length)
        row["chars"] = len(text)
        if mode == "text":
            content: list[dict[str, Any]] = [{"type": "text", "text": f"{text}\n\n{QUESTION}"}]
        else:
            cfg = load_config(Path(self.setup["config"]) if self.setup["config"] else None, self.setup["set"])
            start = time.perf_counter()
            pages = list(render_pages(text, cfg))
            row["render_s"] = time.perf_counter() - start
            row["pages"] = len(pages)
            rule = VLM_RULE.get(str(self.model.config.model_type))
            if rule:
                row["document_tokens"] = get_vlm_rule(rule).document_tokens([p.image.size for p in pages])
            content = [{"type": "image", "image": p.image.convert("RGB")} for p in pages]
            content.append({"type": "text", "text": QUESTION})
            del pages
        start = time.perf_counter()
        inputs = self.processor.apply_chat_template(
            [{"role": "user", "content": content}],
            tokenize=True,
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
        )
        row["process_s"] = time.perf_counter() - start
        inputs = inputs.to(self.device, dtype=self.dtype)
        ids = inputs["input_ids"]
        row["prompt_tokens"] = int(ids.shape[1])
        image_token = getattr(self.model.config, "image_token_id", None)
        row["image_tokens"] = int((ids == image_token).sum()) if image_token is not None else 0
        return inputs

    # -- one timed generate -----------------------------------------------------------------
    def generate(self, inputs: Any, new_tokens: int) -> dict[str, Any]:
        import torch

        from glyph.measure.efficiency import StepClock, cache_nbytes, module_time

        clock = StepClock(self.sync, cpu=self.cpu_clock)
        options = {
            "max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False,
            "temperature": None, "top_p": None, "top_k": None, "stopping_criteria": [clock],
            "return_dict_in_generate": True, "use_cache": True,
        }  # fmt: skip
        with torch.inference_mode():
            if self.visual is not None:
                with module_time(self.visual, self.sync, cpu=self.cpu_clock) as spans:
                    clock.begin()
                    out = self.model.generate(**inputs, **options)
            else:
                spans = []
                clock.begin()
                out = self.model.generate(**inputs, **options)
        generated = int(out.sequences.shape[1] - inputs["input_ids"].shape[1])
        cache = out["cache"] if "cache" in out else out["past_key_values"]  # renamed in transformers 5.2x
        sample = {
            "ttft_s": clock.first_token_s,
            "decode_s_per_token": clock.decode_s_per_token,
            "new_tokens": generated,
            "vision_s": sum(spans) if spans else None,
            "cache_bytes": cache_nbytes(cache),
            "cache_tokens": int(cache.get_seq_length()),
        }
        del out, cache
        return sample


def run_case(session: Session, case: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then ``repeat`` timed generates on one prompt; medians, KV check, peak memory."""
    import torch

    row: dict[str, Any] = {"length": case["length"], "mode": case["mode"]}
    inputs = session.inputs(case["length"], case["mode"], row)
    for _ in range(case["warmup"]):
        session.generate(inputs, 2)  # also pages in memory-mapped weights (a rise on CPU otherwise)
    if session.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base_kib = _release_and_reset_peak()
    samples = [session.generate(inputs, case["decode_tokens"]) for _ in range(case["repeat"])]
    if session.cuda:
        row["peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        row["peak_total_mib"] = torch.cuda.max_memory_allocated() / 2**20
        row["memory"] = "cuda max_memory_allocated rise"
    else:
        row["peak_mib"] = (_rss_kib("VmHWM") - base_kib) / 1024
        row["memory"] = "process VmHWM rise"
    last = samples[-1]
    bytes_per_value = torch.empty((), dtype=session.dtype).element_size()
    formula = session.kv.nbytes(last["cache_tokens"], bytes_per_value)
    if last["cache_tokens"] != row["prompt_tokens"] + last["new_tokens"] - 1:
        raise AssertionError(
            f"the cache holds {last['cache_tokens']} tokens, not prompt {row['prompt_tokens']} + "
            f"{last['new_tokens']} generated - 1"
        )
    if last["cache_bytes"] != formula:
        raise AssertionError(
            f"KV cache: {last['cache_bytes']:,} bytes in the cache object, {formula:,} by the formula "
            f"({session.kv}, {last['cache_tokens']} tokens, {bytes_per_value} bytes)"
        )
    ttft = [s["ttft_s"] for s in samples]
    decode = [s["decode_s_per_token"] for s in samples]
    vision = [s["vision_s"] for s in samples if s["vision_s"] is not None]
    row.update(
        prefill_s=statistics.median(ttft),
        prefill_samples=ttft,
        decode_s_per_token=statistics.median(decode),
        decode_tokens_per_s=1 / statistics.median(decode),
        decode_tokens=last["new_tokens"],
        vision_s=statistics.median(vision) if vision and case["mode"] == "pages" else None,
        kv_bytes=last["cache_bytes"],
        kv_formula_bytes=formula,
        kv_tokens=last["cache_tokens"],
        kv_prompt_bytes=session.kv.nbytes(row["prompt_tokens"], bytes_per_value),
        clock="process CPU time (1 thread)" if session.cpu_clock else "wall time",
    )
    if row["vision_s"] is not None:
        row["vision_share"] = row["vision_s"] / row["prefill_s"]
    return row


def session_facts(session: Session) -> dict[str, Any]:
    import torch

    return {
        "device": session.device,
        "dtype": str(session.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "attn": str(getattr(session.model.config, "_attn_implementation", None)),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "gpu": torch.cuda.get_device_name() if session.cuda else None,
        "model_type": str(session.model.config.model_type),
        "parameters": sum(p.numel() for p in session.model.parameters()),
        "kv_shape": {"layers": session.kv.layers, "kv_heads": session.kv.kv_heads, "head_dim": session.kv.head_dim},
        "load_s": session.load_s,
    }  # fmt: skip


def child_main(payload: str) -> None:
    """``--child``: one case in this fresh process; the last stdout line is its JSON row."""
    spec = json.loads(payload)
    session = Session(spec["setup"])
    row = run_case(session, spec["case"])
    row["facts"] = session_facts(session)
    print(json.dumps(row))


def spawn(setup: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """``run_case`` in a fresh interpreter (clean memory high-water mark)."""
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
    if setup["threads"]:
        env.setdefault("OMP_NUM_THREADS", str(setup["threads"]))
    res = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"setup": setup, "case": case})],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    if res.returncode:
        sys.exit(f"case {case['mode']} {label(case['length'])} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ local runs
def run_local(args: argparse.Namespace) -> Path:
    """Every (length, side) case on the model, plus the gateway's cost; writes the run's JSON."""
    from glyph.cli.common import load_config
    from glyph.data import text_of_tokens
    from glyph.readers.local_hf import pick_device
    from glyph.readers.tiny import DIMS, save_tiny_vlm
    from glyph.serve.cost import gateway_cost

    model = args.model
    cfg = load_config(args.config, args.set)  # fail early on a bad config
    device = pick_device(args.device)
    isolate = args.isolate if args.isolate != "auto" else ("process" if device == "cpu" else "none")
    threads = args.threads if args.threads is not None else (1 if device == "cpu" else 0)
    lengths = args.lengths or parse_lengths("1k,2k,4k,8k")
    setup: dict[str, Any] = {
        "device": args.device, "dtype": args.dtype, "threads": threads, "attn": args.attn,
        "config": str(args.config) if args.config else None, "set": args.set,
        "arch": model.get("arch"), "dims": model.get("dims"), "checkpoint": model.get("path"),
    }  # fmt: skip
    case_base = {"repeat": args.repeat, "warmup": args.warmup, "decode_tokens": args.decode_tokens}
    started, load_before = time.perf_counter(), load_average()
    if model["kind"] == "random":
        print(
            f"model: RANDOM-WEIGHT {FAMILY[model['arch']]} at {model['dims']!r} dims, built here: its times "
            "show the architecture's cost structure, its answers are noise",
            flush=True,
        )
    rows: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="glyph-efficiency-") as tmp:
        session = None
        if isolate == "process" and model["kind"] == "random":  # children load a saved checkpoint
            where = (args.tiny_dir or Path(tmp)) / f"random-{model['name']}"
            want = {
                "arch": model["arch"],
                "tokenizer": "qwen",
                "seed": 0,
                "dims": _dims_dict(DIMS[model["dims"]]),
            }
            meta = where / "tiny_vlm.json"
            if not (meta.is_file() and json.loads(meta.read_text()) == want):
                print(f"building the checkpoint in {where} ...", flush=True)
                save_tiny_vlm(model["arch"], where, dims=DIMS[model["dims"]], tokenizer="qwen")
            setup["checkpoint"] = str(where)
        elif isolate == "none":
            session = Session(setup)
            facts = session_facts(session)
            warm = {
                **case_base,
                "length": min(lengths[0], 1024),
                "repeat": 1,
                "warmup": 1,
                "decode_tokens": 2,
            }
            for mode in ("text", "pages"):  # kernels, allocator, caches: once per process
                run_case(session, {**warm, "mode": mode})
        for n in lengths:
            pair: dict[str, dict[str, Any]] = {}
            for mode in ("text", "pages"):
                case = {**case_base, "length": n, "mode": mode}
                if session is None:
                    pair[mode] = spawn(setup, case)
                    facts = pair[mode].pop("facts")
                else:
                    pair[mode] = _in_process(session, case)
            gateway = gateway_cost(text_of_tokens(n), cfg, QUESTION, repeat=3, vlm=_rule_name(facts))
            rows.append(combine(pair["text"], pair["pages"], gateway))
            print_row(rows[-1])
    targets = extrapolation_targets(rows, cfg, facts)
    run = {
        "name": args.name or model["name"],
        "model": model,
        "date": dt.datetime.now().astimezone().isoformat(timespec="minutes"),
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "machine": machine(facts),
        "load_before": load_before,
        "load_after": load_average(),
        "facts": facts,
        "setup": {k: v for k, v in setup.items() if k != "checkpoint" or model["kind"] == "checkpoint"},
        "render_config": str(args.config) if args.config else "reference default",
        "render_set": args.set,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "decode_tokens": args.decode_tokens,
        "question": QUESTION,
        "wall_s": time.perf_counter() - started,
        "rows": rows,
        "targets": targets,
    }
    run["model_fit"] = fit_run(run)
    out = args.out_dir / f"{run['name']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return out


def _dims_dict(dims: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(dims)


def _in_process(session: Session, case: dict[str, Any]) -> dict[str, Any]:
    """One case in this process; on CUDA an out-of-memory case is recorded, not fatal."""
    import torch

    try:
        return run_case(session, case)
    except torch.cuda.OutOfMemoryError as exc:
        print(f"  {case['mode']} {label(case['length'])}: out of GPU memory ({exc})", flush=True)
        return {"length": case["length"], "mode": case["mode"], "error": "out of memory"}
    finally:
        gc.collect()
        if session.cuda:
            torch.cuda.empty_cache()


def _rule_name(facts: dict[str, Any]) -> str:
    return VLM_RULE.get(str(facts.get("model_type")), "glm4v")


def combine(text: dict[str, Any], pages: dict[str, Any], gateway: dict[str, Any]) -> dict[str, Any]:
    def ratio(key: str) -> float:
        a, b = text.get(key), pages.get(key)
        return a / b if a and b else math.nan

    row = {
        "length": text["length"],
        "text": text,
        "pages": pages,
        "gateway": gateway,
        "token_ratio": ratio("prompt_tokens"),
        "prefill_ratio": ratio("prefill_s"),
        "decode_ratio": (
            pages["decode_tokens_per_s"] / text["decode_tokens_per_s"]
            if text.get("decode_tokens_per_s") and pages.get("decode_tokens_per_s")
            else math.nan
        ),
        "kv_ratio": ratio("kv_prompt_bytes"),
        "memory_ratio": ratio("peak_mib"),
    }
    if pages.get("prefill_s"):
        row["gateway_share"] = gateway_seconds(gateway, pages) / pages["prefill_s"]
    return row


def gateway_seconds(gateway: dict[str, Any], case: dict[str, Any]) -> float:
    """The gateway's time per request on the clock the model's prefill was read on."""
    return gateway["request_cpu_s" if "CPU" in str(case.get("clock")) else "request_s"]


def print_row(r: dict[str, Any]) -> None:
    t, p = r["text"], r["pages"]
    if "error" in t or "error" in p:
        print(f"{label(r['length']):>6}: {t.get('error') or p.get('error')}", flush=True)
        return
    print(
        f"{label(r['length']):>6}: prompt {t['prompt_tokens']:,} vs {p['prompt_tokens']:,} tokens "
        f"({p['pages']} pages, {r['token_ratio']:.2f}x); prefill {t['prefill_s']:.3f} vs {p['prefill_s']:.3f} s "
        f"-> {r['prefill_ratio']:.2f}x (vision {p.get('vision_share', 0):.0%} of pages); decode "
        f"{t['decode_tokens_per_s']:.1f} vs {p['decode_tokens_per_s']:.1f} tok/s -> {r['decode_ratio']:.2f}x; "
        f"KV {t['kv_prompt_bytes'] / 2**20:.1f} vs {p['kv_prompt_bytes'] / 2**20:.1f} MiB (= formula); "
        f"gateway {gateway_seconds(r['gateway'], p) * 1e3:.0f} ms",
        flush=True,
    )


def machine(facts: dict[str, Any]) -> str:
    where = facts.get("gpu") or f"{cpu_name()}, {os.cpu_count()} cores"
    return (
        f"{where}; {facts.get('device')} {facts.get('dtype')}, {facts.get('threads')} thread(s), "
        f"attn {facts.get('attn')}; torch {facts.get('torch')}, transformers {facts.get('transformers')}, "
        f"Python {platform.python_version()}"
    )


def extrapolation_targets(rows: list[dict[str, Any]], cfg: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """Prompt lengths of both sides at the lengths the model is extrapolated to, counted exactly.

    The text of 128K tokens is rendered with the run's config and its pages counted by the
    model's visual-token rule; the template and question add what they added at the measured
    lengths. Without a rule (an unknown checkpoint) the pages' length is the measured trend.
    """
    from glyph.data import text_of_tokens
    from glyph.render import render_pages
    from glyph.tokens import get_vlm_rule

    ok = [r for r in rows if "error" not in r["text"] and "error" not in r["pages"]]
    if not ok:
        return {}
    text_extra = statistics.mean(r["text"]["prompt_tokens"] - r["length"] for r in ok)
    out: dict[str, Any] = {}
    rule = VLM_RULE.get(str(facts.get("model_type")))
    for n in sorted({EXTRAPOLATE_TO, *PAPER}):
        entry: dict[str, Any] = {"text_prompt_tokens": round(n + text_extra)}
        if rule and all("document_tokens" in r["pages"] for r in ok):
            pages_extra = statistics.mean(
                r["pages"]["prompt_tokens"] - r["pages"]["document_tokens"] for r in ok
            )
            sizes = [p.image.size for p in render_pages(text_of_tokens(n), cfg)]
            entry.update(
                pages=len(sizes),
                pages_prompt_tokens=round(get_vlm_rule(rule).document_tokens(sizes) + pages_extra),
            )
        else:
            import numpy as np

            slope, intercept = np.polyfit(
                [r["length"] for r in ok], [r["pages"]["prompt_tokens"] for r in ok], 1
            )
            entry["pages_prompt_tokens"] = round(intercept + slope * n)
            entry["pages_from"] = "linear trend of the measured lengths"
        out[str(n)] = entry
    return out


def fit_run(run: dict[str, Any]) -> dict[str, Any]:
    """The fitted cost model of one run and what it predicts (clearly a model, not a measurement)."""
    import numpy as np

    from glyph.measure.efficiency import KVShape, break_even, fit_decode, fit_prefill

    ok = [r for r in run["rows"] if "error" not in r["text"] and "error" not in r["pages"]]
    if len(ok) < 2:
        return {"note": "fewer than two measured lengths: no model"}
    fits: dict[str, Any] = {}
    for side in ("text", "pages"):
        tokens = [r[side]["prompt_tokens"] for r in ok]
        fits[side] = {
            "prefill": fit_prefill(tokens, [r[side]["prefill_s"] for r in ok]),
            # decoding runs over contexts from the prompt to prompt + N: its middle
            "decode": fit_decode(
                [t + r[side]["decode_tokens"] / 2 for t, r in zip(tokens, ok)],
                [r[side]["decode_s_per_token"] for r in ok],
            ),
        }
    lengths = [r["length"] for r in ok]
    k_pages, a_pages = np.polyfit(lengths, [r["pages"]["prompt_tokens"] for r in ok], 1)
    a_text = statistics.mean(r["text"]["prompt_tokens"] - r["length"] for r in ok)
    even = break_even(fits["text"]["prefill"], fits["pages"]["prefill"], (a_text, 1.0), (a_pages, k_pages))
    kv = KVShape(**run["facts"]["kv_shape"])
    bytes_per_value = {"float32": 4, "bfloat16": 2, "float16": 2}.get(run["facts"]["dtype"], 4)
    predictions = {}
    for n, target in run["targets"].items():
        tt, pt = target["text_prompt_tokens"], target["pages_prompt_tokens"]
        t_pre, p_pre = fits["text"]["prefill"](tt), fits["pages"]["prefill"](pt)
        t_dec = fits["text"]["decode"](tt + run["decode_tokens"] / 2)
        p_dec = fits["pages"]["decode"](pt + run["decode_tokens"] / 2)
        predictions[n] = {
            **target,
            "text_prefill_s": t_pre,
            "pages_prefill_s": p_pre,
            "prefill_ratio": t_pre / p_pre,
            "text_decode_tokens_per_s": 1 / t_dec if t_dec > 0 else math.nan,
            "pages_decode_tokens_per_s": 1 / p_dec if p_dec > 0 else math.nan,
            "decode_ratio": t_dec / p_dec if p_dec > 0 else math.nan,
            "text_kv_bytes": kv.nbytes(tt, bytes_per_value),
            "pages_kv_bytes": kv.nbytes(pt, bytes_per_value),
        }
    tp, pp = fits["text"]["prefill"], fits["pages"]["prefill"]
    return {
        "text": {k: v.as_dict() for k, v in fits["text"].items()},
        "pages": {k: v.as_dict() for k, v in fits["pages"].items()},
        "pages_tokens_per_text_token": float(k_pages),
        "pages_tokens_at_zero": float(a_pages),
        "text_tokens_extra": float(a_text),
        "break_even_text_tokens": even,
        "asymptotic_prefill_ratio": tp.quadratic / (pp.quadratic * k_pages**2) if pp.quadratic > 0 else None,
        "predictions": predictions,
        "measured_up_to": max(lengths),
    }


# ------------------------------------------------------------------------------------ a server
def _median(values: Any) -> float:
    """Median of the finite values (NaN if none: e.g. an answer that arrived in one chunk has no rate)."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def stream_row(done: Any) -> dict[str, Any]:
    """One streamed answer (a :class:`glyph.client.StreamedCompletion`) as the report stores it."""
    if done.ttft is None:
        from glyph.client import UpstreamError

        raise UpstreamError("the stream ended without generating any text")
    rate = done.decode_tokens_per_second
    return {
        "ttft_s": done.ttft,
        "total_s": done.seconds,
        "decode_tokens_per_s": math.nan if rate is None else rate,
        "prompt_tokens": done.usage.prompt_tokens,
        "completion_tokens": done.usage.completion_tokens,
        "chunks": done.chunks,
        "finish_reason": done.finish_reason,
    }


def run_server(args: argparse.Namespace) -> Path:
    """Time a running OpenAI-compatible server: streamed TTFT and decoding tokens/s, text vs pages."""
    from glyph.cli.common import load_config
    from glyph.client import image_part, make_client, normalize_base_url
    from glyph.data import text_of_tokens
    from glyph.render import render_pages

    cfg = load_config(args.config, args.set)
    base_url = normalize_base_url(args.base_url)
    client = make_client(base_url, api_key=args.api_key, timeout=args.timeout, concurrency=1, max_retries=1)
    lengths = args.lengths or parse_lengths("1k,4k,8k")
    load_before, started = load_average(), time.perf_counter()

    def content(text: str, mode: str, nonce: str) -> list[dict[str, Any]]:
        head = {"type": "text", "text": f"Request {nonce}.\n\n"}  # defeats prefix caching
        if mode == "text":
            doc: list[dict[str, Any]] = [{"type": "text", "text": text}]
            if args.via_gateway:
                doc[0]["glyph"] = {"render": False}
        elif args.via_gateway:
            doc = [{"type": "text", "text": text, "glyph": {"render": True}}]
        else:
            doc = [image_part(p.image) for p in render_pages(text, cfg)]
        return [head, *doc, {"type": "text", "text": f"\n\n{QUESTION}"}]

    async def go() -> list[dict[str, Any]]:
        model = args.server_model
        if model is None:
            listing = await client.models()
            model = str((listing.get("data") or [{}])[0].get("id") or "")
        extras = {} if args.no_ignore_eos else {"ignore_eos": True, "min_tokens": args.decode_tokens}

        async def once(text: str, mode: str) -> dict[str, Any]:
            payload = {
                "model": model, "max_tokens": args.decode_tokens, "temperature": 0, **extras,
                "messages": [{"role": "user", "content": await asyncio.to_thread(content, text, mode, uuid.uuid4().hex)}],
            }  # fmt: skip
            return stream_row(await client.stream_complete(payload))

        rows = []
        try:
            for mode in ("text", "pages"):  # warm-up: first requests pay for graphs, caches, connections
                await once(text_of_tokens(min(lengths)), mode)
            for n in lengths:
                text = text_of_tokens(n)
                pair = {}
                for mode in ("text", "pages"):
                    samples = [await once(text, mode) for _ in range(args.repeat)]
                    pair[mode] = {
                        "samples": samples,
                        "ttft_s": _median(s["ttft_s"] for s in samples),
                        "decode_tokens_per_s": _median(s["decode_tokens_per_s"] for s in samples),
                        "prompt_tokens": samples[-1]["prompt_tokens"],
                        "completion_tokens": samples[-1]["completion_tokens"],
                        "chunks": _median(s["chunks"] for s in samples),
                    }
                row = {
                    "length": n,
                    **pair,
                    "ttft_ratio": pair["text"]["ttft_s"] / pair["pages"]["ttft_s"],
                    "decode_ratio": pair["pages"]["decode_tokens_per_s"]
                    / pair["text"]["decode_tokens_per_s"],
                }
                if pair["text"]["prompt_tokens"] and pair["pages"]["prompt_tokens"]:
                    row["token_ratio"] = pair["text"]["prompt_tokens"] / pair["pages"]["prompt_tokens"]
                rows.append(row)
                print(
                    f"{label(n):>6}: TTFT {pair['text']['ttft_s']:.3f} vs {pair['pages']['ttft_s']:.3f} s -> "
                    f"{row['ttft_ratio']:.2f}x; decode {pair['text']['decode_tokens_per_s']:.1f} vs "
                    f"{pair['pages']['decode_tokens_per_s']:.1f} tok/s -> {_x(row['decode_ratio'])}; prompt "
                    f"{pair['text']['prompt_tokens']} vs {pair['pages']['prompt_tokens']} tokens",
                    flush=True,
                )
        finally:
            await client.aclose()
        return rows

    rows = asyncio.run(go())
    run = {
        "name": args.name or "server",
        "kind": "server",
        "base_url": base_url,
        "via_gateway": args.via_gateway,
        "date": dt.datetime.now().astimezone().isoformat(timespec="minutes"),
        "command": "python " + " ".join([sys.argv[0], *sys.argv[1:]]),
        "client_machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "load_before": load_before,
        "load_after": load_average(),
        "render_config": str(args.config) if args.config else "reference default",
        "render_set": args.set,
        "repeat": args.repeat,
        "decode_tokens": args.decode_tokens,
        "ignore_eos": not args.no_ignore_eos,
        "wall_s": time.perf_counter() - started,
        "rows": rows,
    }
    out = args.out_dir / f"{run['name']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return out


# ------------------------------------------------------------------------------------ report
def describe(run: dict[str, Any]) -> str:
    model = run["model"]
    if model["kind"] != "random":
        return f"checkpoint `{model['path']}`"
    from glyph.readers.tiny import DIMS

    d = DIMS[model["dims"]]
    params = run["facts"].get("parameters")
    return (
        f"{DIMS_LABEL.get(model['dims'], model['dims'])} random-weight {FAMILY[model['arch']]} (`random:"
        f"{model['arch']}:{model['dims']}`; LM hidden {d.text_hidden}, depth {d.text_layers}, {d.text_heads} "
        f"heads / {d.text_kv_heads} KV heads; vision hidden {d.vision_hidden}, depth {d.vision_depth or 1}"
        + (f"; {params / 1e6:,.0f}M parameters" if params else "")
        + ")"
    )


def write_report(runs_dir: Path, out: Path) -> None:
    """``out`` (markdown) and its plot from every run JSON under ``runs_dir``."""
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    local = sorted(  # smallest model first, GPU runs after CPU runs of the same size
        (r for r in runs if r.get("kind") != "server"),
        key=lambda r: (r["facts"].get("parameters") or 0, bool(r["facts"].get("gpu")), r["name"]),
    )
    for run in local:  # the model is refitted from the measurements, so a fix to it needs no rerun
        run["model_fit"] = fit_run(run)
    servers = [r for r in runs if r.get("kind") == "server"]
    if not runs:
        sys.exit(f"no run results under {runs_dir}")
    lines = [
        "# Efficiency: text tokens vs rendered pages",
        "",
        (
            "The same text as text tokens and as pages of the reference default config, on the same model. "
            "Ratios are text / pages (above 1: pages are cheaper); decoding ratio = pages tokens/s over text "
            "tokens/s. Prefill = time to first token; KV cache read off the cache object and equal to "
            "`layers x 2 x kv_heads x head_dim x tokens x bytes` at every length (checked). Random-weight "
            "models: their times show the architecture's cost structure, not a trained model's answers. "
            f"Made by `python benchmarks/efficiency.py` (see `benchmarks/efficiency.sh`); plot: "
            f"[{out.with_suffix('.png').name}]({out.with_suffix('.png').name})."
        ),
        "",
    ]
    if local:
        lines += ["## Summary", ""]
        lines += [
            (
                "| model | measured up to | token ratio | prefill ratio | decoding ratio | KV ratio "
                "| MODEL: prefill ratio at 128K | MODEL: decoding ratio at 128K | break-even (MODEL) |"
            ),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in local:
            ok = [r for r in run["rows"] if "error" not in r["text"] and "error" not in r["pages"]]
            if not ok:
                continue
            last = ok[-1]
            fit = run.get("model_fit", {})
            pred = fit.get("predictions", {}).get(str(EXTRAPOLATE_TO), {})
            lines.append(
                f"| {run['name']} | {label(last['length'])} | {last['token_ratio']:.2f}x | "
                f"**{last['prefill_ratio']:.2f}x** | **{last['decode_ratio']:.2f}x** | {last['kv_ratio']:.2f}x | "
                f"{_x(pred.get('prefill_ratio'))} | {_x(pred.get('decode_ratio'))} | {_even(fit)} |"
            )
        lines += [
            "",
            "Paper (Glyph on GLM-4.1V-9B-Base, GPU, its own rendering): prefill "
            + ", ".join(f"{label(n)} {p:.1f}x" for n, (p, _) in PAPER.items())
            + "; decoding "
            + ", ".join(f"{label(n)} {d:.1f}x" for n, (_, d) in PAPER.items())
            + ".",
            "",
        ]
    if local and not any(run["facts"].get("gpu") for run in local):
        lines += [
            (
                "**No GPU run yet**: the full-size GLM-4.1V-9B (random weights, bf16) at 32K/64K/128K is "
                "`bash benchmarks/gpu/efficiency_9b.sh` on one GPU (~3-4 minutes on an H200); until it has "
                "run, every 128K figure here is the fitted MODEL of a smaller model on this CPU, not a "
                "measurement."
            ),
            "",
        ]
    for run in local:
        lines += run_section(run)
    for run in servers:
        lines += server_section(run)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if local:
        plot(local, out.with_suffix(".png"))
    print(f"wrote {out}" + (f" and {out.with_suffix('.png')}" if local else ""))


def _x(value: Any) -> str:
    return f"{value:.2f}x" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def _even(fit: dict[str, Any]) -> str:
    if "break_even_text_tokens" not in fit:
        return "-"
    even = fit["break_even_text_tokens"]
    if even is None:
        return "never"
    return "every length" if even == 0 else f"{even:,.0f} tokens"


def run_section(run: dict[str, Any]) -> list[str]:
    lines = [
        f"## {run['name']}: {describe(run)}",
        "",
        (
            f"- date: {run['date']}; machine: {run['machine']}; load average before / after: "
            f"{run['load_before']} / {run['load_after']}"
        ),
        f"- command: `{run['command']}` ({run['wall_s']:.0f} s in all)",
        f"- render config: {run['render_config']}"
        + (f" with {', '.join(run['render_set'])}" if run["render_set"] else "")
        + f"; {run['repeat']} timed generate(s) per case after {run['warmup']} warm-up(s), medians; "
        f"{run['decode_tokens']} new tokens each; clock: {run['rows'][0]['text'].get('clock', '-')}",
        "",
        (
            "| text | pages | prompt tokens text / pages | token ratio | prefill text / pages (s) | prefill ratio "
            "| decode text / pages (tok/s) | decoding ratio | KV cache text / pages (MiB) | KV = formula "
            "| peak memory text / pages (MiB) | vision share of pages prefill | gateway per request (ms, same clock) "
            "| gateway / pages prefill | paper: prefill / decoding |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for r in run["rows"]:
        t, p = r["text"], r["pages"]
        if "error" in t or "error" in p:
            lines.append(f"| {label(r['length'])} | {t.get('error') or p.get('error')} |" + " |" * 13)
            continue
        agree = (
            "yes"
            if t["kv_bytes"] == t["kv_formula_bytes"] and p["kv_bytes"] == p["kv_formula_bytes"]
            else "NO"
        )
        g = r["gateway"]
        share = gateway_seconds(g, p) / p["prefill_s"]
        paper = PAPER.get(r["length"])
        lines.append(
            f"| {label(r['length'])} | {p['pages']} | {t['prompt_tokens']:,} / {p['prompt_tokens']:,} | "
            f"{r['token_ratio']:.2f}x | {t['prefill_s']:.3f} / {p['prefill_s']:.3f} | **{r['prefill_ratio']:.2f}x** | "
            f"{t['decode_tokens_per_s']:.1f} / {p['decode_tokens_per_s']:.1f} | **{r['decode_ratio']:.2f}x** | "
            f"{t['kv_prompt_bytes'] / 2**20:,.1f} / {p['kv_prompt_bytes'] / 2**20:,.1f} | {agree} | "
            f"{t['peak_mib']:,.0f} / {p['peak_mib']:,.0f} | {p.get('vision_share', math.nan):.0%} | "
            f"{gateway_seconds(g, p) * 1e3:,.0f} | {share:.0%} | "
            + (f"{paper[0]:.1f}x / {paper[1]:.1f}x |" if paper else "- |")
        )
    lines += ["", *gateway_lines(run), "", *model_lines(run), ""]
    return lines


def gateway_lines(run: dict[str, Any]) -> list[str]:
    rows = run["rows"]
    g = rows[-1]["gateway"]
    return [
        (
            f"Gateway (`glyph serve --upstream`, this CPU, one request at {label(rows[-1]['length'])}, {g['pages']} "
            f"pages): {g['request_cpu_s'] * 1e3:,.0f} ms of CPU ({g['request_s'] * 1e3:,.0f} ms wall): render "
            f"{g['render_cpu_s'] * 1e3:,.0f} ms, PNG + base64 + token counting {(g['plan_cpu_s'] - g['render_cpu_s']) * 1e3:,.0f} "
            f"ms, the forwarded JSON ({g['forward_bytes'] / 2**20:,.1f} MiB) {g['forward_json_cpu_s'] * 1e3:,.0f} ms. "
            "Its page cache (on by default) skips all but the JSON for a document it has seen."
        ),
    ]


def model_lines(run: dict[str, Any]) -> list[str]:
    fit = run.get("model_fit")
    if not fit or "text" not in fit:
        return ["No cost model (fewer than two measured lengths)."]
    lines = [
        (
            "**Fitted cost model (a MODEL, not a measurement)**: per side, prefill seconds "
            "`t(n) = b*n + c*n^2` in that side's prompt tokens and seconds per decoded token `d0 + d1*n` at "
            f"context `n`, least squares over the {len(fit['text']['prefill']['xs'])} measured lengths "
            f"(up to {label(fit['measured_up_to'])}); residuals are (measured - model) / measured."
        ),
        "",
        (
            "| side | b (s/token) | c (s/token^2) | attention = dense at | prefill residuals | d0 (s) | d1 (s/token) "
            "| decode residuals |"
        ),
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for side in ("text", "pages"):
        pre, dec = fit[side]["prefill"], fit[side]["decode"]
        att = pre["attention_length"]
        lines.append(
            f"| {side} | {pre['linear']:.3e} | {pre['quadratic']:.3e} | "
            f"{'-' if not math.isfinite(att) else f'{att:,.0f} tokens'}"
            f"{' (c dropped: < 0)' if pre.get('dropped') == 'quadratic' else ''} | "
            f"{', '.join(f'{x:+.0%}' for x in pre['residuals'])} | {dec['intercept']:.3e} | {dec['slope']:.3e} | "
            f"{', '.join(f'{x:+.0%}' for x in dec['residuals'])} |"
        )
    pred = fit["predictions"].get(str(EXTRAPOLATE_TO))
    lines += [
        "",
        (
            f"Pages cost {fit['pages_tokens_per_text_token']:.3f} prompt tokens per text token (+{fit['pages_tokens_at_zero']:.0f});"
            f" break-even (pages' prefill cheaper above): {_even(fit)}; asymptotic prefill ratio (attention alone): "
            f"{_x(fit.get('asymptotic_prefill_ratio'))}."
        ),
    ]
    if pred:
        lines += [
            "",
            (
                f"MODEL at {label(EXTRAPOLATE_TO)} text tokens ({pred['text_prompt_tokens']:,} vs {pred['pages_prompt_tokens']:,} "
                f"prompt tokens{', ' + str(pred['pages']) + ' pages' if 'pages' in pred else ''}, counted exactly): prefill "
                f"{pred['text_prefill_s']:,.1f} vs {pred['pages_prefill_s']:,.1f} s -> **{_x(pred['prefill_ratio'])}**; decoding "
                f"{pred['text_decode_tokens_per_s']:.1f} vs {pred['pages_decode_tokens_per_s']:.1f} tok/s -> "
                f"**{_x(pred['decode_ratio'])}**; KV cache (formula, exact) {pred['text_kv_bytes'] / 2**30:.2f} vs "
                f"{pred['pages_kv_bytes'] / 2**30:.2f} GiB. Paper at 128K: 4.8x prefill, 4.4x decoding."
            ),
        ]
    return lines


def server_section(run: dict[str, Any]) -> list[str]:
    lines = [
        f"## {run['name']}: server at {run['base_url']}"
        + (" (glyph serve renders)" if run["via_gateway"] else ""),
        "",
        f"- date: {run['date']}; client: {run['client_machine']}; load {run['load_before']} / {run['load_after']}",
        (
            f"- command: `{run['command']}`; {run['repeat']} streamed requests per case (medians), "
            f"{run['decode_tokens']} tokens each (ignore_eos: {run['ignore_eos']})"
        ),
        "",
        (
            "| text | prompt tokens text / pages | TTFT text / pages (s) | TTFT ratio | decode text / pages (tok/s) "
            "| decoding ratio | chunks per answer text / pages |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run["rows"]:
        t, p = r["text"], r["pages"]
        lines.append(
            f"| {label(r['length'])} | {t['prompt_tokens']} / {p['prompt_tokens']} | {t['ttft_s']:.3f} / "
            f"{p['ttft_s']:.3f} | **{r['ttft_ratio']:.2f}x** | {t['decode_tokens_per_s']:.1f} / "
            f"{p['decode_tokens_per_s']:.1f} | **{_x(r['decode_ratio'])}** | {t.get('chunks', math.nan):.0f} / "
            f"{p.get('chunks', math.nan):.0f} |"
        )
    lines += [
        "",
        (
            "Time to first token is when the first generated text arrives: a server that streams whole words "
            "(transformers' streamer behind `glyph serve --model`) adds the rest of the first word to it and "
            "has no rate for an answer that arrives in one chunk; vLLM and SGLang stream token by token."
        ),
    ]
    return [*lines, ""]


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Per model: prefill seconds and decoding tokens/s against text length (both sides, measured
    and fitted), and the ratios beside the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(runs), 3, figsize=(15, 3.6 * len(runs)), squeeze=False)
    colors = {"text": "#c0392b", "pages": "#2471a3"}
    for row_axes, run in zip(axes, runs):
        ok = [r for r in run["rows"] if "error" not in r["text"] and "error" not in r["pages"]]
        fit = run.get("model_fit", {})
        lengths = np.array([r["length"] for r in ok], dtype=float)
        grid = np.geomspace(lengths.min(), EXTRAPOLATE_TO, 60)
        ax_pre, ax_dec, ax_ratio = row_axes
        for side in ("text", "pages"):
            ax_pre.plot(
                lengths,
                [r[side]["prefill_s"] for r in ok],
                "o-",
                color=colors[side],
                label=f"{side} (measured)",
            )
            ax_dec.plot(
                lengths,
                [r[side]["decode_tokens_per_s"] for r in ok],
                "o-",
                color=colors[side],
                label=f"{side} (measured)",
            )
            if "text" in fit:
                tokens = _side_tokens(fit, side, grid)
                pre = fit[side]["prefill"]
                ax_pre.plot(grid, pre["linear"] * tokens + pre["quadratic"] * tokens**2, "--", color=colors[side],
                            alpha=0.6, label=f"{side} (MODEL)")  # fmt: skip
                dec = fit[side]["decode"]
                per_token = dec["intercept"] + dec["slope"] * (tokens + run["decode_tokens"] / 2)
                ax_dec.plot(grid, np.where(per_token > 0, 1 / np.maximum(per_token, 1e-12), np.nan), "--",
                            color=colors[side], alpha=0.6, label=f"{side} (MODEL)")  # fmt: skip
        ax_ratio.plot(
            lengths, [r["prefill_ratio"] for r in ok], "o-", color="#1e8449", label="prefill (measured)"
        )
        ax_ratio.plot(
            lengths, [r["decode_ratio"] for r in ok], "s-", color="#7d3c98", label="decoding (measured)"
        )
        ax_ratio.plot(lengths, [r["token_ratio"] for r in ok], ":", color="grey", label="prompt token ratio")
        preds = fit.get("predictions", {})
        if preds:
            xs = sorted(int(n) for n in preds if int(n) > lengths.max())
            if xs:
                ax_ratio.plot(xs, [preds[str(n)]["prefill_ratio"] for n in xs], "o--", color="#1e8449", alpha=0.5,
                              mfc="none", label="prefill (MODEL)")  # fmt: skip
                ax_ratio.plot(xs, [preds[str(n)]["decode_ratio"] for n in xs], "s--", color="#7d3c98", alpha=0.5,
                              mfc="none", label="decoding (MODEL)")  # fmt: skip
        paper = sorted(PAPER)
        ax_ratio.plot(
            paper, [PAPER[n][0] for n in paper], "^", color="#1e8449", alpha=0.35, label="paper prefill"
        )
        ax_ratio.plot(
            paper, [PAPER[n][1] for n in paper], "v", color="#7d3c98", alpha=0.35, label="paper decoding"
        )
        ax_ratio.axhline(1, color="black", lw=0.6)
        for ax in row_axes:
            ax.set_xscale("log", base=2)
            ticks = [2**k for k in range(10, 18) if lengths.min() / 1.5 <= 2**k <= EXTRAPOLATE_TO * 1.1]
            ax.set_xticks(ticks, [label(t) for t in ticks])
            ax.set_xlabel("text length (Qwen tokens)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        ax_pre.set_yscale("log")
        ax_pre.set_ylabel("prefill (time to first token), s")
        ax_dec.set_ylabel("decoding, tokens/s")
        ax_ratio.set_ylabel("text / pages")
        ax_pre.set_title(f"{run['name']}: prefill", fontsize=10)
        ax_dec.set_title(f"{run['name']}: decoding", fontsize=10)
        ax_ratio.set_title(f"{run['name']}: speed-up of pages", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _side_tokens(fit: dict[str, Any], side: str, lengths: Any) -> Any:
    if side == "text":
        return lengths + fit["text_tokens_extra"]
    return fit["pages_tokens_at_zero"] + fit["pages_tokens_per_text_token"] * lengths


# ------------------------------------------------------------------------------------ command line
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--model", type=parse_model, default=parse_model("random:glm4v:bench"),
        help="random:ARCH:DIMS (ARCH glm4v|qwen2.5vl, DIMS bench|mid|9b|test) or a checkpoint dir / hub id "
        "(default random:glm4v:bench)",
    )  # fmt: skip
    parser.add_argument("--name", help="name of this run's results (default: from the model)")
    parser.add_argument(
        "--lengths", type=parse_lengths, default=None,
        help="text lengths in Qwen tokens, k = 1024 (default 1k,2k,4k,8k; server: 1k,4k,8k)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="timed requests per case (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed generates per case before timing")
    parser.add_argument("--decode-tokens", type=int, default=32, help="new tokens per request (fixed count)")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), bf16, fp16, fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 on CPU)")
    parser.add_argument("--attn", default=None, help="attn_implementation: sdpa, flash_attention_2, eager")
    parser.add_argument(
        "--isolate", choices=["auto", "process", "none"], default="auto",
        help="each case in a fresh process (clean CPU memory peaks; default on CPU) or all in this one "
        "(default on GPU: the model is built once)",
    )  # fmt: skip
    parser.add_argument(
        "--tiny-dir", type=Path, help="keep (and reuse) the random checkpoint here (CPU runs)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="render config JSON (default: reference default)"
    )
    parser.add_argument(
        "--set", action="append", default=[], help="render config override key=value (repeatable)"
    )
    parser.add_argument("--out-dir", type=Path, default=RUNS_DIR, help="where each run's JSON goes")
    parser.add_argument(
        "--report-out", type=Path, default=RESULTS / "efficiency.md", help="the combined report"
    )
    parser.add_argument("--no-report", action="store_true", help="write the run's JSON only")
    parser.add_argument("--report", action="store_true", help="only rebuild the report from --out-dir's JSON")
    server = parser.add_argument_group("timing a running server (--base-url)")
    server.add_argument("--base-url", help="an OpenAI-compatible server (vLLM, SGLang, glyph serve): time it")
    server.add_argument("--server-model", help="model name to request (default: the server's first)")
    server.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY"), help="bearer token ($OPENAI_API_KEY)"
    )
    server.add_argument("--timeout", type=float, default=600.0, help="seconds for one streamed answer")
    server.add_argument(
        "--via-gateway", action="store_true",
        help="the server is glyph serve: send the text marked for rendering (its rendering is timed too)",
    )  # fmt: skip
    server.add_argument("--no-ignore-eos", action="store_true", help="don't send ignore_eos / min_tokens")
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    for name in ("repeat", "decode_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.decode_tokens < 2:
        parser.error("--decode-tokens must be >= 2 (decoding speed is timed after the first token)")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.report:
        write_report(args.out_dir, args.report_out)
        return
    if args.base_url:
        from glyph.client import UpstreamError

        try:
            run_server(args)
        except (ValueError, UpstreamError) as exc:  # a bad URL, an unreachable or failing server
            sys.exit(f"error: {exc}")
    else:
        run_local(args)
    if not args.no_report:
        write_report(args.out_dir, args.report_out)


if __name__ == "__main__":
    main()
