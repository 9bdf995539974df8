"""The playground's JSON API over loopback-free ASGI calls: same numbers as the CLI, hostile input refused.

Expected values come from elsewhere: ``glyph measure --json`` for the compression table, the
committed search export (``pareto.csv``) and eval summary (``summary.json``) for the study and run
views, hand-made bytes for uploads.
"""

from __future__ import annotations

import codecs
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from glyph.cli import app as cli
from glyph.readers.base import Reader, register_reader
from glyph.render.config import reference_default
from glyph.render.pages import RenderedPage
from glyph.ui import UISettings, asgi_app

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ROOT / "benchmarks" / "results" / "search"
RULER = ROOT / "benchmarks" / "results" / "ruler_offline"
TEXT = "The quick brown fox jumps over the lazy dog. " * 40 + "\n\nA second paragraph, 1234567 and UUID-like ab12cd34.\n"


class _Misreader(Reader):
    """Reads every page back with 'o' read as '0', the last word dropped and '* ' inserted in front."""

    name = "misreader"

    def transcribe(self, pages: Sequence[RenderedPage]) -> list[str]:
        return ["* " + p.text.replace("o", "0").rsplit(" ", 1)[0] for p in pages]


register_reader("misreader", _Misreader, "test reader with known errors")


def client(**settings) -> TestClient:
    settings.setdefault("token", "t")
    c = TestClient(asgi_app(UISettings(**settings)), base_url="http://127.0.0.1:7860")
    c.headers["Authorization"] = "Bearer t"
    return c


def render(c: TestClient, text: str = TEXT, **changes) -> dict:
    doc = c.post("/api/documents", json={"text": text}).json()
    cfg = {**reference_default().to_reference_dict(), **changes}
    r = c.post("/api/render", json={"document": doc["id"], "config": cfg})
    assert r.status_code == 200, r.text
    return r.json()


def test_compression_table_is_what_glyph_measure_prints(tmp_path: Path) -> None:
    c = client()
    shown = render(c, dpi=96, reflow=True)["report"]
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["measure", str(tmp_path / "t.txt"), "--set", "dpi=96", "--set", "reflow=true", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    for key in ("chars", "text_tokens", "pages", "costs", "config_hash", "missing_glyphs"):
        assert shown[key] == printed[key], key


def test_bad_config_values_are_400s_naming_the_key() -> None:
    c = client()
    doc = c.post("/api/documents", json={"text": TEXT}).json()
    base = reference_default().to_reference_dict()
    for changes, field, words in [
        ({"dpi": 5000}, "dpi", "less than or equal to 1200"),
        ({"font-size": -3}, "font-size", "greater than 0"),
        ({"font-color": "red"}, "font-color", "#RRGGBB"),
        ({"bogus-key": 1}, "bogus-key", "Extra inputs"),
        ({"dpi": 600}, "dpi", "MP a page"),  # valid config, but pages over the pixel limit
    ]:
        r = c.post("/api/render", json={"document": doc["id"], "config": {**base, **changes}})
        assert r.status_code == 400, (changes, r.text)
        err = r.json()["error"]
        assert err["field"] == field and words in err["message"], err
    assert c.post("/api/render", json={"document": doc["id"], "config": base}).status_code == 200  # still working


def test_uploads_decode_text_and_name_what_binary_files_are() -> None:
    c = client(max_upload_bytes=1000)
    ok = c.post("/api/upload?name=a.txt", content=codecs.BOM_UTF8 + "héllo".encode()).json()
    assert ok["text"] == "héllo" and ok["chars"] == 5
    assert c.post("/api/upload?name=b.txt", content=codecs.BOM_UTF16_LE + "中文".encode("utf-16-le")).json()["text"] == "中文"
    for body, words in [
        (b"%PDF-1.7\n...", "it is a PDF document"),
        (b"PK\x03\x04docx", "ZIP archive"),
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"abc\x00def", "NUL bytes"),
        (b"caf\xe9", "not UTF-8 text (byte 0xe9 at offset 3)"),
        (b"", "is empty"),
    ]:
        r = c.post("/api/upload?name=x.bin", content=body)
        assert r.status_code == 400 and words in r.json()["error"]["message"], (body, r.text)
    big = c.post("/api/upload?name=big.txt", content=b"a" * 1001)
    assert big.status_code == 413 and "1,000 bytes" in big.json()["error"]["message"]
    long = client(max_text_chars=10).post("/api/documents", json={"text": "x" * 11})
    assert long.status_code == 413 and "at most 10" in long.json()["error"]["message"]


