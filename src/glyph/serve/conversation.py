"""Conversations and agent traces: recent turns stay text, older turns become pages that never change.

A chat client resends the whole history every turn. With a policy on (``--keep-recent`` on the
server, or ``"glyph": {"keep_recent": 4}`` in a request), the gateway keeps the last messages
as text and renders everything before them (user and assistant turns, tool calls and tool
outputs, a long system prompt) into pages, with each turn's role written in front of it as
Glyph's MRCR rendering does::

    User: write a poem about ...

    Assistant: ...

    Tool (call_1, search): ...

**Stable pages.** The rendered history is append-only at page granularity: each message is
appended to the text of the last, partial page of what came before and only that tail is laid
out again; every completed page is frozen, byte-identical from then on. So turn after turn the
history's pages come from the gateway's cache (one tail render per new message), and an
upstream with prefix caching (vLLM's automatic prefix caching hashes images into its block keys)
reuses their image tokens. The chain is a function of the messages alone, so any worker, after a
cache eviction or a restart, rebuilds exactly the same pages (one tail render per message).

**Segments.** The history is cut, at message boundaries, into segments of about
``segment_pages`` pages (estimated from the characters, so the cut does not depend on
rendering); a message carrying images ends its segment and its images follow the segment's pages,
in order. Each segment is its own page chain, so it can be rendered at another density alone.

**The boundary moves in steps.** With ``keep_recent=4, step=4`` the text part holds 4 to 7
messages and the history grows by 4 messages at a time: between steps every request is the
previous prompt plus the new messages, all of it an unchanged prefix.

**Progressive resolution and a token budget.** The operator sets a floor (``floor_dpi``):
densities run from the base config down to it (dpi x 0.8 per level). ``progressive`` renders
older segments denser (``progressive_age`` segments per level, the newest at the base config).
A ``budget`` (prompt tokens, estimated) makes the gateway choose: first more history as pages
(the last user message always stays text), then the oldest segments denser, down to the floor;
if even that does not fit, a 413 says the smallest budget this request could meet.

Recent tool outputs longer than the threshold stay tool messages (templates want text there) with
a one-line pointer, and their pages follow in one user message after the run of tool results: the
usual way to give a model an image a tool returned.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from glyph.render.config import RenderConfig
from glyph.render.estimate import page_floor
from glyph.render.raster import render_pages
from glyph.serve.errors import GatewayError

__all__ = ["ConversationOptions", "ConversationPolicy", "HistoryPlanner", "format_message"]

ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System", "developer": "System",
               "tool": "Tool", "function": "Function"}  # fmt: skip
SEPARATOR = "\n\n"  # between rendered messages, as glyph.eval's MRCR transcripts
HISTORY_NOTE = "Earlier conversation, rendered as pages:"
TOOL_POINTER = "[output rendered as {pages} page(s) in the next user message]"
DPI_STEP = 0.8  # each density level renders at this fraction of the previous dpi


class ConversationPolicy(BaseModel):
    """The server's conversation policy (CLI flags); a request's ``glyph`` object may override it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep_recent: int | None = Field(None, ge=0, description="trailing messages kept as text; None: off")
    keep_recent_tokens: int | None = Field(None, ge=0, description="or: trailing messages within N text tokens")
    step: int = Field(4, ge=1, description="the history grows by this many messages at a time")
    segment_pages: int = Field(8, ge=1, le=64, description="pages per history segment (estimated)")
    render_system: bool = Field(True, description="render a system prompt over the threshold")
    render_tool_outputs: bool = Field(True, description="recent tool outputs over the threshold become pages")
    progressive: bool = Field(False, description="older segments denser, down to floor_dpi")
    progressive_age: int = Field(2, ge=1, description="segments per density level when progressive")
    floor_dpi: int | None = Field(None, ge=10, le=1200, description="densest dpi progressive/budget may use")

    @property
    def on(self) -> bool:
        return self.keep_recent is not None or self.keep_recent_tokens is not None


