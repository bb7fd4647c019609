"""Digest → the text each channel accepts, split into parts within the channel's limit.

One layout (headline, summary, numbered sections with "•" points and "标的：…", risks,
events, disclaimer) is built once as lines; each channel formats the lines and packs them into
parts. Lines are formatted one by one, so a Telegram tag never spans two parts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from digests.summarize.schema import Digest

DISCLAIMER = "仅供参考，不构成投资建议"
EXTRACTIVE_NOTE = "（自动摘录自原文，未经模型总结）"
TELEGRAM_LIMIT = 4096  # UTF-16 code units after entity parsing
WECHAT_LIMIT = 2000  # UTF-8 bytes (customer-service messages stop near 2048)
WECOM_LIMIT = 4096  # UTF-8 bytes of markdown


@dataclass(frozen=True)
class Line:
    kind: str  # title | headline | summary | section | point | stocks | heading | item | note
    text: str
    sources: tuple[str, ...] = ()  # the post's sentences a point or risk cites (the page)


def layout(
    digest: Digest, *, title: str = "", extractive: bool = False, disclaimer: str = ""
) -> list[Line]:
    """The digest as an ordered list of typed lines, shared by every channel; it ends with
    `disclaimer` (DISCLAIMER, stored with the digest), DISCLAIMER's default when empty."""
    lines = [Line("title", title)] if title else []
    if extractive:
        lines.append(Line("note", EXTRACTIVE_NOTE))
    lines += [Line("headline", digest.headline), Line("summary", digest.summary_text)]
    for number, section in enumerate(digest.sections, 1):
        lines.append(Line("section", f"{number}. {section.name}"))
        lines += [Line("point", p.text, _cited(digest, p.cites)) for p in section.points]
        if section.stocks:
            lines.append(Line("stocks", "、".join(section.stocks)))
    if digest.risks:
        lines.append(Line("heading", "风险"))
        lines += [Line("item", r.text, _cited(digest, r.cites)) for r in digest.risks]
    if digest.events:
        lines.append(Line("heading", "事件"))
        lines += [
            Line("item", f"{e.title}（{e.when}）" if e.when else e.title) for e in digest.events
        ]
    lines.append(Line("note", disclaimer.strip() or DISCLAIMER))
    return [line for line in lines if line.text.strip()]


def _cited(digest: Digest, cites: list[int]) -> tuple[str, ...]:
    return tuple(digest.sources[str(n)] for n in cites if str(n) in digest.sources)


# One row per line kind: how Telegram HTML, plain text and markdown show it.
_TEMPLATES = {
    "title": ("<b>{}</b>", "【{}】", "## {}"),
    "headline": ("<b>📌 {}</b>", "核心观点：{}", "**{}**"),
    "section": ("\n<b>{}</b>", "\n{}", "\n**{}**"),
    "point": ("• {}", "• {}", "• {}"),
    "stocks": ("<i>标的：</i>{}", "标的：{}", "标的：{}"),
    "heading": ("\n<b>{}</b>", "\n【{}】", "\n**{}**"),
    "item": ("• {}", "• {}", "• {}"),
    "note": ("<i>{}</i>", "{}", "*{}*"),
}
_TELEGRAM, _TEXT, _MARKDOWN = range(3)


def _line_format(column: int) -> Callable[[Line], str]:
    escape = (lambda text: html.escape(text, quote=False)) if column == _TELEGRAM else str

    def fmt(line: Line) -> str:
        template = _TEMPLATES.get(line.kind, ("{}", "{}", "{}"))[column]
        return template.format(escape(line.text))

    return fmt


_telegram_line, _text_line, _markdown_line = map(_line_format, (_TELEGRAM, _TEXT, _MARKDOWN))


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def telegram_visible_len(part: str) -> int:
    """UTF-16 length after Telegram parses the HTML (tags gone, entities decoded)."""
    return utf16_len(html.unescape(re.sub(r"<[^>]+>", "", part)))


def _utf8_len(text: str) -> int:
    return len(text.encode())


def _pack(
    lines: list[Line],
    fmt: Callable[[Line], str],
    measure: Callable[[str], int],
    limit: int,
) -> list[str]:
    """Join formatted lines into as few parts as fit; an over-long line is cut into pieces
    (each formatted on its own, so markup stays whole)."""
    parts: list[str] = []
    current = ""
    for line in lines:
        for piece in _fit(line, fmt, measure, limit):
            candidate = f"{current}\n{piece}" if current else piece.lstrip("\n")
            if measure(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = piece.lstrip("\n")
    if current:
        parts.append(current)
    return parts


def _fit(
    line: Line, fmt: Callable[[Line], str], measure: Callable[[str], int], limit: int
) -> list[str]:
    if measure(fmt(line)) <= limit:
        return [fmt(line)]
    pieces: list[str] = []
    rest = line.text
    while rest:
        size = len(rest)
        while size > 1 and measure(fmt(Line(line.kind, rest[:size]))) > limit:
            size = size * 3 // 4
        pieces.append(fmt(Line(line.kind, rest[:size])))
        rest = rest[size:]
    return pieces


def telegram_html(
    digest: Digest,
    *,
    title: str = "",
    extractive: bool = False,
    disclaimer: str = "",
    room_per_line: int = 0,
) -> list[str]:
    """Telegram HTML parts (only tags Telegram accepts, text escaped, ≤ 4096 UTF-16 units),
    each leaving `room_per_line` units per line free (for a reader's fingerprint)."""
    lines = layout(digest, title=title, extractive=extractive, disclaimer=disclaimer)

    def measure(part: str) -> int:
        return telegram_visible_len(part) + room_per_line * (part.count("\n") + 1)

    return _pack(lines, _telegram_line, measure, TELEGRAM_LIMIT)


def clip_utf8(text: str, limit: int, tail: str) -> str:
    """`text` within `limit` UTF-8 bytes: cut on a character boundary and ended with `tail`
    when it is longer."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len(tail.encode())].decode(errors="ignore") + tail


def wechat_text(
    digest: Digest, *, title: str = "", extractive: bool = False, disclaimer: str = ""
) -> list[str]:
    """WeChat customer-service text parts: plain text, ≤ 2000 UTF-8 bytes each."""
    lines = layout(digest, title=title, extractive=extractive, disclaimer=disclaimer)
    return _pack(lines, _text_line, _utf8_len, WECHAT_LIMIT)


def wecom_markdown(
    digest: Digest, *, title: str = "", extractive: bool = False, disclaimer: str = ""
) -> list[str]:
    """WeCom group-robot markdown parts, ≤ 4096 UTF-8 bytes each."""
    lines = layout(digest, title=title, extractive=extractive, disclaimer=disclaimer)
    return _pack(lines, _markdown_line, _utf8_len, WECOM_LIMIT)


def plain_text(
    digest: Digest, *, title: str = "", extractive: bool = False, disclaimer: str = ""
) -> str:
    """The whole digest as plain text (console, logs, e-mail)."""
    lines = layout(digest, title=title, extractive=extractive, disclaimer=disclaimer)
    return "\n".join(_text_line(line) for line in lines).strip()


def markdown(
    digest: Digest, *, title: str = "", extractive: bool = False, disclaimer: str = ""
) -> str:
    """The whole digest as markdown."""
    lines = layout(digest, title=title, extractive=extractive, disclaimer=disclaimer)
    return "\n".join(_markdown_line(line) for line in lines).strip()
