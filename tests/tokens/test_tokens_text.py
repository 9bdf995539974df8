"""Text token counting: exact Qwen ids, safe chunking, speed, and the other backends' errors."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glyph.tokens import TextTokenizer, TiktokenTokenizer, TokenizerUnavailableError, get_tokenizer
from glyph.tokens.text import load_qwen_tokenizer, qwen_vocab_path, split_for_encoding

pytest.importorskip("tiktoken")
try:
    qwen_vocab_path()
except TokenizerUnavailableError:  # pragma: no cover - only without dashscope
    pytest.skip("dashscope (ships qwen.tiktoken) is not installed", allow_module_level=True)

# Expected ids are those of the real Qwen tokenizer ("Qwen/Qwen-tokenizer", revision 5909c822),
# pasted from transformers' tests/models/qwen2/test_tokenization_qwen2.py
# (test_tokenizer_integration, padding removed). "hello world" -> [14990, 1879] is the widely
# quoted Qwen2 pair.
HF_SEQ_1 = (
    "Transformers (formerly known as pytorch-transformers and pytorch-pretrained-bert) provides "
    "general-purpose architectures (BERT, GPT-2, RoBERTa, XLM, DistilBert, XLNet...) for Natural "
    "Language Understanding (NLU) and Natural Language Generation (NLG) with over 32+ pretrained "
    "models in 100+ languages and deep interoperability between Jax, PyTorch and TensorFlow."
)
HF_IDS_1 = [
    8963, 388, 320, 69514, 3881, 438, 4510, 27414, 32852, 388, 323, 4510, 27414, 21334, 35722, 1455, 529, 8,
    5707, 4586, 58238, 77235, 320, 61437, 11, 479, 2828, 12, 17, 11, 11830, 61437, 64, 11, 1599, 10994, 11,
    27604, 321, 33, 529, 11, 29881, 6954, 32574, 369, 18448, 11434, 45451, 320, 45, 23236, 8, 323, 18448,
    11434, 23470, 320, 30042, 38, 8, 448, 916, 220, 18, 17, 10, 80669, 4119, 304, 220, 16, 15, 15, 10,
    15459, 323, 5538, 94130, 2897, 1948, 619, 706, 11, 5355, 51, 21584, 323, 94986, 13,
]  # fmt: skip
HF_SEQ_2 = (
    "🤗 Transformers 提供了可以轻松地下载并且训练先进的预训练模型的 API 和工具。"
    "使用预训练模型可以减少计算消耗和碳排放，并且节省从头训练所需要的时间和资源。"
)
HF_IDS_2 = [
    144834, 80532, 93685, 83744, 34187, 73670, 104261, 29490, 62189, 103937, 104034, 102830, 98841,
    104034, 104949, 9370, 5333, 58143, 102011, 1773, 37029, 98841, 104034, 104949, 73670, 101940, 100768,
    104997, 33108, 100912, 105054, 90395, 100136, 106831, 45181, 64355, 104034, 113521, 101975, 33108,
    85329, 1773,
]  # fmt: skip
HF_SEQ_3 = '```python\ntokenizer = AutoTokenizer.from_pretrained("Qwen/Qwen-tokenizer")\ntokenizer("世界，你好！")```'
HF_IDS_3 = [
    73594, 12669, 198, 85593, 284, 8979, 37434, 6387, 10442, 35722, 445, 48, 16948, 45274, 16948, 34841,
    3135, 1138, 85593, 445, 99489, 3837, 108386, 6313, 899, 73594,
]  # fmt: skip

KNOWN = [("hello world", [14990, 1879]), (HF_SEQ_1, HF_IDS_1), (HF_SEQ_2, HF_IDS_2), (HF_SEQ_3, HF_IDS_3)]


@pytest.fixture(scope="module")
def qwen() -> TiktokenTokenizer:
    tok = get_tokenizer("qwen")
    assert isinstance(tok, TiktokenTokenizer)
    return tok


@pytest.mark.parametrize(("text", "ids"), KNOWN, ids=["hello", "english", "chinese-emoji", "code"])
def test_qwen_ids_match_the_real_qwen_tokenizer(qwen: TiktokenTokenizer, text: str, ids: list[int]) -> None:
    assert qwen.encode(text) == ids
    assert qwen.count(text) == len(ids)
    assert qwen.decode(ids) == text


def test_qwen_is_a_text_tokenizer_and_cached(qwen: TiktokenTokenizer) -> None:
    assert isinstance(qwen, TextTokenizer)
    assert get_tokenizer("qwen") is qwen
    assert load_qwen_tokenizer().encode("hello world") == [14990, 1879]
    assert qwen.encoding.n_vocab == 151643 + 26


def test_qwen_applies_nfc_like_the_hf_tokenizer(qwen: TiktokenTokenizer) -> None:
    # U+03D2 U+0301 (NFD) is U+03D3 under NFC, which Qwen2's tokenizer normalises to.
    assert qwen.encode("\u03d2\u0301") == qwen.encode("\u03d3")


def test_special_token_text_counts_as_ordinary_text(qwen: TiktokenTokenizer) -> None:
    ids = qwen.encode("<|im_start|>user<|im_end|>")
    assert 151644 not in ids and 151645 not in ids
    assert len(ids) > 3
    # ...while the special ids themselves exist, right after the BPE ranks.
    assert qwen.decode([151643, 151644, 151645, 151652, 151655, 151653]) == (
        "<|endoftext|><|im_start|><|im_end|><|vision_start|><|image_pad|><|vision_end|>"
    )


# Characters that exercise every alternative of the Qwen regex around the cut points.
_ALPHABET = st.sampled_from(
    list("ab xyZ09'.,;!?-_()\n\n\n\r\t  ")
    + ["é", "ü", "\u0301", "中", "文", "🤗", "\u00a0", "\u3000", "\u200b", "\x1c", "²"]
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_ALPHABET, max_size=400), chunk=st.integers(min_value=1, max_value=40))
def test_chunked_encoding_equals_whole_encoding(text: str, chunk: int) -> None:
    tok = get_tokenizer("qwen")
    assert isinstance(tok, TiktokenTokenizer)
    pieces = split_for_encoding(text, chunk_chars=chunk)
    assert "".join(pieces) == text
    whole = tok.encoding.encode_ordinary(text)
    assert [i for p in pieces for i in tok.encoding.encode_ordinary(p)] == whole


def _long_text(n_chars: int) -> str:
    rng = random.Random(7)
    words = [
        "the",
        "of",
        "visual",
        "text",
        "compression",
        "renders",
        "long",
        "context",
        "into",
        "pages",
        "渲染",
        "长文本",
        "12",
        "3.5%",
        "(a)",
        "x=y;",
    ]
    lines = []
    size = 0
    while size < n_chars:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def test_one_million_tokens_chunked_count_equals_whole_encoding(qwen: TiktokenTokenizer) -> None:
    text = _long_text(4_000_000)
    n = qwen.count(text)
    assert n >= 1_000_000
    assert n == len(qwen.encoding.encode_ordinary(text))  # chunking changes nothing


def test_text_without_safe_cuts_stays_whole() -> None:
    assert split_for_encoding("1" * 100, chunk_chars=10) == ["1" * 100]
    with pytest.raises(ValueError, match="chunk_chars must be positive, got 0"):
        split_for_encoding("abc", chunk_chars=0)


@pytest.mark.parametrize("spec", ["", "  ", "gpt2", "hf:", "tiktoken:", "qwen:7b", None])
def test_bad_spec_names_the_value(spec: object) -> None:
    with pytest.raises(ValueError, match="tokenizer spec") as excinfo:
        get_tokenizer(spec)  # type: ignore[arg-type]
    assert repr(spec) in str(excinfo.value)


def test_unknown_tiktoken_encoding_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown tiktoken encoding 'nope'; known: .*cl100k_base"):
        get_tokenizer("tiktoken:nope")


def test_uncached_tiktoken_encoding_gives_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tiktoken.load

    def offline(blobpath: str) -> bytes:
        raise ConnectionError(f"no network for {blobpath}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", offline)
    with pytest.raises(TokenizerUnavailableError, match="'r50k_base' is not cached"):
        get_tokenizer("tiktoken:r50k_base")


def test_hf_backend_loads_a_local_tokenizer(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "glyph": 3}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path)

    tok = get_tokenizer(f"hf:{tmp_path}")
    assert isinstance(tok, TextTokenizer)
    assert tok.encode("hello glyph world zzz") == [1, 3, 2, 0]
    assert tok.count("hello glyph world zzz") == 4
    assert get_tokenizer(f"hf:{tmp_path}") is tok


def test_hf_backend_errors_are_clear(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    missing = tmp_path / "no-such-tokenizer"
    with pytest.raises(TokenizerUnavailableError, match="cannot load Hugging Face tokenizer"):
        get_tokenizer(f"hf:{missing}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(TokenizerUnavailableError, match="needs the 'transformers' package"):
        get_tokenizer(f"hf:{missing}/other")


def test_get_tokenizer_passes_a_tokenizer_through() -> None:
    from glyph.tokens import get_tokenizer

    qwen = get_tokenizer("qwen")
    assert get_tokenizer(qwen) is qwen
