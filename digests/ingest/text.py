"""Markdown → plain text (with its links and images kept aside), and HTML → markdown.

Every source ends as markdown (the author's own, or converted from the feed's or page's HTML),
so one renderer gives every post the same plain text for summaries and grounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdownify import markdownify

_md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_TAG = re.compile(r"<[^>]+>")
_NOT_TEXT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class PlainText:
    """A body as plain text plus the links and image references the text no longer shows."""

    text: str
    links: list[dict[str, str]] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)


def html_to_markdown(html: str) -> str:
    """Convert a post's HTML (feed entry, decrypted block, page) to markdown, links included."""
    markdown = markdownify(_NOT_TEXT.sub("", html), heading_style="ATX", bullets="-")
    return _BLANKS.sub("\n\n", markdown).strip()


def markdown_to_text(markdown: str) -> PlainText:
    """Render markdown as plain text: paragraphs apart by a blank line, list items kept as `- `."""
    result = PlainText(text="")
    blocks: list[tuple[int, str]] = []  # (list depth, text)
    lists: list[list[int]] = []  # a stack of [ordered?, next number]
    marker: str | None = None
    row: list[str] | None = None
    for token in _md.parse(markdown):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([kind == "ordered_list_open", int(token.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            ordered, number = lists[-1]
            marker = f"{number}. " if ordered else "- "
            lists[-1][1] = number + 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            blocks.append((len(lists), " | ".join(row)))
            row = None
        elif kind == "inline":
            line = _inline_text(token, result)
            if row is not None:
                row.append(line)
                continue
            indent = "  " * max(len(lists) - 1, 0)
            if marker is not None:
                line, marker = indent + marker + line, None
            elif lists:
                line = indent + "  " + line
            blocks.append((len(lists), line))
        elif kind in ("fence", "code_block"):
            blocks.append((len(lists), token.content.rstrip("\n")))
        elif kind == "html_block":
            blocks.append((len(lists), _TAG.sub("", token.content).strip()))
    result.text = _join(blocks)
    return result


def _inline_text(token: Token, sink: PlainText) -> str:
    parts: list[str] = []
    link: dict[str, str] | None = None
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
            if link is not None:
                link["text"] += child.content
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "link_open":
            link = {"text": "", "url": str(child.attrGet("href") or "")}
        elif kind == "link_close" and link is not None:
            sink.links.append(link)
            link = None
        elif kind == "image":
            sink.images.append({"alt": child.content, "url": str(child.attrGet("src") or "")})
    return "".join(parts).strip()


def _join(blocks: list[tuple[int, str]]) -> str:
    out: list[str] = []
    previous_depth = 0
    for depth, text in blocks:
        if not text:
            continue
        if out:
            out.append("\n" if depth and previous_depth else "\n\n")
        out.append(text)
        previous_depth = depth
    return "".join(out)
