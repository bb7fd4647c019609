"""A post as numbered sentences in blocks: the one reading of a post that the prompt, the
grounding gate and the extractive digest share.

The markdown is parsed once (CommonMark, tables). Each block (heading, paragraph, list item,
table row, quote) is cut into sentences at 。！？!? and line breaks, never at a colon or a
full stop between digits, so "周五 21:30 美国2月非农数据" and "2.5%" stay whole. Sentences are
numbered from 1 in reading order; the prompt shows the numbers ("[12]") and a digest's claims
cite them. A block opening with a bold label ("**价格：** …", "1. **通信：** …") carries the
label; a sentence's section is the nearest heading or labelled top-level block above it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from markdown_it_pyrs import MarkdownIt, Node

_md = MarkdownIt("commonmark").enable_many(["table", "strikethrough"])
# a sentence ends at a stop (with the quotes and brackets that close it) or at a line break
_SENTENCE = re.compile(r"[^。！？!?\n]+(?:[。！？!?]+[”’」』）)]*)?|[。！？!?]+")
_LABEL_END = re.compile(r"^(.{1,16}?)\s*[：:]\s*$")
_TAG = re.compile(r"<[^>]+>")
_WORDLESS = re.compile(r"^[\W_]*$")
POINT_CHARS = 60  # a point the digest copies from the post is cut to about this
HEADING_CHARS = 40  # a bold line longer than this is an emphasised sentence, not a heading
MARK = re.compile(r"\[(\d{1,4})\]")  # "[12]": a sentence number as the prompt writes it


class Kind(StrEnum):
    """What a block is in the markdown."""

    heading = "heading"
    paragraph = "paragraph"
    item = "item"  # a list item (its own text, without its sub-items)
    row = "row"  # a table row
    quote = "quote"  # a paragraph inside a blockquote
    code = "code"
    rule = "rule"  # a horizontal rule: it ends the section above it


@dataclass(frozen=True)
class Block:
    """One block of the post, its text without markup, and the numbers of its sentences."""

    kind: Kind
    text: str
    level: int = 0  # heading level 1-6; list depth (1 = top level) for items
    marker: str = ""  # "1." or "-" for items
    label: str = ""  # a bold label the block opens with ("价格"), without its colon
    cells: tuple[str, ...] = ()  # table cells
    header: bool = False  # a table's header row
    first: int = 0  # number of its first sentence (0: none)
    last: int = -1

    @property
    def numbers(self) -> range:
        return range(self.first, self.last + 1)


@dataclass(frozen=True)
class Sentence:
    """A numbered sentence, the block it is in and the section it sits under."""

    number: int
    text: str
    block: int  # index into Document.blocks
    section: int  # index of the heading or labelled block it sits under, -1 for none
    heading: int = -1  # index of the heading it sits under (a label's own heading), -1 none


class Document:
    """The post as blocks and numbered sentences (see the module docstring)."""

    def __init__(self, title: str, markdown: str) -> None:
        self.title = title.strip()
        self.blocks: list[Block] = []
        self.sentences: list[Sentence] = []
        raw: list[Block] = []
        _read(_md.tree(markdown).children, raw, depth=0, quoted=False)
        self._owner: list[int] = []  # per block, the section it belongs to (-1: none)
        section = heading = -1
        for block in raw:
            index = len(self.blocks)
            if block.kind is Kind.heading and block.text != self.title:  # not the title again
                section = heading = index
            elif block.label and (block.kind is Kind.item or heading < 0) and block.level <= 1:
                section = index  # a labelled item, or a labelled paragraph under no heading
            elif block.kind is Kind.rule:
                section = heading = -1
            elif block.kind is not Kind.item and self._item(section):
                section = heading  # prose after a list: the labelled item's section is over
            self._owner.append(section)
            start = len(self.sentences) + 1
            for text in split_sentences(block.text):
                number = len(self.sentences) + 1
                self.sentences.append(Sentence(number, text, index, section, heading))
            last = len(self.sentences)
            first = start if last >= start else 0
            self.blocks.append(_with_numbers(block, first, last))

    def _item(self, index: int) -> bool:
        return 0 <= index < len(self.blocks) and self.blocks[index].kind is Kind.item

    def __len__(self) -> int:
        return len(self.sentences)

    def sentence(self, number: int) -> Sentence | None:
        """Sentence `number` (1-based), or None when the post has no such sentence."""
        return self.sentences[number - 1] if 1 <= number <= len(self.sentences) else None

    def heading(self, sentence: Sentence) -> str:
        """The heading and the label a sentence sits under ("花旗-中际旭创交流要点 CPO 业务进展"),
        "" at the top of the post."""
        indexes = dict.fromkeys(i for i in (sentence.heading, sentence.section) if i >= 0)
        return " ".join(self.blocks[i].label or self.blocks[i].text for i in indexes)

    def numbered(self) -> str:
        """The post as the prompt shows it: each sentence after its number, "[12]…", blocks
        apart by a blank line (list items and table rows by a line break)."""
        lines: list[str] = []
        previous: Kind | None = None
        for block in self.blocks:
            if not block.first:
                previous = None  # a rule between two lists keeps them apart
                continue
            body = "".join(f"[{n}]{self.sentences[n - 1].text}" for n in block.numbers)
            if block.kind is Kind.heading:
                body = "#" * block.level + " " + body
            elif block.kind is Kind.item:
                body = "  " * (block.level - 1) + f"{block.marker} " + body
            elif block.kind is Kind.quote:
                body = "> " + body
            tight = block.kind in (Kind.item, Kind.row) and previous is block.kind
            lines.append(("\n" if tight else "\n\n") + body if lines else body)
            previous = block.kind
        return "".join(lines)

    def sections(self) -> list[tuple[Block | None, list[Block]]]:
        """Each heading (not the title again), labelled list item or labelled paragraph under
        no heading, with the blocks under it, in order; the blocks under none (at the top,
        after a rule) come together with None."""
        groups: dict[int, list[Block]] = {}
        for index, block in enumerate(self.blocks):
            owner = self._owner[index]
            groups.setdefault(owner, [])
            if index != owner and block.kind is not Kind.rule:
                groups[owner].append(block)
        return [(self.blocks[k] if k >= 0 else None, v) for k, v in groups.items()]


def clip(text: str, limit: int = POINT_CHARS) -> str:
    """At most `limit` characters, cut after a clause when possible."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = max(text.rfind(mark, 0, limit) for mark in "，；。,;")
    return (text[: cut + 1] if cut > limit // 2 else text[:limit]).rstrip("，,;；") + "…"


def split_sentences(text: str) -> list[str]:
    """Sentences of a block's text: cut at 。！？!? and line breaks, nothing else."""
    found = (s.strip() for s in _SENTENCE.findall(text))
    return [s for s in found if s and not _WORDLESS.match(s)]


def _with_numbers(block: Block, first: int, last: int) -> Block:
    return Block(
        block.kind,
        block.text,
        block.level,
        block.marker,
        block.label,
        block.cells,
        block.header,
        first,
        last if first else -1,
    )


def _read(nodes: Sequence[Node], out: list[Block], *, depth: int, quoted: bool) -> None:
    for node in nodes:
        name = node.name
        if name == "heading":
            out.append(Block(Kind.heading, _text(node.children), level=int(node.meta["level"])))
        elif name == "paragraph" and _bold_line(node.children):
            # a short line all in bold ("**📢 花旗-中际旭创交流要点**") heads what follows
            out.append(Block(Kind.heading, _text(node.children), level=4))
        elif name == "paragraph":
            label, text = _labelled(node.children)
            out.append(Block(Kind.quote if quoted else Kind.paragraph, text, label=label))
        elif name in ("bullet_list", "ordered_list"):
            number = int(node.meta.get("start", 1))
            for item in node.children:
                marker = f"{number}." if name == "ordered_list" else "-"
                number += 1
                _item(item, out, depth=depth + 1, marker=marker, quoted=quoted)
        elif name == "table":
            for part in node.children:
                for row in part.children:
                    cells = tuple(_text(cell.children) for cell in row.children)
                    text = " | ".join(cells)
                    out.append(Block(Kind.row, text, cells=cells, header=part.name == "thead"))
        elif name == "blockquote":
            _read(node.children, out, depth=depth, quoted=True)
        elif name == "hr":
            out.append(Block(Kind.rule, ""))
        elif name in ("fence", "code_block"):
            out.append(Block(Kind.code, str(node.meta.get("content", "")).strip()))
        elif name == "html_block":
            text = _TAG.sub("", str(node.meta.get("content", ""))).strip()
            if text:
                out.append(Block(Kind.paragraph, text))


def _item(item: Node, out: list[Block], *, depth: int, marker: str, quoted: bool) -> None:
    """A list item: its own inline text is one block, its sub-lists follow as their own."""
    inline = [c for c in item.children if c.name not in ("bullet_list", "ordered_list")]
    if len(inline) == 1 and inline[0].name == "paragraph":
        inline = list(inline[0].children)
    elif any(c.name == "paragraph" for c in inline):  # a loose item: its paragraphs in a row
        inline = [n for c in inline for n in (c.children if c.name == "paragraph" else [c])]
    label, text = _labelled(inline)
    if text or label:
        out.append(Block(Kind.item, text, level=depth, marker=marker, label=label))
    for child in item.children:
        if child.name in ("bullet_list", "ordered_list"):
            _read([child], out, depth=depth, quoted=quoted)


def _bold_line(nodes: Sequence[Node]) -> bool:
    text = _text(nodes)
    return (
        len(nodes) == 1
        and nodes[0].name == "strong"
        and 0 < len(text) <= HEADING_CHARS
        and not text.endswith(("。", "！", "？", "：", ":"))
    )


def _labelled(nodes: Sequence[Node]) -> tuple[str, str]:
    """(label, text) of inline content: a bold run ending in a colon, or followed by one,
    opens a label ("**价格：** DRAM…", "**标的**：…"); the text keeps the label."""
    text = _text(nodes)
    if not nodes or nodes[0].name != "strong":
        return "", text
    bold = _text(nodes[0].children)
    rest = text[len(bold) :].lstrip() if text.startswith(bold) else ""
    match = _LABEL_END.match(bold) or (
        _LABEL_END.match(bold + rest[:1]) if rest[:1] in ("：", ":") else None
    )
    return (match.group(1).strip(), text) if match else ("", text)


def _text(nodes: Sequence[Node]) -> str:
    parts: list[str] = []
    for node in nodes:
        name = node.name
        if name in ("text", "text_special"):
            parts.append(str(node.meta.get("content", "")))
        elif name in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif name in ("image", "html_inline"):
            continue
        else:  # strong, em, link, strikethrough: their text
            parts.append(_text(node.children))
    return re.sub(r"[ \t]+", " ", "".join(parts)).strip()
