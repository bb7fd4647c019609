"""A digest as compact plain text an admin can copy, change and send back from a phone (the
Telegram 编辑 button), and that text read back. A line each, told apart by how it starts:

    #编辑 SLUG 第3版          the header: which post and which revision the edit starts from
    # 修改后……                 a line starting with # is a note, never read
    核心：一句话核心观点
    概述：一句概述 [3,4]       a claim ends with the post's sentences it cites (may be left off)
    【计算机】                 a section; the points and stocks below it are its own
    · 一条观点 [12]
    标的：中际旭创、新易盛
    风险：一条风险 [20]
    事件：美国CPI｜周五

A line the reader cannot place raises Malformed with its number, the line and the reason;
nothing is half-read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digests.errors import RejectedInput
from digests.summarize.schema import Claim, Digest, Event, Section

MARK = "#编辑"
TELEGRAM_UNITS = 4096  # one message (render.py's limit): the text is never sent cut
_HEADER = re.compile(r"#编辑\s+(\S+)\s+第(\d{1,6})版")
_CITES = re.compile(r"\s*\[(\d{1,5}(?:\s*[,，、]\s*\d{1,5})*)\]\s*$")
_POINT = ("·", "•", "-", "*")
_STOCK_SPLIT = re.compile(r"\s*[、,，;；]\s*")
_LABELS = {"核心": "headline", "概述": "summary", "标的": "stocks", "风险": "risk", "事件": "event"}
_LABEL = re.compile(r"(核心|概述|标的|风险|事件)\s*[：:]\s*(.*)")
HOW = "# 修改后整段回复这条消息发回；每行的开头不要改，句末 [数字] 是所引原文的句号。"
USAGE = "每行以 核心：、概述：、【板块】、· 、标的：、风险：、事件： 开头"


class Malformed(RejectedInput):
    """A line of an edited digest that cannot be read; nothing of the edit is used."""

    def __init__(self, number: int, line: str, reason: str) -> None:
        super().__init__(f"第 {number} 行「{line}」：{reason}" if number else reason)
        self.number, self.line, self.reason = number, line, reason


@dataclass(frozen=True)
class Header:
    """The post and the revision an edit was made on."""

    slug: str
    revision: int


def header(slug: str, revision: int) -> str:
    return f"{MARK} {slug} 第{revision}版"


def fits(text: str) -> bool:
    """The text goes in one Telegram message: a cut one, sent back, would lose lines."""
    return len(text.encode("utf-16-le")) // 2 <= TELEGRAM_UNITS


def read_header(text: str) -> Header | None:
    """The header of a text we sent (its first line), or None."""
    match = _HEADER.match(text.strip())
    return Header(match.group(1), int(match.group(2))) if match else None


def to_text(digest: Digest, *, slug: str, revision: int) -> str:
    """The digest as the lines above, under its header."""
    lines = [header(slug, revision), HOW, f"核心：{digest.headline}"]
    lines += [f"概述：{_claim(c)}" for c in digest.summary]
    for section in digest.sections:
        lines.append(f"【{section.name}】")
        lines += [f"· {_claim(c)}" for c in section.points]
        if section.stocks:
            lines.append(f"标的：{'、'.join(section.stocks)}")
    lines += [f"风险：{_claim(c)}" for c in digest.risks]
    lines += [f"事件：{e.title}｜{e.when}" for e in digest.events]
    return "\n".join(lines)


def _claim(claim: Claim) -> str:
    cites = f" [{','.join(str(n) for n in claim.cites)}]" if claim.cites else ""
    return f"{claim.text}{cites}"


def from_text(text: str) -> Digest:
    """The digest the lines say (the header and notes, if copied along, are skipped);
    Malformed at the first line that cannot be read."""
    headline: str | None = None
    summary: list[Claim] = []
    sections: list[Section] = []
    risks: list[Claim] = []
    events: list[Event] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):  # the header, a note
            continue
        if line.startswith("【"):
            if not line.endswith("】") or not line[1:-1].strip():
                raise Malformed(number, line, "板块行要写成【板块名】")
            sections.append(Section(name=line[1:-1].strip(), points=[], stocks=[]))
            continue
        if line.startswith(_POINT):
            if not sections:
                raise Malformed(number, line, "要点前面要有板块行【板块名】")
            sections[-1].points.append(_read_claim(number, line.lstrip("·•-* ").strip()))
            continue
        match = _LABEL.fullmatch(line)
        if match is None:
            raise Malformed(number, line, f"看不懂这一行：{USAGE}")
        label, body = _LABELS[match.group(1)], match.group(2).strip()
        if not body:
            raise Malformed(number, line, "冒号后面是空的；不要这一条就删掉整行")
        if label == "headline":
            if headline is not None:
                raise Malformed(number, line, "核心观点只能有一行")
            headline = body
        elif label == "summary":
            summary.append(_read_claim(number, body))
        elif label == "risk":
            risks.append(_read_claim(number, body))
        elif label == "stocks":
            if not sections:
                raise Malformed(number, line, "标的前面要有板块行【板块名】")
            sections[-1].stocks.extend(s for s in _STOCK_SPLIT.split(body) if s)
        else:
            title, bar, when = body.replace("|", "｜").partition("｜")
            if not bar or not title.strip() or not when.strip():
                raise Malformed(number, line, "事件要写成 事件：名称｜时间")
            events.append(Event(title=title.strip(), when=when.strip()))
    if headline is None:
        raise Malformed(0, "", "缺少「核心：」一行")
    return Digest(headline=headline, summary=summary, sections=sections, risks=risks, events=events)


def _read_claim(number: int, body: str) -> Claim:
    """A claim's text and the citation at its end."""
    match = _CITES.search(body)
    if match is None:
        if re.search(r"\[[^\]]*\]\s*$", body):
            raise Malformed(number, body, "句末的引用要写成 [12] 或 [12,13]")
        return Claim(text=body, cites=[])
    cites = [int(n) for n in re.split(r"\s*[,，、]\s*", match.group(1))]
    text = body[: match.start()].strip()
    if not text:
        raise Malformed(number, body, "只有引用，没有内容")
    return Claim(text=text, cites=cites)