class ConversationOptions(BaseModel):
    """What a request may set under ``"glyph"`` (all optional; absent fields follow the server)."""

    model_config = ConfigDict(extra="forbid")

    keep_recent: int | None = Field(None, ge=0, le=10_000)
    keep_recent_tokens: int | None = Field(None, ge=0)
    step: int | None = Field(None, ge=1, le=10_000)
    progressive: bool | None = None
    budget: int | None = Field(None, ge=1, description="prompt tokens (estimated) the request must fit in")

    def merged(self, policy: ConversationPolicy) -> ConversationPolicy:
        changes = {k: v for k, v in self.model_dump(exclude={"budget"}).items() if v is not None}
        if "keep_recent" in changes and "keep_recent_tokens" not in changes:
            changes["keep_recent_tokens"] = None
        if self.budget is not None and not (policy.on or changes.get("keep_recent") is not None):
            changes.setdefault("keep_recent", policy.step)  # a budget alone turns the policy on
        return policy.model_copy(update=changes)


# ------------------------------------------------------------------------------------ text
def content_text(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """A message's text (text parts joined by newlines) and its other parts (images), in order."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    others: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            others.append(part)
            texts.append(f"[image {len(others)}]")
    return "\n".join(texts), others


def format_message(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """``"Role: content"`` as the page shows it (tool calls and tool results marked), plus its images."""
    role = str(message.get("role", "user"))
    text, images = content_text(message.get("content"))
    label = ROLE_LABELS.get(role, role.title() or "Message")
    if role in ("tool", "function"):
        who = ", ".join(str(v) for v in (message.get("tool_call_id"), message.get("name")) if v)
        label = f"{label} ({who})" if who else label
    lines = [f"{label}: {text}".rstrip()] if text or not message.get("tool_calls") else []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {} if isinstance(call, dict) else {}
        name, args = fn.get("name", "?"), fn.get("arguments", "")
        lines.append(f"{label} called {name}({args})" + (f" [{call.get('id')}]" if call.get("id") else ""))
    return "\n".join(lines), images


# ------------------------------------------------------------------------------------ chains
def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class ChainState:
    """After some messages: the keys of the frozen pages, and the text of the open (last) page."""

    frozen: tuple[str, ...]
    tail: str

    @property
    def nbytes(self) -> int:
        return sys.getsizeof(self.tail) + 80 * len(self.frozen) + 64


@dataclass
class ChainPage:
    """One page of a chain, in the backend's form (a data URL or an image), cached by key.

    ``lines``: the page's line boxes, kept only by chains built with ``keep_lines`` (a
    legibility check reads them with the offline OCR; the gateway does not need them).
    """

    payload: Any
    size: tuple[int, int]
    nbytes: int
    lines: tuple[Any, ...] = ()


@dataclass
class ChainStats:
    steps: int = 0  # messages appended (tail renders) for this request
    pages_rendered: int = 0


class PageChains:
    """Append-only rendering of message sequences, page by page, through a bytes-bounded cache.

    ``cache`` is the gateway's page cache (``get``/``put`` of objects with ``nbytes``); states,
    frozen pages and open pages all live in it, so its budget bounds them together.
    """

    def __init__(
        self,
        cache: Any,
        payload: Callable[[Any], Any],
        kind: str,
        key_of: Callable[[RenderConfig], str],
        keep_lines: bool = False,
    ) -> None:
        self.cache = cache
        self.payload = payload
        self.kind = kind
        self.key_of = key_of
        self.keep_lines = keep_lines

    def keys(self, texts: Sequence[str], cfg: RenderConfig) -> list[str]:
        """State keys: of the empty chain, then after each message (a hash chain: prefixes share keys)."""
        keys = [_digest("glyph-chain", self.key_of(cfg), self.kind)]
        for text in texts:
            keys.append(_digest(keys[-1], hashlib.sha256(text.encode("utf-8")).hexdigest()))
        return keys

    def pages(
        self, texts: Sequence[str], cfg: RenderConfig, page_limit: int, stats: ChainStats
    ) -> list[ChainPage]:
        """The chain's pages after ``texts``: frozen pages, then the open page; at most ``page_limit``."""
        keys = self.keys(texts, cfg)
        start, state, frozen = len(texts), None, None
        while start > 0:  # the longest prefix whose state and pages are all still cached
            state = self.cache.get(("chain-state", keys[start], self.kind))
            if state is not None:
                frozen = [self.cache.get(("chain-page", k, self.kind)) for k in state.frozen]
                if all(p is not None for p in frozen) and (
                    start < len(texts) or self.cache.get(("chain-open", keys[start], self.kind)) is not None
                ):
                    break
            start -= 1
            state, frozen = None, None
        if state is None:
            state, frozen = ChainState((), ""), []
        assert frozen is not None
        open_page: ChainPage | None = None
        if start == len(texts) and start > 0:
            open_page = self.cache.get(("chain-open", keys[start], self.kind))
        for i in range(start, len(texts)):
            state, new_frozen, open_page = self._step(state, texts[i], cfg, keys[i + 1], page_limit - len(frozen), stats)
            frozen.extend(new_frozen)
        return [*frozen, *([open_page] if open_page is not None else [])]

    def _step(
        self, state: ChainState, text: str, cfg: RenderConfig, key: str, room: int, stats: ChainStats
    ) -> tuple[ChainState, list[ChainPage], ChainPage]:
        """Append one message: lay out the open page's text plus it; freeze all but the new last page."""
        tail_text = state.tail + SEPARATOR + text if state.tail else text
        rendered: list[tuple[Any, int]] = []  # (page, start offset)
        for page in render_pages(tail_text, cfg):
            if len(rendered) >= room:
                raise _too_many_pages(room)
            rendered.append((self._page(page), page.start))
        stats.steps += 1
        stats.pages_rendered += len(rendered)
        new_keys: list[str] = []
        frozen: list[ChainPage] = []
        for idx, (page, _) in enumerate(rendered[:-1]):
            page_key = _digest(key, str(idx))
            self.cache.put(("chain-page", page_key, self.kind), page)
            new_keys.append(page_key)
            frozen.append(page)
        last, last_start = rendered[-1]
        new_state = ChainState((*state.frozen, *new_keys), tail_text[last_start:])
        self.cache.put(("chain-state", key, self.kind), new_state)
        self.cache.put(("chain-open", key, self.kind), last)
        return new_state, frozen, last

    def _page(self, page: Any) -> ChainPage:
        image = page.image
        payload = self.payload(image)
        nbytes = len(payload) if isinstance(payload, str) else image.width * image.height * 3
        return ChainPage(payload, image.size, nbytes, page.lines if self.keep_lines else ())


