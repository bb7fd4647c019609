"""The offline digest: built from the post's own structure, no model involved.

Sections come from headings and from labelled list items ("1. **通信：** …"), points from their
sub-items, stocks from the lists that follow 标的/关注/首推/龙头… or a colon, risks from
sentences about 风险, events from a macro keyword next to a date expression. Everything is
copied from the post, so it is grounded by construction.
"""

from __future__ import annotations

import re

from digests.summarize.evidence import TRIGGERS, without_patron
from digests.summarize.schema import Digest, Event, Section

POINT_CHARS = 60
RISKS = 6
# a short sentence that ends on 风险 announces the risks rather than stating one
_LEAD_IN = re.compile(r"^.{0,16}风险(?:如下|有这些|有几个|有)?[。：:！!]?$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")
_LABEL = re.compile(r"^\*\*(.{1,12}?)[：:]?\*\*[：:]?\s*(.*)$|^([^：:，,。]{1,8})[：:]\s*(.*)$")
# a paragraph that opens with a bold label ("**价格：** …") is a section in broker notes
_PARAGRAPH_LABEL = re.compile(
    r"^\*\*([^*：:]{1,14})[：:]\*\*\s*(.+)$|^\*\*([^*：:]{1,14})\*\*[：:]\s*(.+)$"
)
# a paragraph that is only a labelled list ("OCS代表：源杰科技、仕佳光子、腾景科技") names a
# section of its own, even in a post without headings
_LIST_LINE = re.compile(r"^([^：:，,。！？*]{1,10}?)[：:]\s*([^。！？!?]+)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MARKUP = re.compile(r"\*\*|__|`|~~|<[^>]+>")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_PAREN = re.compile(r"（[^）]*）|\([^)]*\)")
_TRIGGERS = "|".join(TRIGGERS)
_TRIGGER = re.compile(rf"(?:{_TRIGGERS})[^，。；：:]{{0,10}}?[：:]?")
_SPLIT = re.compile(r"[，,、；;：:和及与/\s]+")
_NOT_A_NAME = re.compile(
    r"[的是了我你他这那要会都也就把被很更最]|算力|方向|板块|行业|领域|趋势|ETF|概念|公司"
)
_WHEN = (
    r"(?:下下?周|本周|这周|周)[一二三四五六日天]|今晚|今天|明天|后天|节后|节前|"
    r"\d{1,2}月(?:\d{1,2}[日号]|上旬|中旬|下旬|底|初)"
)
_WHAT = (
    r"(?:美国)?(?:非农|CPI|PCE|PPI|GDP|FOMC|议息会议|美联储议息|财报|季报|年报|休市|放假|两会|降息)"
)
_EVENT = re.compile(rf"({_WHAT})[^。！？\n]{{0,8}}?({_WHEN})|({_WHEN})[^。！？\n]{{0,6}}?({_WHAT})")


def extractive_digest(title: str, markdown: str) -> Digest:
    """A digest assembled from the post's own lines."""
    raw_lines = markdown.splitlines()
    sections, risks = _sections(raw_lines, title)
    lines = [_clean(line) for line in raw_lines if not _RULE.match(line)]
    prose = [line for line in lines if line and not _HEADING.match(line) and not _ITEM.match(line)]
    sentences = [s.strip() for line in prose for s in _SENTENCE.findall(line) if s.strip()]
    text = "\n".join(lines)
    risks += [r for r in _risk_sentences(sentences) if r not in risks]
    if not sections and sentences:  # an unstructured post: its opening sentences as points
        sections = [Section(name="要点", points=[_clip(s) for s in sentences[1:5]], stocks=[])]
    return Digest(
        headline=_clip(sentences[0]) if sentences else title,
        summary=_clip("".join(sentences[1:3]), 120),
        sections=sections[:6],
        risks=risks[:RISKS],
        events=_events(text),
    )


def _risk_sentences(sentences: list[str]) -> list[str]:
    """Sentences about 风险; a lead-in that only announces them ("最后提一嘴本周的风险。") is
    followed: the sentences after it are the risks."""
    risks: list[str] = []
    for index, sentence in enumerate(sentences):
        if _LEAD_IN.search(sentence):
            risks += [_clip(s) for s in sentences[index + 1 : index + 1 + RISKS]]
        elif "风险" in sentence:
            risks.append(_clip(sentence))
    return risks


def listed_stocks(title: str, markdown: str) -> dict[str, tuple[str, list[str]]]:
    """Each section's name → (its text, every stock its lists name): what a digest's section
    of the same name can be completed from."""
    blocks, _ = _blocks(markdown.splitlines(), title)
    listed: dict[str, tuple[str, list[str]]] = {}
    for name, items in blocks:
        texts = [_clean(item) for item in items if _clean(item)]
        listed.setdefault(name, ("\n".join(texts), _section_stocks(name, texts)))
    return listed


def _sections(raw_lines: list[str], title: str) -> tuple[list[Section], list[str]]:
    """Sections from headings, labelled top-level items and bold-labelled paragraphs; the
    lines under a 风险 heading are risks, not a section."""
    blocks, risks = _blocks(raw_lines, title)
    built = [_section(name, items) for name, items in blocks]
    return [section for section in built if section.points][:6], risks


def _blocks(raw_lines: list[str], title: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    sections: list[tuple[str, list[str]]] = []
    risks: list[str] = []
    in_risks = under_heading = False
    for raw in raw_lines:
        if heading := _HEADING.match(raw):
            name = _clean(heading.group(1))
            in_risks, under_heading = "风险" in name, True
            if not in_risks and name != title:  # an H1 repeating the title is no section
                sections.append((name, []))
            continue
        if not raw.strip() or _RULE.match(raw):
            continue
        item = _ITEM.match(raw)
        body = item.group(2).strip() if item else raw.strip()
        top_level = item is None or len(item.group(1).expandtabs()) < 2
        label = (_LABEL if item else _PARAGRAPH_LABEL).match(body) if top_level else None
        if in_risks:
            risks.append(_clip(_clean(body)))
        elif item is None and not under_heading and (listed := _labelled_list(_clean(body))):
            sections.append(listed)
        elif label:
            name = label.group(1) or label.group(3)
            sections.append((_clean(name), [label.group(2) or label.group(4) or ""]))
        elif sections and (item or under_heading):
            sections[-1][1].append(body)
    return sections, risks


def _labelled_list(line: str) -> tuple[str, list[str]] | None:
    """("OCS", [line]) for "OCS代表：源杰科技、仕佳光子": a label, then nothing but two names or
    more; the label loses a trailing trigger word (代表, 标的…) unless it is nothing else."""
    match = _LIST_LINE.match(line)
    if not match:
        return None
    tokens = [t for t in _SPLIT.split(match.group(2).strip().removesuffix("等")) if t]
    if len(tokens) < 2 or not all(_looks_like_a_name(t) for t in tokens):
        return None
    label = match.group(1).strip()
    return re.sub(rf"(?<=.)(?:{_TRIGGERS})$", "", label), [line]


def _section(name: str, items: list[str]) -> Section:
    texts = [_clean(item) for item in items if _clean(item)]
    stocks = _section_stocks(name, texts)
    return Section(name=name, points=[_clip(t) for t in texts[:4]], stocks=stocks[:12])


def _section_stocks(name: str, texts: list[str]) -> list[str]:
    stocks: list[str] = []
    for text in texts:
        # a section labelled 标的/关注… is itself the list ("**标的：** 兆易创新、北京君正")
        listed = f"{name}：{text}" if re.fullmatch(_TRIGGERS, name) else text
        stocks += [s for s in _stocks(listed) if s not in stocks]
    return stocks


def _stocks(text: str) -> list[str]:
    """Names in the lists that follow a trigger word or a colon."""
    text = _PAREN.sub("", text)
    found: list[str] = []
    starts = [m.end() for m in _TRIGGER.finditer(text)] + [
        m.end() for m in re.finditer("[：:]", text)
    ]
    for start in starts:
        clause = re.split(r"[。；;！!？?]", text[start:], maxsplit=1)[0]
        for token in _SPLIT.split(clause):
            name = re.sub(
                rf"^(?:{_TRIGGERS})", "", token.strip().removesuffix("等").split("的")[-1]
            )
            # "阿里数据港" lists 数据港, the platform it serves written before it
            name = without_patron(name)
            if _looks_like_a_name(name) and name not in found:
                found.append(name)
    return found


def _looks_like_a_name(token: str) -> bool:
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in token)
    latin = token.isascii() and token.isalpha() and len(token) >= 4
    return ((2 <= cjk <= 8 and len(token) <= 8) or latin) and not _NOT_A_NAME.search(token)


def _events(text: str) -> list[Event]:
    events: list[Event] = []
    seen: set[tuple[str, str]] = set()
    for match in _EVENT.finditer(text):
        what = match.group(1) or match.group(4)
        when = match.group(2) or match.group(3)
        title = "休市" if what in ("放假", "休市") else what
        # "美国非农周五" and "本周五的非农" are one event: compare without 美国 and 本
        same = (title.removeprefix("美国"), when.removeprefix("本"))
        if same not in seen:
            seen.add(same)
            events.append(Event(title=title, when=when))
    return events


def _clean(text: str) -> str:
    return _MARKUP.sub("", _LINK.sub(r"\1", _IMAGE.sub("", text))).strip()


def _clip(text: str, limit: int = POINT_CHARS) -> str:
    """At most `limit` characters, cut after a clause when possible."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = max(text.rfind(mark, 0, limit) for mark in "，；。,;")
    return (text[: cut + 1] if cut > limit // 2 else text[:limit]).rstrip("，,;；") + "…"
