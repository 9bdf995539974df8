"""The CPT data engine: config sampling and its rules, themes, the three task builders, shards.

Expected values come from the paper's table (literals), from glyph.tokens' visual-token rules and
the tokenizer applied to the records' own images and texts, and from the source text itself.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glyph.render import render_pages
from glyph.render.config import RenderConfig
from glyph.tokens import get_tokenizer, get_vlm_rule
from glyph.train.cpt import load_data_config
from glyph.train.cpt.engine import build_cpt_data, plan_samples
from glyph.train.cpt.sampler import ConfigSampler, SamplingError, contrast_ratio
from glyph.train.cpt.sources import Document, document_factory
from glyph.train.cpt.tasks import SampleSpec, Timer, build_sample
from glyph.train.records import Record
from glyph.train.shards import iter_shard, list_shards

#: Small and fast: 1,536-token records, low dpi (the paper's lower bands), three families counted.
FAST = {
    "context": {"max_tokens": 1536, "vlms": ["glm4v", "qwen2.5vl", "qwen3vl"]},
    "render": {"dpi": {"45-59": {"weight": 1, "range": [45, 59]}, "60-71": {"weight": 1, "range": [60, 71]},
                       "72-119": {"weight": 1, "range": [72, 96]}}},
}  # fmt: skip


@pytest.fixture(scope="module")
def cfg():
    return load_data_config(FAST)


@pytest.fixture(scope="module")
def sampler(cfg):
    return ConfigSampler(cfg)


@pytest.fixture(scope="module")
def essay() -> str:
    from glyph.data import essay_texts

    return dict(essay_texts())["addiction"]


# ----------------------------------------------------------------------------------- sampling


def test_the_default_distribution_is_the_papers_table() -> None:
    c = load_data_config()
    bands = {k: (b.range, b.values) for k, b in c.render.dpi.items()}
    assert bands["45-59"][0] == [45, 59] and bands["60-71"][0] == [60, 71] and bands["72-119"][0] == [72, 119]
    assert min(bands["normal"][1]) == 72 and max(bands["normal"][1]) == 300 and bands[">300"][0][0] == 301
    assert c.render.font_size == [7, 7.5, 8, 9, 9.5, 10, 11, 12, 14]
    assert c.render.line_height_extra == [0, 1, 2, 3]
    assert c.render.horizontal_scale == [0.75, 1.0] and c.render.margin == [10, 40]
    assert 0 < c.render.newline_markup.probability <= 0.1 and 0 < c.render.auto_crop_width <= 0.1
    assert set(c.themes) == {"document", "web", "dark", "code", "artistic"}
    assert set(c.tasks.weights()) == {"ocr", "lm", "gen"}


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), theme=st.sampled_from(["document", "web", "dark", "code", "artistic"]))
def test_every_draw_obeys_the_table_and_the_rules(seed: int, theme: str) -> None:
    c = load_data_config()
    s = _SAMPLER.get("default") or _SAMPLER.setdefault("default", ConfigSampler(c))
    draw = s.draw(np.random.default_rng(seed), theme)
    cfg = draw.config
    band = c.render.dpi[draw.dpi_band]
    assert (band.range[0] <= cfg.dpi <= band.range[1]) if band.range else cfg.dpi in band.values
    assert cfg.font_size in c.render.font_size and cfg.leading - cfg.font_size in (0, 1, 2, 3)
    assert 0.75 <= cfg.horizontal_scale <= 1.0 and 10 <= cfg.margin_x <= 40 and 10 <= cfg.margin_y <= 40
    assert cfg.leading >= cfg.font_size  # rule: line height not below the font size
    assert cfg.font_size * cfg.dpi / 72 * cfg.horizontal_scale >= c.rules.min_text_px
    assert s.violation(cfg) is None
    assert contrast_ratio(cfg.font_color, cfg.page_bg_color) >= 3.0


_SAMPLER: dict[str, ConfigSampler] = {}


def test_same_seed_same_configs_and_rules_are_enforced(sampler: ConfigSampler) -> None:
    a = [sampler.draw(np.random.default_rng([7, i]), "document").config for i in range(10)]
    b = [sampler.draw(np.random.default_rng([7, i]), "document").config for i in range(10)]
    assert a == b and len({c.content_hash() for c in a}) == 10
    tight = ConfigSampler(load_data_config({**FAST, "render": {**FAST["render"], "line_height_extra": [-2]},
                                            "rules": {"max_attempts": 5}}))  # fmt: skip
    with pytest.raises(SamplingError, match=r"theme 'web'.*line_height_below_font_size"):
        tight.draw(np.random.default_rng(0), "web")
    small = ConfigSampler(load_data_config({**FAST, "rules": {"min_text_px": 9.0}}))
    draw = small.draw(np.random.default_rng(3), "document")
    assert draw.config.font_size * draw.config.dpi / 72 * draw.config.horizontal_scale >= 9.0
    assert draw.redraws["text_too_small"] > 0


def test_bad_data_configs_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"tasks\.ocr\.pages: .*low <= high"):
        load_data_config({"tasks": {"ocr": {"pages": [4, 1]}}})
    with pytest.raises(ValueError, match=r"themes\.dark\.palettes\.0\.ink: String should match pattern"):
        load_data_config({"themes": {"dark": {"palettes": [{"ink": "white", "page": "#000000"}]}}})
    with pytest.raises(ValueError, match=r"context\.vlms.*unknown VLM family 'llava'"):
        load_data_config({"context": {"vlms": ["llava"]}})
    with pytest.raises(ValueError, match="unknown theme"):
        load_data_config().theme_weights(["neon"])


def test_themes_draw_what_they_say(sampler: ConfigSampler, essay: str) -> None:
    def draws(theme: str, n: int = 30):
        return [sampler.draw(np.random.default_rng([1, i]), theme) for i in range(n)]

    for d in draws("dark"):  # light ink on dark pages
        ink, page = d.config.font_color, d.config.page_bg_color
        assert _lum(ink) > 0.35 and _lum(page) < 0.05 and contrast_ratio(ink, page) >= 4.5  # WCAG AA
    code = draws("code")
    palettes = {tuple(p.syntax) for p in load_data_config().themes["code"].palettes}
    for d in code:  # monospace, lines kept as written, indentation kept, editor colours
        assert d.font.kind == "mono" and not d.config.reflow and d.config.alignment.value == "LEFT"
        assert d.config.tab_size > 0
        assert d.config.syntax_colors is None or d.config.syntax_colors in palettes
    assert 10 < sum(d.config.syntax_colors is not None for d in code) < 30  # highlight: 0.75
    assert all(d.config.syntax_colors is None for d in draws("document"))
    art = draws("artistic", 40)
    assert len({d.font.family for d in art}) >= 3 and len({d.config.font_color for d in art}) >= 20
    assert len({d.config.alignment for d in art}) == 4 and len({d.font.style for d in art}) >= 2
    assert all(contrast_ratio(d.config.font_color, d.config.page_bg_color) >= 4.5 for d in art)
    web = draws("web")
    assert {d.config.page_size for d in web} >= {(360.0, 780.0), (960.0, 1200.0)}
    # pixels: a dark page is mostly dark, and its ink is lighter than its background
    page = next(iter(render_pages(essay, draws("dark", 1)[0].config))).image.convert("L")
    pixels = np.asarray(page)
    assert pixels.mean() < 90 and np.percentile(pixels, 99.5) > pixels.mean() + 60


def test_cjk_text_gets_a_cjk_font(sampler: ConfigSampler) -> None:
    if "cjk" not in sampler.by_kind:
        pytest.skip("no CJK font installed")
    draw = sampler.draw(np.random.default_rng(0), "document", "这是一个中文句子。" * 20)
    assert draw.font.kind == "cjk"


def _lum(color: str) -> float:
    from glyph.train.cpt.sampler import _luminance

    return _luminance(color)


# ----------------------------------------------------------------------------------- tasks


def _spec(text: str, task: str, theme: str = "document", index: int = 0) -> SampleSpec:
    return SampleSpec(index, f"t-{task}-{index}", "doc", 0, text, task, theme)


def _check_fits(record: Record, cfg) -> None:
    """Every family's count, from the record's own images and texts, is within the context."""
    tok = get_tokenizer("qwen")
    text = sum(tok.count(p.text) for m in record.messages for p in m.content if p.type == "text")
    for fam in ("glm4v", "qwen2.5vl", "qwen3vl"):
        visual = get_vlm_rule(fam).document_tokens(record.image_sizes())
        assert visual == record.meta["visual_tokens"][fam]
        assert text + visual + cfg.context.template_tokens <= cfg.context.max_tokens


@pytest.mark.parametrize("task", ["ocr", "lm", "gen"])
def test_each_task_builds_a_record_that_fits_every_family(task: str, cfg, sampler, essay: str) -> None:
    spec = _spec(essay[:12000], task, index=3)
    for i in range(6):
        record = build_sample(spec, cfg, sampler, np.random.default_rng([0, i]), Timer())
        _check_fits(record, cfg)
        assert record.task == task and record.images and record.targets


def test_ocr_target_is_the_text_drawn_on_its_pages(cfg, sampler, essay: str) -> None:
    record = build_sample(_spec(essay[:8000], "ocr", "web"), cfg, sampler, np.random.default_rng(5), Timer())
    config = RenderConfig.from_dict(record.meta["config"])
    expected = list(render_pages(essay[:8000], config))[: len(record.images)]  # independent render
    assert record.targets == ["\n".join(p.text for p in expected)]
    assert [im.size for im in record.pil_images()] == [p.image.size for p in expected]
    assert record.template == "chat" and record.messages[0].role == "user"


def test_interleaved_lm_alternates_text_and_pages_of_one_window(cfg, sampler, essay: str) -> None:
    record = build_sample(_spec(essay[:10000], "lm"), cfg, sampler, np.random.default_rng(11), Timer())
    assert record.template == "none" and [m.role for m in record.messages] == ["assistant"]
    kinds = [p.type for p in record.messages[0].content]
    assert "image" in kinds and "text" in kinds
    pos = 0
    for p in record.messages[0].content:  # text spans are pieces of the window, in order
        if p.type == "text":
            found = essay.find(p.text, pos)
            assert found >= pos
            pos = found + len(p.text)


@pytest.mark.parametrize("mode", ["continue", "prefix"])
def test_generation_target_is_the_text_next_to_its_pages(mode: str, cfg, sampler, essay: str) -> None:
    override = load_data_config(
        {**FAST, "tasks": {"gen": {"continue_share": 1.0 if mode == "continue" else 0.0}}}
    )
    for i in range(4):
        record = build_sample(_spec(essay, "gen"), override, sampler, np.random.default_rng([9, i]), Timer())
        assert record.meta["mode"] == mode
        start, end = record.meta["span"]  # the source span of the pages
        target = record.targets[0]
        if mode == "continue":
            assert essay[end:].lstrip().startswith(target.strip()[:50])
        else:
            assert essay[:start].rstrip().endswith(target.strip()[-50:])
        _check_fits(record, override)


# ----------------------------------------------------------------------------------- engine


def test_plan_is_deterministic_and_passes_over_the_source_again(cfg) -> None:
    docs = lambda: iter([Document("a", "word " * 3000), Document("b", "x\n\n" * 10), "bad row 3: no text"])
    errors: list[str] = []
    a = list(plan_samples(docs, cfg, seed=1, samples=12, source_errors=errors))
    b = list(plan_samples(docs, cfg, seed=1, samples=12))
    assert a == b and [s.index for s in a] == list(range(12))
    assert errors == ["bad row 3: no text"]
    assert all(s.source == "a" for s in a)  # 'b' is too short for any window
    starts = [s.start for s in a]
    assert len(set(starts)) < len(starts) or max(starts) > 0  # windows tile the document, then it is reread
    assert len({(s.start, s.task) for s in a}) > 1


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cfg) -> Path:
    out = tmp_path_factory.mktemp("cpt") / "a"
    summary = build_cpt_data("essays", out, cfg, seed=3, samples=14, shard_size=4, workers=2)
    assert summary.planned == 14 and summary.records + summary.failed == 14 and summary.records >= 12
    return out


def test_same_seed_gives_byte_identical_shards_whatever_the_workers(built: Path, tmp_path: Path, cfg) -> None:
    again = tmp_path / "b"
    build_cpt_data("essays", again, cfg, seed=3, samples=14, shard_size=4, workers=1)
    names = sorted(p.name for p in built.glob("cpt-*.parquet"))
    assert names == [f"cpt-{k:05d}.parquet" for k in range(4)]
    for name in names:
        assert (built / name).read_bytes() == (again / name).read_bytes()
    other = tmp_path / "c"
    build_cpt_data("essays", other, cfg, seed=4, samples=4, shard_size=4, workers=1)
    assert (other / names[0]).read_bytes() != (built / names[0]).read_bytes()


def test_manifest_statistics_match_the_shards(built: Path) -> None:
    records = [r for p in list_shards(built) for r in iter_shard(p)]
    assert all(isinstance(r, Record) for r in records)
    stats = json.loads((built / "stats.json").read_text())
    assert stats["records"] == len(records)
    assert {k: v["samples"] for k, v in stats["by_task"].items()} == dict(Counter(r.task for r in records))
    assert {k: v["samples"] for k, v in stats["by_theme"].items()} == dict(Counter(r.theme for r in records))
    assert stats["pages"] == sum(len(r.images) for r in records)
    assert stats["visual_tokens"] == sum(
        get_vlm_rule("glm4v").document_tokens(r.image_sizes()) for r in records
    )
    assert (built / "mixture.png").stat().st_size > 10_000
    ids = [r.id for r in records]
    assert len(set(ids)) == len(ids)
    # the shards are plain parquet, one record per row group
    first = json.loads((built / "manifest.jsonl").read_text().splitlines()[0])
    assert pq.ParquetFile(built / first["shard"]).metadata.num_row_groups == first["records"]


def test_a_killed_build_resumes_with_no_sample_lost_or_repeated(built: Path, tmp_path: Path, cfg) -> None:
    out = tmp_path / "killed"

    def die_after_two(summary) -> None:
        if summary.shards_built == 2:
            raise KeyboardInterrupt  # as Ctrl-C between two shard commits

    with pytest.raises(KeyboardInterrupt):
        build_cpt_data(
            "essays", out, cfg, seed=3, samples=14, shard_size=4, workers=1, on_progress=die_after_two
        )
    assert len(list(out.glob("cpt-*.parquet"))) == 2
    (out / "cpt-00002.parquet.tmp").write_bytes(b"half a shard")  # what a kill during a write leaves
    (out / "cpt-00003.parquet").write_bytes(b"written, never committed")
    summary = build_cpt_data("essays", out, cfg, seed=3, samples=14, shard_size=4, workers=2)
    assert summary.shards_skipped == 2 and summary.shards_built == 2
    assert not list(out.glob("*.tmp"))
    for name in (f"cpt-{k:05d}.parquet" for k in range(4)):
        assert (out / name).read_bytes() == (built / name).read_bytes()
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    indices = sorted(s["index"] for line in lines for s in line["samples"]) + sorted(
        e["index"] for line in lines for e in line["errors"])  # fmt: skip
    assert sorted(indices) == list(range(14))
    with pytest.raises(ValueError, match="built with other settings.*seed"):
        build_cpt_data("essays", out, cfg, seed=9, samples=14, shard_size=4, workers=1)


def test_more_samples_on_resume_rebuild_only_the_partial_last_shard(built: Path, tmp_path: Path, cfg) -> None:
    out = tmp_path / "grow"
    build_cpt_data("essays", out, cfg, seed=3, samples=6, shard_size=4, workers=1)
    summary = build_cpt_data("essays", out, cfg, seed=3, samples=14, shard_size=4, workers=1)
    assert summary.shards_skipped == 1 and summary.shards_built == 3  # shard 1 held 2 samples, now 4
    for k in range(4):
        name = f"cpt-{k:05d}.parquet"
        assert (out / name).read_bytes() == (built / name).read_bytes()


def test_bad_source_rows_are_named_and_the_rest_is_built(tmp_path: Path, cfg, essay: str) -> None:
    src = tmp_path / "docs.jsonl"
    src.write_text(
        "\n".join(
            [json.dumps({"id": "good", "text": essay}), "{not json", json.dumps({"id": "empty", "text": ""})]
        )
    )
    summary = build_cpt_data(src, tmp_path / "out", cfg, seed=0, samples=3, shard_size=4, workers=1)
    assert summary.records + summary.failed == 3
    assert any("line 2: invalid JSON" in e for e in summary.source_errors)
    assert any("row 2: no text in field 'text'" in e for e in summary.source_errors)
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_text(essay)
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    docs = list(document_factory(folder)())
    assert [d.id for d in docs if isinstance(d, Document)] == ["a.txt"]
    assert any("bad.txt: not UTF-8" in d for d in docs if isinstance(d, str))
    with pytest.raises(FileNotFoundError, match="text source 'nowhere.txt'"):
        document_factory("nowhere.txt")


def test_shards_train_through_the_collator_with_exact_lengths(built: Path, tiny_qwen: Path) -> None:
    from glyph.train.collate import IGNORE_INDEX, VisionCollator

    c = VisionCollator.from_pretrained(str(tiny_qwen))
    records = [r for r in iter_shard(next(iter(list_shards(built))))]
    for r in records:
        enc = c.encode(r)
        assert c.length(r) == len(enc.input_ids)
        n_image = sum(1 for i in enc.input_ids if i == c.image_token_id)
        assert n_image == sum(get_vlm_rule("qwen2.5vl").tokens_for_image(w, h) for w, h in r.image_sizes())
        assert all(
            enc.labels[k] == IGNORE_INDEX for k, i in enumerate(enc.input_ids) if i == c.image_token_id
        )


def test_sources_saved_datasets_and_custom_fields(tmp_path: Path, essay: str) -> None:
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"doc": ["a", "b"], "body": [essay[:3000], essay[3000:6000]]}).save_to_disk(
        saved
    )
    docs = list(document_factory(saved, text_field="body", id_field="doc")())
    assert [(d.id, d.text) for d in docs] == [("a", essay[:3000]), ("b", essay[3000:6000])]
    (tmp_path / "rows.jsonl").write_text(json.dumps({"uid": 7, "content": essay[:500]}) + "\n")
    (doc,) = list(document_factory(tmp_path / "rows.jsonl", text_field="content", id_field="uid")())
    assert doc == Document("7", essay[:500])
    essays = list(document_factory("essays")())
    assert len(essays) > 40 and all(d.id.startswith("essays/") for d in essays)