def _too_many_pages(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the rendered history needs more than {limit} pages; lower keep_recent, set a budget, "
        "or raise --max-pages",
        code="too_many_pages",
    )


# ------------------------------------------------------------------------------------ planning
@dataclass
class Segment:
    """Messages ``[start, end)`` of the history rendered as one chain, and the images that follow it."""

    start: int
    end: int
    texts: list[str]
    images: list[dict[str, Any]]
    level: int = 0
    pages: list[ChainPage] = field(default_factory=list)


@dataclass
class HistoryPlan:
    """The messages with their history rendered, and what it took."""

    messages: list[dict[str, Any]]
    history_messages: int = 0
    segments: list[Segment] = field(default_factory=list)
    tool_pages: list[list[ChainPage]] = field(default_factory=list)
    chain: ChainStats = field(default_factory=ChainStats)

    def summary(self, budget: int | None, estimate: int | None, dpis: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "history_messages": self.history_messages,
            "history_pages": sum(len(s.pages) for s in self.segments),
            "segments": [{"messages": s.end - s.start, "pages": len(s.pages), "dpi": dpis[s.level]} for s in self.segments],
            "tool_output_pages": sum(len(p) for p in self.tool_pages),
        }
        if budget is not None:
            out["budget"] = budget
            out["estimated_prompt_tokens"] = estimate
        return out


