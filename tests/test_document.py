"""The post as numbered sentences in blocks (digests/summarize/document.py): where sentences
end, what a section is, and the numbered text the prompt shows."""

from __future__ import annotations

import pytest

from digests.summarize.document import Document, Kind, clip, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "周五 21:30 美国2月非农数据。CPI下周三公布！",
            ["周五 21:30 美国2月非农数据。", "CPI下周三公布！"],
        ),
        ("环比上涨2.5%，超预期？是的", ["环比上涨2.5%，超预期？", "是的"]),
        ("他说：“涨价周期还没结束。”然后走了", ["他说：“涨价周期还没结束。”", "然后走了"]),
        ("第一行\n第二行", ["第一行", "第二行"]),
        ("……。 ", []),
    ],
    ids=["time", "decimal", "quote", "line-break", "punctuation-only"],
)
def test_sentences_end_at_stops_and_line_breaks_only(text: str, sentences: list[str]) -> None:
    """A sentence ends at 。！？!? (with its closing quote) or a line break, never at a colon
    or a full stop between digits, so a time or a decimal is never cut."""
    assert split_sentences(text) == sentences


POST = """# 标题

今天大涨。两市成交放量。

## 存储

**价格：** DRAM 合约价上涨 8%-10%。

- 标的：兆易创新、北京君正
  - 兆易是利基型 DRAM

---

1. **通信：** 首推 CPO。
2. **传媒：** 中文在线。

回到正文。

| 公司 | 代码 |
|---|---|
| 江波龙 | 301308 |
"""


def test_sentences_are_numbered_in_reading_order_with_their_sections() -> None:
    """Every block's sentences are numbered from 1; a heading opens a section, a labelled
    paragraph under it is part of it, a rule ends it, a labelled list item opens its own,
    and prose after the list is under no section again."""
    doc = Document("标题", POST)
    texts = [s.text for s in doc.sentences]
    assert texts[:4] == ["标题", "今天大涨。", "两市成交放量。", "存储"]
    assert [s.number for s in doc.sentences] == list(range(1, len(texts) + 1))
    by_text = {s.text: doc.heading(s) for s in doc.sentences}
    assert by_text["今天大涨。"] == ""  # the H1 repeating the title opens no section
    assert by_text["价格： DRAM 合约价上涨 8%-10%。"] == "存储"
    assert by_text["兆易是利基型 DRAM"] == "存储"
    assert by_text["通信： 首推 CPO。"] == "通信"
    assert by_text["回到正文。"] == ""
    assert [block.label for block, _ in doc.sections() if block] == ["", "通信", "传媒"]
    rows = [b for b in doc.blocks if b.kind is Kind.row]
    assert rows[0].header and rows[1].cells == ("江波龙", "301308")


def test_the_prompt_shows_each_sentence_after_its_number() -> None:
    """numbered() keeps the blocks (headings, items, rows) and puts "[n]" before each
    sentence, numbers that a claim's cites refer to."""
    doc = Document("标题", POST)
    numbered = doc.numbered()
    assert numbered.startswith("# [1]标题\n\n[2]今天大涨。[3]两市成交放量。\n\n## [4]存储")
    assert "- [6]标的：兆易创新、北京君正\n  - [7]兆易是利基型 DRAM\n\n1. [8]" in numbered
    assert "[11]公司 | 代码\n[12]江波龙 | 301308" in numbered
    for sentence in doc.sentences:
        assert f"[{sentence.number}]{sentence.text}" in numbered
    assert doc.sentence(len(doc)) is not None and doc.sentence(len(doc) + 1) is None


def test_a_bold_line_heads_what_follows() -> None:
    """A short line all in bold ("**📢 花旗-中际旭创交流要点**") is a heading."""
    doc = Document("t", "**📢 花旗-中际旭创交流要点**\n\n超大规模厂商已明确支持 CPO 方案。\n")
    assert doc.blocks[0].kind is Kind.heading
    assert doc.heading(doc.sentences[1]) == "📢 花旗-中际旭创交流要点"


@pytest.mark.parametrize(
    ("text", "clipped"),
    [
        ("短句。", "短句。"),
        ("甲" * 40 + "，" + "乙" * 40, "甲" * 40 + "…"),
        ("甲" * 80, "甲" * 60 + "…"),
    ],
)
def test_clip_cuts_after_a_clause(text: str, clipped: str) -> None:
    """A point copied from the post is cut to 60 characters, after a clause when possible."""
    assert clip(text) == clipped
