"""RULER's two QA tasks: a real question among distractor documents (SQuAD for qa_1, HotpotQA for qa_2).

The corpora come from the user: SQuAD 2.0 and HotpotQA (distractor setting) files in their
official JSON layouts (``dev-v2.0.json``, ``hotpot_dev_distractor_v1.json``, what RULER's
``download_qa_dataset.sh`` fetches) or, with ``hub``, the Hugging Face copies
(``rajpurkar/squad_v2``, ``hotpotqa/hotpot_qa`` ``distractor``; validation split).

Read as RULER's ``qa.py`` reads them: the documents are the distinct SQuAD paragraphs
(``title\\nsentences`` for HotpotQA), sorted; a question keeps its gold documents and, for
SQuAD, the other paragraphs of its article come first among the distractors (unanswerable
SQuAD questions are left out). The haystack is ``Document i:\\n<text>`` blocks separated by
blank lines, as in RULER; the wording around it is ours (prompts.yaml).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glyph.eval.records import hub_records

HUB = {"squad": ("rajpurkar/squad_v2", None), "hotpotqa": ("hotpotqa/hotpot_qa", "distractor")}


@dataclass(frozen=True)
class QaItem:
    query: str
    answers: tuple[str, ...]
    gold: tuple[int, ...]  # indices of the documents that hold the answer
    related: tuple[int, ...] = ()  # distractors to use first (same SQuAD article)


@dataclass(frozen=True, eq=False)  # identity hashing: corpora are large and never compared
class QaCorpus:
    """Documents and questions of one QA dataset, and where they came from."""

    dataset: str
    docs: tuple[str, ...]
    items: tuple[QaItem, ...]
    source: str

    def order(self, item: QaItem, rng: random.Random) -> list[int]:
        """Every document once: gold first, then the related ones, then the rest (each group shuffled).

        A haystack of n documents is the first n of this order, so it grows with n (the
        fitting search needs token counts that grow with the haystack).
        """
        related = [i for i in item.related if i not in item.gold]
        rng.shuffle(related)
        taken = set(item.gold) | set(related)
        rest = [i for i in range(len(self.docs)) if i not in taken]
        rng.shuffle(rest)
        return [*item.gold, *related, *rest]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no such QA data file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def squad_corpus(articles: Iterable[dict[str, Any]], source: str) -> QaCorpus:
    """SQuAD 2.0's layout: ``data[].paragraphs[].{context, qas[].{question, answers[].text, is_impossible}}``."""
    articles = list(articles)
    try:
        paragraphs = [p["context"] for a in articles for p in a["paragraphs"]]
    except (KeyError, TypeError):
        raise ValueError(f"{source}: not SQuAD's layout (data[].paragraphs[].context)") from None
    docs = sorted(set(paragraphs))
    index = {c: i for i, c in enumerate(docs)}
    items: list[QaItem] = []
    for a in articles:
        same_article = tuple(index[p["context"]] for p in a["paragraphs"])
        for p in a["paragraphs"]:
            for qa in p.get("qas", []):
                if qa.get("is_impossible") or not qa.get("answers"):
                    continue
                gold = index[p["context"]]
                items.append(
                    QaItem(
                        query=qa["question"],
                        answers=tuple(x["text"] for x in qa["answers"]),
                        gold=(gold,),
                        related=tuple(i for i in same_article if i != gold),
                    )
                )
    if not items:
        raise ValueError(f"{source} holds no answerable SQuAD question")
    return QaCorpus("squad", tuple(docs), tuple(items), source)


def hotpotqa_corpus(records: Iterable[dict[str, Any]], source: str) -> QaCorpus:
    """HotpotQA's layout: ``[{question, answer, context: [[title, [sentences]], ...]}]``."""
    records = list(records)
    try:
        texts = [[f"{t}\n{''.join(s)}" for t, s in r["context"]] for r in records]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{source}: not HotpotQA's layout (context: [[title, [sentences]]])") from None
    docs = sorted({d for group in texts for d in group})
    index = {d: i for i, d in enumerate(docs)}
    items = tuple(
        QaItem(query=r["question"], answers=(r["answer"],), gold=tuple(index[d] for d in group))
        for r, group in zip(records, texts)
    )
    if not items:
        raise ValueError(f"{source} holds no HotpotQA question")
    return QaCorpus("hotpotqa", tuple(docs), items, source)


def _hub_squad() -> QaCorpus:
    repo, name = HUB["squad"]
    articles: dict[str, dict[str, Any]] = {}
    for row in hub_records(repo, name, split="validation"):
        art = articles.setdefault(row["title"], {"paragraphs": {}})
        para = art["paragraphs"].setdefault(row["context"], {"context": row["context"], "qas": []})
        texts = list(row["answers"]["text"])
        para["qas"].append({"question": row["question"], "answers": [{"text": t} for t in texts],
                            "is_impossible": not texts})  # fmt: skip
    data = [{"paragraphs": list(a["paragraphs"].values())} for a in articles.values()]
    return squad_corpus(data, f"hub:{repo}")


def _hub_hotpotqa() -> QaCorpus:
    repo, name = HUB["hotpotqa"]
    records = [
        {"question": r["question"], "answer": r["answer"],
         "context": list(zip(r["context"]["title"], r["context"]["sentences"]))}
        for r in hub_records(repo, name, split="validation")
    ]  # fmt: skip
    return hotpotqa_corpus(records, f"hub:{repo}/{name}")


def load_qa_corpus(dataset: str, source: str | Path) -> QaCorpus:
    """The ``squad`` or ``hotpotqa`` corpus from its official JSON file, or ``"hub"``."""
    if dataset not in HUB:
        raise ValueError(f"unknown QA dataset {dataset!r}; RULER uses {', '.join(HUB)}")
    if str(source) == "hub":
        return _hub_squad() if dataset == "squad" else _hub_hotpotqa()
    path = Path(source)
    data = _load_json(path)
    if dataset == "squad":
        if not isinstance(data, dict) or "data" not in data:
            raise ValueError(f"{path}: SQuAD files hold {{'version': ..., 'data': [...]}}")
        return squad_corpus(data["data"], str(path))
    if not isinstance(data, list):
        raise ValueError(f"{path}: HotpotQA files hold a list of questions")  # noqa: TRY004
    return hotpotqa_corpus(data, str(path))


def qa_haystack(corpus: QaCorpus, item: QaItem, n_docs: int, seed: str) -> str:
    """``n_docs`` documents (gold ones included, repeated past the corpus size) as RULER lays them out."""
    order = corpus.order(item, random.Random(seed + ":order"))
    chosen = [order[i % len(order)] for i in range(max(n_docs, len(item.gold)))]
    random.Random(seed + ":place").shuffle(chosen)
    return "\n\n".join(f"Document {i + 1}:\n{corpus.docs[d]}" for i, d in enumerate(chosen))
