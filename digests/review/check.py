"""An edited digest, checked three ways before it is saved:

- `problems`: what the schema and the limits refuse (an empty headline, a point past its
  length, a citation of a sentence the post does not have); these block the save, each a
  sentence naming the line;
- `changes`: what the edit changed, a line each, for the revision's record;
- `opinion`: what the gate (digests/summarize/grounding.py's checks) thinks of each line the
  edit changed or added: unsupported, contradicted, a stock the post does not name, a date it
  does not give. A warning only: the author has the last word.
`finish` fills the gate's own keys (codes, sources) for the edited text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digests.summarize.claims import Evidence
from digests.summarize.document import Document
from digests.summarize.events import dated
from digests.summarize.grounding import LIMITS, split_names
from digests.summarize.schema import Claim, Digest
from digests.summarize.stocks import Stocks, finder


@dataclass
class PostText:
    """The post an edit is checked against: numbered sentences and the names it holds; made
    once per check (the dictionary's matcher is the dear part, and only `opinion` needs it)."""

    title: str
    doc: Document
    names: Any

    _evidence: Evidence | None = field(default=None, init=False, repr=False)
    _stocks: Stocks | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, title: str, markdown: str, names: Any) -> PostText:
        return cls(title, Document(title, markdown), names)

    @property
    def stocks(self) -> Stocks:
        if self._stocks is None:
            self._stocks = Stocks(self.doc, self.names)
        return self._stocks

    @property
    def evidence(self) -> Evidence:
        if self._evidence is None:
            self._evidence = Evidence(self.doc, finder(self.names, self.stocks))
        return self._evidence


def labelled(digest: Digest) -> list[tuple[str, Claim]]:
    """Every claim with the name of its place: 概述 2, 计算机 要点 1, 风险 3."""
    found = [(f"概述 {i}", c) for i, c in enumerate(digest.summary, 1)]
    for section in digest.sections:
        found += [(f"{section.name} 要点 {i}", c) for i, c in enumerate(section.points, 1)]
    return found + [(f"风险 {i}", c) for i, c in enumerate(digest.risks, 1)]


def problems(digest: Digest, post: PostText) -> list[str]:
    """What keeps the edit from being saved, a sentence each (empty: it may be saved)."""
    found: list[str] = []
    if not digest.headline.strip():
        found.append("核心观点不能为空。")
    elif len(digest.headline) > LIMITS.headline:
        found.append(f"核心观点超过 {LIMITS.headline} 字。")
    if len(digest.sections) > LIMITS.sections:
        found.append(f"板块最多 {LIMITS.sections} 个。")
    if len(digest.risks) > LIMITS.risks:
        found.append(f"风险最多 {LIMITS.risks} 条。")
    if len(digest.events) > LIMITS.events:
        found.append(f"事件最多 {LIMITS.events} 个。")
    for section in digest.sections:
        if not section.name.strip():
            found.append("板块名称不能为空。")
        elif len(section.name) > LIMITS.section_name:
            found.append(f"板块「{section.name}」的名称超过 {LIMITS.section_name} 字。")
        if len(section.points) > LIMITS.points:
            found.append(f"板块「{section.name}」的要点最多 {LIMITS.points} 条。")
        if len(section.stocks) > LIMITS.stocks:
            found.append(f"板块「{section.name}」的标的最多 {LIMITS.stocks} 个。")
        found += [
            f"标的「{s}」超过 {LIMITS.stock} 字。" for s in section.stocks if len(s) > LIMITS.stock
        ]
    for where, claim in labelled(digest):
        size = LIMITS.risk if where.startswith("风险") else LIMITS.point
        if not claim.text.strip():
            found.append(f"{where}：内容不能为空（要删除请勾选删除）。")
        elif len(claim.text) > size:
            found.append(f"{where}：超过 {size} 字（现 {len(claim.text)} 字）。")
        missing = [n for n in claim.cites if post.doc.sentence(n) is None]
        if missing:
            found.append(f"{where}：原文没有第 {missing[0]} 句（共 {len(post.doc)} 句）。")
    for event in digest.events:
        if not event.title.strip() or not event.when.strip():
            found.append(f"事件「{event.title or event.when}」的名称和时间都要填写。")
        elif len(event.title) > LIMITS.event_title or len(event.when) > LIMITS.event_when:
            found.append(f"事件「{event.title}」的名称或时间太长。")
    return found


