"""Telegram's HTML parse-mode rules, as a validator for rendered parts (Bot API docs,
"HTML style"): only the listed tags, properly nested, every other <, > and & escaped, and at
most 4096 UTF-16 code units of text once tags and entities are parsed."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "tg-spoiler",
    "span",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
NAMED_ENTITIES = {"lt", "gt", "amp", "quot"}
LIMIT = 4096


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []  # as Telegram shows it (entities decoded)
        self.raw: list[str] = []  # as sent, outside tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.problems.append(f"tag <{tag}> is not allowed")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.problems.append("<span> needs class=tg-spoiler")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/> is not allowed")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close the innermost open tag")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.raw.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.problems.append(f"&{name}; is not an entity Telegram knows")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def problems(part: str) -> list[str]:
    """Everything Telegram would refuse in this message part (empty when it is valid)."""
    found: list[str] = []
    if re.search(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", part):
        found.append("a bare & (must be &amp;)")
    checker = _Checker()
    checker.feed(part)
    checker.close()
    found += checker.problems
    if checker.stack:
        found.append(f"unclosed tags: {checker.stack}")
    if any("<" in chunk or ">" in chunk for chunk in checker.raw):
        found.append("an unescaped < or > in the text")
    text = "".join(checker.text)
    units = len(text.encode("utf-16-le")) // 2
    if not 1 <= units <= LIMIT:
        found.append(f"{units} UTF-16 units (1..{LIMIT} allowed)")
    return found