def test_every_route_needs_the_token_and_refuses_other_origins_and_hosts() -> None:
    app = asgi_app(UISettings(token="s3cret"))
    anon = TestClient(app, base_url="http://localhost:7860")
    assert anon.get("/api/info").status_code == 401
    assert anon.get("/static/app.js").status_code == 401
    assert anon.get("/").status_code == 401 and "?token=" in anon.get("/").text
    assert anon.get("/?token=wrong").status_code == 401
    login = anon.get("/?token=s3cret", follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert anon.get("/api/info").status_code == 200  # the cookie came back with the redirect
    csrf = anon.post("/api/documents", json={"text": "x"}, headers={"Origin": "http://evil.example"})
    assert csrf.status_code == 403
    rebinding = TestClient(app, base_url="http://evil.example").get("/api/info", headers={"Authorization": "Bearer s3cret"})
    assert rebinding.status_code == 400  # a foreign Host header on loopback (DNS rebinding)


def test_read_back_marks_the_readers_errors_inline() -> None:
    c = client(reader="misreader")
    r = render(c, "Good food, cool moon.\nNo more.")
    res = c.post(f"/api/renders/{r['id']}/pages/1/read").json()
    segs = [tuple(s) for s in res["segments"]]
    oo = ("replace", "oo", "00")
    assert segs == [  # aligned by hand: the line break is the page's, kept for display
        ("insert", "", "* "), ("equal", "G", "G"), oo, ("equal", "d f", "d f"), oo, ("equal", "d, c", "d, c"), oo,
        ("equal", "l m", "l m"), oo, ("equal", "n.\nN", "n.\nN"), ("replace", "o", "0"), ("delete", " more.", ""),
    ]
    # 9 misread + 6 dropped + 2 inserted = 17 edits over 30 characters (whitespace normalised)
    assert res["chars"] == 30 and res["char_edits"] == 17
    assert res["char_accuracy"] == pytest.approx(1 - 17 / 30) and res["reader"] == "misreader"
    missing = c.post(f"/api/renders/{r['id']}/pages/9/read")
    assert missing.status_code == 404 and "has 1 pages" in missing.json()["error"]["message"]


def test_search_export_opens_with_its_front_and_best() -> None:
    c = client(studies=(str(SEARCH),))
    (source,) = c.get("/api/info").json()["studies"]
    study = c.get(f"/api/studies/{source['id']}").json()
    import csv

    rows = list(csv.DictReader((SEARCH / "trials.csv").open(encoding="utf-8")))
    front = {int(r["trial"]) for r in csv.DictReader((SEARCH / "pareto.csv").open(encoding="utf-8"))}
    assert len(study["trials"]) == len(rows)
    assert {t["trial"] for t in study["trials"] if t["pareto"]} == front
    assert all(t["config_exact"] for t in study["trials"])  # every config rebuilt to its recorded hash
    best = json.loads((SEARCH / "best_config.json").read_text())
    chosen = next(t for t in study["trials"] if t["trial"] == study["best"])
    for key in ("font-size", "horizontal-scale", "reflow", "auto-crop-width", "dpi"):
        assert chosen["config"][key] == best[key]


def test_optuna_storage_opens_the_same_study(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    shutil.copy(SEARCH / "study.db", db)  # never touch the committed file
    c = client(studies=(str(db),))
    (source,) = c.get("/api/info").json()["studies"]
    assert source["kind"] == "optuna" and "ocr-ruler-validated" in source["label"]
    study = c.get(f"/api/studies/{source['id']}").json()
    exported = client(studies=(str(SEARCH),))
    (folder,) = exported.get("/api/info").json()["studies"]
    same = exported.get(f"/api/studies/{folder['id']}").json()
    assert study["best"] == same["best"]
    assert {t["trial"] for t in study["trials"] if t["pareto"]} == {t["trial"] for t in same["trials"] if t["pareto"]}


def test_eval_runs_are_summarised_as_glyph_eval_report_does() -> None:
    c = client(runs=(RULER,))
    sources = c.get("/api/info").json()["runs"]
    dpi72 = next(s for s in sources if s["label"].endswith("dpi72"))
    (run,) = c.get(f"/api/runs/{dpi72['id']}").json()["runs"]
    committed = json.loads((RULER / "dpi72" / "summary.json").read_text())["runs"][0]
    assert run["accuracy"] == pytest.approx(committed["accuracy"])
    for task, buckets in committed["by_task_bucket"].items():
        assert run["by_task_bucket"][task] == pytest.approx(buckets), task
    assert run["ratio_by_bucket"] == pytest.approx(committed["ratio_by_bucket"])
    assert run["config"]["dpi"] == 72 and run["legibility_bound"]
    every = next(s for s in sources if "all" in s["label"])
    assert len(c.get(f"/api/runs/{every['id']}").json()["runs"]) == 5


def test_asking_without_models_says_how_to_configure_them() -> None:
    c = client()
    r = render(c)
    res = c.post("/api/ask", json={"render": r["id"], "question": "Who?"})
    assert res.status_code == 400 and "--page-url" in res.json()["error"]["message"]
    assert c.post("/api/ask", json={"render": r["id"], "question": "  "}).status_code == 400


def test_cli_refuses_an_open_playground_without_a_token_and_bad_model_flags() -> None:
    runner = CliRunner()
    exposed = runner.invoke(cli, ["ui", "--host", "0.0.0.0", "--no-token"])
    assert exposed.exit_code == 2 and "loopback only" in exposed.output
    both = runner.invoke(cli, ["ui", "--page-url", "http://x:1/v1", "--page-local", "ckpt"])
    assert both.exit_code == 2 and "either a URL" in both.output
    missing = runner.invoke(cli, ["ui", "--study", "/nonexistent/study"])
    assert missing.exit_code == 2 and "/nonexistent/study" in missing.output
