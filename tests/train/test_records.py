"""Records and shards: validation that names the bad record, round trips, `datasets`/TRL compatibility."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from glyph.train.records import Record, RecordError, record_from_row
from glyph.train.shards import HF_FEATURES, RECORD_SCHEMA, iter_shard, list_shards, write_shard


def _png(color: str = "white", size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def ocr_record(rid: str = "r1", n_images: int = 1) -> Record:
    return Record(
        id=rid,
        task="ocr",
        images=[_png(size=(40 + k, 30)) for k in range(n_images)],
        messages=[
            {
                "role": "user",
                "content": [{"type": "image"}] * n_images + [{"type": "text", "text": "Read it."}],
            },
            {"role": "assistant", "content": "Hello world"},
        ],
        meta={"source": "doc1", "span": [0, 11]},
    )


def test_pil_images_are_stored_as_png_and_sizes_come_from_headers() -> None:
    img = Image.new("RGB", (37, 21), "black")
    r = Record(id="x", images=[img], messages=[
        {"role": "user", "content": [{"type": "image"}]},
        {"role": "assistant", "content": "ok"}])  # fmt: skip
    assert r.images[0].startswith(b"\x89PNG") and r.image_sizes() == [(37, 21)]
    assert r.pil_images()[0].getpixel((3, 3)) == (0, 0, 0)
    assert r.targets == ["ok"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"images": []}, "1 image part(s) in the messages but 0 image(s)"),
        ({"images": [b"GIF89a...."]}, "images[0] is not a PNG"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]}]}, "no target"),
        ({"messages": [{"role": "critic", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]},
                       {"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "t"}]}],
          "images": [_png(), _png()]}, "images in an assistant turn need template 'none'"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0"),
    ],
)  # fmt: skip
def test_bad_records_raise_errors_naming_the_record_and_the_field(change: dict, fragment: str) -> None:
    row = ocr_record("bad-7").to_row() | change
    with pytest.raises(RecordError) as err:
        record_from_row(row, where="s.parquet row 3")
    assert "record 'bad-7' (s.parquet row 3)" in str(err.value) and fragment in str(err.value)
    assert err.value.record_id == "bad-7"


def test_shard_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    records = [ocr_record(f"r{i}", n_images=i % 3 + 1) for i in range(4)]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert write_shard(a, records) == 4 and write_shard(b, records) == 4
    assert a.read_bytes() == b.read_bytes()  # same records, same bytes
    assert [r for r in iter_shard(a)] == records
    pf = pq.ParquetFile(a)
    assert pf.metadata.num_row_groups == 4  # one record per row group: random access
    assert not list(tmp_path.glob("*.tmp"))


def test_shards_load_in_datasets_as_pil_images_and_trl_messages(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "task": datasets.Value("string"),
            "theme": datasets.Value("string"),
            "template": datasets.Value("string"),
            "images": datasets.List(datasets.Image()),
            "messages": datasets.List(
                {
                    "role": datasets.Value("string"),
                    "content": datasets.List(
                        {"type": datasets.Value("string"), "text": datasets.Value("string")}
                    ),
                }
            ),
            "meta": datasets.Value("string"),
        }
    )
    assert features.to_dict() == HF_FEATURES
    assert features.arrow_schema.remove_metadata() == RECORD_SCHEMA.remove_metadata()
    write_shard(tmp_path / "s.parquet", [ocr_record("a", 2)])
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "s.parquet"), split="train")
    row = ds[0]
    assert [im.size for im in row["images"]] == [(40, 30), (41, 30)]
    assert row["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "Hello world"}]}
    # a decoded `datasets` row converts back: same messages and pixels (PNG bytes are re-encoded)
    back, original = record_from_row(row), ocr_record("a", 2)
    assert back.messages == original.messages and back.meta == original.meta
    assert [im.tobytes() for im in back.pil_images()] == [im.tobytes() for im in original.pil_images()]


def test_a_corrupt_record_is_named_and_the_rest_of_the_shard_is_kept(tmp_path: Path) -> None:
    good = [ocr_record(f"g{i}") for i in range(3)]
    rows = [r.to_row() for r in good]
    rows.insert(1, ocr_record("not-png").to_row() | {"images": [{"bytes": b"\x00garbage", "path": None}]})
    truncated = _png(size=(300, 200))[:60]  # a PNG header whose data is cut off
    rows.insert(3, ocr_record("truncated").to_row() | {"images": [{"bytes": truncated, "path": None}]})
    rows.append({**ocr_record("no-json").to_row(), "meta": "{not json"})
    path = tmp_path / "mixed.parquet"
    with pq.ParquetWriter(path, RECORD_SCHEMA) as w:
        for row in rows:
            w.write_table(pa.Table.from_pylist([row], schema=RECORD_SCHEMA))
    out = list(iter_shard(path, check_images=True))
    kept = [r.id for r in out if isinstance(r, Record)]
    errors = {e.record_id: str(e) for e in out if isinstance(e, RecordError)}
    assert kept == ["g0", "g1", "g2"]
    assert set(errors) == {"not-png", "truncated", "no-json"}
    assert "mixed.parquet row 1" in errors["not-png"] and "not a PNG" in errors["not-png"]
    assert "mixed.parquet row 3" in errors["truncated"] and "corrupt" in errors["truncated"]
    assert "meta is not valid JSON" in errors["no-json"]


def test_an_unreadable_shard_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    write_shard(path, [ocr_record("a")])
    path.write_bytes(path.read_bytes()[:100])
    (err,) = list(iter_shard(path))
    assert isinstance(err, RecordError) and "broken.parquet" in str(err) and "unreadable shard" in str(err)
    with pytest.raises(FileNotFoundError, match="no shard file or directory"):
        list_shards(tmp_path / "missing")


text_parts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    user=st.lists(st.one_of(text_parts, st.just(None)), max_size=5),
    answer=text_parts,
    template=st.sampled_from(["chat", "none"]),
)
def test_any_record_survives_the_arrow_row_format(user: list[str | None], answer: str, template: str) -> None:
    content = [{"type": "image"} if t is None else {"type": "text", "text": t} for t in user]
    record = Record(
        id="h",
        template=template,
        images=[_png()] * sum(t is None for t in user),
        messages=[{"role": "user", "content": content}, {"role": "assistant", "content": answer}],
    )
    table = pa.Table.from_pylist([record.to_row()], schema=RECORD_SCHEMA)
    assert record_from_row(table.to_pylist()[0]) == record
