"""Markdown → plain text (with its links and images kept aside), and HTML → markdown.

Every source ends as markdown (the author's own, or converted from the feed's or page's HTML),
so one renderer gives every post the same plain text for summaries and grounding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it_pyrs import MarkdownIt, Node
from markdownify import markdownify

# markdown-it's Rust port: the same CommonMark parser as markdown-it-py, ten times faster,
# which is most of the cost of ingesting a new post (bench/ingest.py).
_md = MarkdownIt("commonmark").enable_many(["table", "strikethrough"])
_BLOCKS = frozenset(
    (
        "paragraph",
        "heading",
        "bullet_list",
        "ordered_list",
        "table",
        "thead",
        "tbody",
        "trow",
        "fence",
        "code_block",
        "html_block",
        "blockquote",
        "hr",
        "definition",
    )
)
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
    """Render markdown as plain text: blocks apart by a blank line, list items kept as `- `."""
    result = PlainText(text="")
    lines: list[tuple[int, str]] = []  # (list depth, text)
    _blocks(_md.tree(markdown).children, 0, lines, result)
    result.text = _join(lines)
    return result


def _blocks(nodes: Sequence[Node], depth: int, out: list[tuple[int, str]], sink: PlainText) -> None:
    inline: list[Node] = []  # a tight list item holds its inline nodes directly
    for node in nodes:
        name = node.name
        if name not in _BLOCKS:
            inline.append(node)
            continue
        if inline:
            out.append((depth, _inline(inline, sink)))
            inline = []
        if name in ("paragraph", "heading"):
            out.append((depth, _inline(node.children, sink)))
        elif name in ("bullet_list", "ordered_list"):
            number = int(node.meta.get("start", 1))
            for item in node.children:
                marker = f"{number}. " if name == "ordered_list" else "- "
                number += 1
                start = len(out)
                _blocks(item.children, depth + 1, out, sink)
                if len(out) > start:  # the item's first line carries the marker
                    level, text = out[start]
                    out[start] = (level, "  " * depth + marker + text)
        elif name == "trow":
            out.append((depth, " | ".join(_inline(cell.children, sink) for cell in node.children)))
        elif name in ("fence", "code_block"):
            out.append((depth, str(node.meta.get("content", "")).rstrip("\n")))
        elif name == "html_block":
            out.append((depth, _TAG.sub("", str(node.meta.get("content", ""))).strip()))
        else:  # blockquote, table, thead, tbody: their children are the text
            _blocks(node.children, depth, out, sink)
    if inline:
        out.append((depth, _inline(inline, sink)))


def _inline(nodes: Sequence[Node], sink: PlainText) -> str:
    # per node of every new post (bench/ingest.py): the common case first, appends bound once
    parts: list[str] = []
    add = parts.append
    for node in nodes:
        name = node.name
        if name == "text" or name == "text_special":
            add(str(node.meta.get("content", "")))
        elif name == "softbreak" or name == "hardbreak":
            add("\n")
        elif name == "image":
            sink.images.append(
                {"alt": _inline(node.children, PlainText("")), "url": str(node.meta.get("url", ""))}
            )
        elif name == "link":
            text = _inline(node.children, sink)
            sink.links.append({"text": text, "url": str(node.meta.get("url", ""))})
            add(text)
        elif name != "html_inline":  # strong, em, code_inline, strikethrough…
            add(_inline(node.children, sink))
    return "".join(parts).strip()


def _join(lines: list[tuple[int, str]]) -> str:
    out: list[str] = []
    previous_depth = 0
    for depth, text in lines:
        if not text:
            continue
        if out:
            out.append("\n" if depth and previous_depth else "\n\n")
        out.append(text)
        previous_depth = depth
    return "".join(out)
