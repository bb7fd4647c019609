"""Rendering per channel: Telegram HTML that Telegram accepts, WeChat and WeCom byte limits,
the layout, and parts split at line ends."""

from __future__ import annotations

from digests import render
from digests.summarize.schema import Digest, Event, Section
from tests.telegram_html import problems

TYPICAL = Digest(
    headline="字节新模型带动AI影视与算力，CPO需求扩张",
    summary="科技板块大爆发，核心是字节新模型。",
    sections=[
        Section(
            name="通信",
            points=["CPO+OCS 是新一代交换机趋势", "液冷：英维克"],
            stocks=["天孚通信", "中际旭创"],
        ),
        Section(name="传媒", points=["IP库是核心"], stocks=["中文在线"]),
    ],
    risks=["美国非农、CPI 公布与春节休市重叠"],
    events=[Event(title="美国CPI", when="周五")],
)

HOSTILE = Digest(
    headline="<script>alert(1)</script> & <b>粗体</b> a<b c>d 😀",
    summary="P/E < 20 & ROE > 15%，\"引号\" 'single'",
    sections=[
        Section(name="A&B <通信>", points=["x < y & z > w", "<br>换行</br>"], stocks=["A&B"])
    ],
    risks=["&amp; 已经转义的文本也要再转义"],
    events=[Event(title="<FOMC>", when="周三 & 周四")],
)


def big_digest(points: int) -> Digest:
    sections = [
        Section(
            name=f"板块{i}",
            points=[f"第{i}-{j}条观点😀" + "很长的说明文字" * 12 for j in range(points)],
            stocks=["天孚通信"],
        )
        for i in range(6)
    ]
    return Digest(headline="标题", summary="概述", sections=sections, risks=[], events=[])


def test_typical_digest_is_one_valid_telegram_message_in_the_layout_order() -> None:
    """Headline, summary, numbered sections with • points and 标的, risks, events, disclaimer."""
    [part] = render.telegram_html(TYPICAL, title="2.10科技大爆发")
    assert problems(part) == []
    order = [
        "2.10科技大爆发",
        "📌 字节新模型",
        "科技板块大爆发",
        "1. 通信",
        "• CPO+OCS",
        "标的：</i>天孚通信、中际旭创",
        "2. 传媒",
        "风险",
        "• 美国非农",
        "事件",
        "美国CPI（周五）",
        "仅供参考，不构成投资建议",
    ]
    positions = [part.index(text) for text in order]
    assert positions == sorted(positions)


def test_hostile_text_is_escaped_and_valid() -> None:
    """Tags, ampersands and brackets in model output never reach Telegram as markup."""
    parts = render.telegram_html(HOSTILE, title="A&B")
    assert all(problems(part) == [] for part in parts)
    joined = "".join(parts)
    assert "<script>" not in joined and "&lt;script&gt;" in joined and "&amp;amp;" in joined


def test_long_digest_splits_into_valid_parts_at_line_ends() -> None:
    """Each part ≤ 4096 UTF-16 units (emoji count twice), tags never cut, nothing lost."""
    digest = big_digest(points=40)  # far more than one message
    parts = render.telegram_html(digest, title="长文")
    assert len(parts) > 1
    for part in parts:
        assert problems(part) == []
    text = "\n".join(parts)
    assert text.count("很长的说明文字") == 6 * 40 * 12
    assert parts[-1].endswith("<i>仅供参考，不构成投资建议</i>")


def test_a_single_line_longer_than_a_message_is_cut_into_valid_pieces() -> None:
    """Even one 10,000-character point becomes valid parts."""
    digest = Digest(
        headline="h",
        summary="s",
        risks=[],
        events=[],
        sections=[Section(name="n", points=["长" * 10_000], stocks=[])],
    )
    parts = render.telegram_html(digest)
    assert len(parts) >= 3 and all(problems(part) == [] for part in parts)
    assert "".join(parts).count("长") == 10_000


def test_wechat_parts_are_plain_text_within_2000_bytes() -> None:
    """WeChat: no markup, each part ≤ 2000 UTF-8 bytes, content kept whole."""
    parts = render.wechat_text(big_digest(points=10), title="长文")
    assert len(parts) > 1 and all(len(p.encode()) <= 2000 for p in parts)
    assert not any("<b>" in p or "**" in p for p in parts)
    assert "\n".join(parts).count("很长的说明文字") == 6 * 10 * 12
    [one] = render.wechat_text(TYPICAL)
    assert "核心观点：" in one and "标的：天孚通信、中际旭创" in one


def test_wecom_markdown_parts_within_4096_bytes() -> None:
    """WeCom robot markdown: ≤ 4096 bytes a part."""
    parts = render.wecom_markdown(big_digest(points=10))
    assert len(parts) > 1 and all(len(p.encode()) <= 4096 for p in parts)
    assert render.wecom_markdown(TYPICAL)[0].startswith("**字节新模型")


def test_extractive_digests_say_so_everywhere() -> None:
    """An extractive digest is marked in every channel's text."""
    for text in (
        render.telegram_html(TYPICAL, extractive=True)[0],
        render.wechat_text(TYPICAL, extractive=True)[0],
        render.plain_text(TYPICAL, extractive=True),
        render.markdown(TYPICAL, extractive=True),
    ):
        assert render.EXTRACTIVE_NOTE in text


def test_plain_and_markdown_formats() -> None:
    """Plain text and markdown carry the same layout."""
    text = render.plain_text(TYPICAL, title="T")
    assert text.startswith("【T】") and "1. 通信" in text and text.endswith(render.DISCLAIMER)
    md = render.markdown(TYPICAL, title="T")
    assert md.startswith("## T") and "**1. 通信**" in md


def test_the_validator_itself_refuses_what_telegram_refuses() -> None:
    """The checker used above is not a rubber stamp."""
    assert problems("a<br>b")  # tag not allowed
    assert problems("AT&T")  # bare ampersand
    assert problems("<b>open")  # unclosed
    assert problems("<b><i>x</b></i>")  # crossed nesting
    assert problems("1 < 2")  # unescaped bracket
    assert problems("😀" * 2049)  # 4098 UTF-16 units
    assert problems("<b>ok</b> &lt;tag&gt; &amp; &#128512;") == []