def changes(old: Digest, new: Digest) -> list[str]:
    """What changed from `old` to `new`, a line each."""
    lines: list[str] = []
    if old.headline != new.headline:
        lines.append(f"核心观点：{new.headline}")
    before = {(c.text, tuple(c.cites)) for _, c in labelled(old)}
    after = {(c.text, tuple(c.cites)) for _, c in labelled(new)}
    lines += [f"删除：{text}" for text, _ in _ordered(labelled(old), before - after)]
    lines += [f"写入：{text}" for text, _ in _ordered(labelled(new), after - before)]
    was = {s: sec.name for sec in old.sections for s in sec.stocks}
    now = {s: sec.name for sec in new.sections for s in sec.stocks}
    lines += [f"删除标的：{s}" for s in was if s not in now]
    lines += [f"标的 {s}：{was[s]} → {now[s]}" for s in was if s in now and was[s] != now[s]]
    lines += [f"新增标的：{s}（{now[s]}）" for s in now if s not in was]
    old_names = [s.name for s in old.sections]
    new_names = [s.name for s in new.sections]
    lines += [f"删除板块：{n}" for n in old_names if n not in new_names]
    lines += [f"新增板块：{n}" for n in new_names if n not in old_names]
    old_events = [(e.title, e.when) for e in old.events]
    new_events = [(e.title, e.when) for e in new.events]
    lines += [f"删除事件：{t} {w}" for t, w in old_events if (t, w) not in new_events]
    lines += [f"事件：{t} {w}" for t, w in new_events if (t, w) not in old_events]
    return lines


def _ordered(
    claims: list[tuple[str, Claim]], keys: set[tuple[str, tuple[int, ...]]]
) -> list[tuple[str, tuple[int, ...]]]:
    seen = [(c.text, tuple(c.cites)) for _, c in claims]
    return list(dict.fromkeys(k for k in seen if k in keys))


def opinion(old: Digest, new: Digest, post: PostText) -> list[dict[str, str]]:
    """The gate's view of each line the edit changed or added: [{"where", "text", "why"}]."""
    warnings: list[dict[str, str]] = []
    before = {(c.text, tuple(c.cites)) for _, c in labelled(old)}
    for where, claim in labelled(new):
        if (claim.text, tuple(claim.cites)) in before or not claim.text.strip():
            continue
        sums_up = where.startswith("概述")
        verdict = post.evidence.check(claim.text, claim.cites, title=sums_up, spread=sums_up)
        if not verdict.holds:
            warnings.append({"where": where, "text": claim.text, "why": verdict.reason})
        elif not claim.cites:
            cited = "、".join(str(n) for n in verdict.cites)
            warnings.append(
                {"where": where, "text": claim.text, "why": f"cites nothing; the post's {cited}"}
            )
    known = {s for sec in old.sections for s in sec.stocks}
    for section in new.sections:
        for entry in section.stocks:
            if entry in known:
                continue
            for name in split_names(entry):
                if post.stocks.resolve(name) is None:
                    why = "not a stock the post names"
                    warnings.append({"where": f"{section.name} 标的", "text": name, "why": why})
    old_events = {(e.title, e.when) for e in old.events}
    for event in new.events:
        if (event.title, event.when) not in old_events and not dated(
            post.doc, event.title, event.when
        ):
            text = f"{event.title} {event.when}"
            why = "the post does not date it so"
            warnings.append({"where": "事件", "text": text, "why": why})
    return warnings


def finish(digest: Digest, post: PostText, old: Digest) -> Digest:
    """The edited digest with the gate's keys for its text: each stock's code (the post's
    stock, else the code it had), each cited sentence's text."""
    codes: dict[str, str] = {}
    for section in digest.sections:
        for name in section.stocks:
            found = post.stocks.resolve(name) if name not in old.codes else None
            code = found.code if found is not None else old.codes.get(name, "")
            if code:
                codes[name] = code
    cited = sorted({n for claim in digest.claims() for n in claim.cites})
    sources = {str(n): post.doc.sentences[n - 1].text for n in cited if post.doc.sentence(n)}
    return digest.model_copy(update={"codes": codes, "sources": sources})