class HistoryPlanner:
    """Applies a :class:`ConversationPolicy` to a request's messages (see the module docstring)."""

    def __init__(
        self,
        chains: PageChains,
        count: Callable[[str], int],
        page_tokens: Callable[[tuple[int, int]], int],
        part: Callable[[Any], dict[str, Any]],
        threshold: int,
        lines: Callable[[str, RenderConfig], int] | None = None,
    ) -> None:
        self.chains = chains
        self.count = count
        self.lines = lines or (lambda text, cfg: page_floor(text, cfg).lines)
        self.page_tokens = page_tokens
        self.part = part
        self.threshold = threshold

    # -- densities ------------------------------------------------------------------------
    @staticmethod
    def ladder(cfg: RenderConfig, policy: ConversationPolicy) -> list[RenderConfig]:
        """The base config, then dpi x 0.8 per level down to the floor (just the base without one)."""
        if policy.floor_dpi is None or policy.floor_dpi >= cfg.dpi:
            return [cfg]
        out = [cfg]
        dpi = float(cfg.dpi)
        while out[-1].dpi > policy.floor_dpi:
            dpi *= DPI_STEP
            out.append(cfg.with_updates(dpi=max(policy.floor_dpi, int(round(dpi)))))
        return out

    # -- the plan -------------------------------------------------------------------------
    def boundary(self, messages: list[dict[str, Any]], first: int, policy: ConversationPolicy) -> int:
        """Index of the first message kept as text: the history is ``messages[first:boundary]``."""
        n = len(messages)
        keep = n - first
        if policy.keep_recent is not None:
            keep = min(keep, policy.keep_recent)
        if policy.keep_recent_tokens is not None:
            total, fit = 0, 0
            for m in reversed(messages[first:]):
                total += self.count(content_text(m.get("content"))[0])
                if total > policy.keep_recent_tokens:
                    break
                fit += 1
            keep = min(keep, fit)
        keep = max(keep, 1 if n > first and messages[-1].get("role") == "user" else 0)
        movable = n - first - keep
        moved = (movable // policy.step) * policy.step  # the boundary moves in whole steps
        return first + max(0, moved)

    def plan(
        self,
        messages: list[dict[str, Any]],
        cfg: RenderConfig,
        policy: ConversationPolicy,
        budget: int | None,
        page_limit: int,
        estimate_rest: Callable[[list[dict[str, Any]]], int],
    ) -> tuple[HistoryPlan, int | None]:
        """Render the history the policy (and the budget, if any) asks for.

        ``estimate_rest(messages)`` is the caller's prompt estimate of the non-history messages
        (text tokens, images); with a budget the plan is tightened until the total fits.
        """
        ladder = self.ladder(cfg, policy)
        first = 1 if messages and messages[0].get("role") in ("system", "developer") else 0
        system_block = first == 1 and policy.render_system and self._long(messages[0])
        if system_block:
            first = 0
        boundary = self.boundary(messages, 1 if system_block else first, policy)
        if system_block:
            boundary = max(boundary, 1)
        if budget is None and boundary > first:  # as for documents: pages only for a history worth it
            tokens = sum(self.count(format_message(m)[0]) for m in messages[first:boundary])
            if tokens < self.threshold:
                boundary = first
        plan = self._render(messages, first, boundary, cfg, ladder, policy, None, page_limit)
        if budget is None:
            return plan, None
        estimate = self._estimate(plan, estimate_rest)
        # 1) more of the conversation as pages, a step at a time (the last user message stays text)
        floor_boundary = self.boundary(messages, first, policy.model_copy(update={"keep_recent": 0,
                                       "keep_recent_tokens": None, "step": 1}))  # fmt: skip
        while estimate > budget and boundary < floor_boundary:
            boundary = min(floor_boundary, boundary + policy.step)
            plan = self._render(messages, first, boundary, cfg, ladder, policy, None, page_limit)
            estimate = self._estimate(plan, estimate_rest)
        # 2) the oldest segments denser, one level at a time, down to the floor
        levels = [s.level for s in plan.segments]
        i = 0
        while estimate > budget and i < len(levels):
            if levels[i] >= len(ladder) - 1:
                i += 1
                continue
            levels[i] += 1
            plan = self._render(messages, first, boundary, cfg, ladder, policy, levels, page_limit)
            estimate = self._estimate(plan, estimate_rest)
        if estimate > budget:
            raise GatewayError(
                413,
                f"this request needs about {estimate:,} prompt tokens even with all but its last user "
                f"message as pages at the floor density; the smallest budget it can meet is {estimate:,} "
                f"(asked: {budget:,})",
                code="budget_too_small",
            )
        return plan, estimate

    def _long(self, message: dict[str, Any]) -> bool:
        text = content_text(message.get("content"))[0]
        return len(text.encode("utf-8")) >= self.threshold and self.count(text) >= self.threshold

    def _estimate(self, plan: HistoryPlan, estimate_rest: Callable[[list[dict[str, Any]]], int]) -> int:
        visual = sum(self.page_tokens(p.size) for s in plan.segments for p in s.pages)
        visual += sum(self.page_tokens(p.size) for pages in plan.tool_pages for p in pages)
        return visual + estimate_rest(plan.messages)

    def segments(self, messages: list[dict[str, Any]], start: int, end: int, cfg: RenderConfig,
                 policy: ConversationPolicy) -> list[Segment]:  # fmt: skip
        """Cut ``messages[start:end]`` into segments of about ``segment_pages`` pages (an estimate)."""
        per_page = max(1, int(math.floor((cfg.frame_height + 1e-6) / cfg.leading)))
        out: list[Segment] = []
        cur = Segment(start, start, [], [])
        lines = 0
        for i in range(start, end):
            text, images = format_message(messages[i])
            cur.texts.append(text)
            cur.end = i + 1
            lines += self.lines(text, cfg) if text else 0
            cur.images.extend(images)
            system_alone = i == 0 and messages[0].get("role") in ("system", "developer")
            if images or system_alone or lines >= policy.segment_pages * per_page:
                out.append(cur)
                cur, lines = Segment(i + 1, i + 1, [], []), 0
        if cur.texts:
            out.append(cur)
        return out

    def _render(
        self,
        messages: list[dict[str, Any]],
        first: int,
        boundary: int,
        cfg: RenderConfig,
        ladder: list[RenderConfig],
        policy: ConversationPolicy,
        levels: list[int] | None,
        page_limit: int,
    ) -> HistoryPlan:
        plan = HistoryPlan(messages=[])
        segments = self.segments(messages, first, boundary, cfg, policy) if boundary > first else []
        for k, seg in enumerate(segments):
            if levels is not None and k < len(levels):
                seg.level = levels[k]
            elif policy.progressive:
                age = len(segments) - 1 - k
                seg.level = min(len(ladder) - 1, age // policy.progressive_age)
            room = page_limit - sum(len(s.pages) + len(s.images) for s in segments[:k])
            seg.pages = self.chains.pages(seg.texts, ladder[seg.level], room, plan.chain)
        plan.segments = segments
        plan.history_messages = boundary - first
        head = messages[:first]
        history: list[dict[str, Any]] = [{"type": "text", "text": HISTORY_NOTE}] if segments else []
        for seg in segments:
            history.extend(self.part(p.payload) for p in seg.pages)
            history.extend(seg.images)
        recent = self._tool_outputs(messages[boundary:], cfg, policy, page_limit, plan)
        if history:
            if recent and recent[0].get("role") == "user":  # one user turn: pages, then its own content
                own = recent[0].get("content")
                own_parts = [{"type": "text", "text": own}] if isinstance(own, str) else list(own or [])
                recent = [{**recent[0], "content": history + own_parts}, *recent[1:]]
            else:
                recent = [{"role": "user", "content": history}, *recent]
        plan.messages = [*head, *recent]
        return plan

    def _tool_outputs(
        self,
        recent: list[dict[str, Any]],
        cfg: RenderConfig,
        policy: ConversationPolicy,
        page_limit: int,
        plan: HistoryPlan,
    ) -> list[dict[str, Any]]:
        """Long tool results keep their message (a pointer) and their pages follow in a user message."""
        out: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for i, message in enumerate(recent):
            role = message.get("role")
            if role == "tool" and policy.render_tool_outputs and self._long(message):
                text, _ = content_text(message.get("content"))
                who = message.get("tool_call_id") or message.get("name") or "tool"
                pages = self.chains.pages([f"Tool ({who}): {text}"], cfg, page_limit, plan.chain)
                plan.tool_pages.append(pages)
                out.append({**message, "content": TOOL_POINTER.format(pages=len(pages))})
                pending.append({"type": "text", "text": f"Output of tool call {who}:"})
                pending.extend(self.part(p.payload) for p in pages)
            else:
                out.append(message)
            run_ends = i + 1 == len(recent) or recent[i + 1].get("role") != "tool"
            if pending and run_ends:
                out.append({"role": "user", "content": pending})
                pending = []
        return out
