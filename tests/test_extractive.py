"""The offline digest: built from the post's structure, grounded by construction."""

from __future__ import annotations

from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.summarize.extractive import extractive_digest
from digests.summarize.grounding import ground
from digests.summarize.schema import Digest
from tests.conftest import EXAMPLES, SHANGHAI


def digest_of(name: str) -> tuple[Digest, dict[str, str]]:
    """The post's offline digest, and the post as ground() takes it."""
    draft = read_post_file(EXAMPLES / name, tz=SHANGHAI)
    digest = extractive_digest(draft.title, draft.body_markdown)
    text = markdown_to_text(draft.body_markdown).text
    return digest, {"title": draft.title, "text": text, "markdown": draft.body_markdown}


def test_seed_post_sections_stocks_and_events() -> None:
    """The 小熊团队 block gives 计算机/通信/传媒 with their named stocks; the week's events
    keep their wording."""
    digest, source = digest_of("2-10-zhui-zong.md")
    assert [s.name for s in digest.sections] == ["OCS", "计算机", "通信", "传媒"]
    stocks = {s.name: s.stocks for s in digest.sections}
    assert {"大位科技", "润泽科技", "艾可蓝", "晶泰控股"} <= set(stocks["计算机"])
    # "阿里数据港" lists 数据港, written after the platform it serves
    assert "数据港" in stocks["计算机"] and "阿里数据港" not in stocks["计算机"]
    assert {"天孚通信", "英维克", "麦格米特"} <= set(stocks["通信"])
    assert {"中文在线", "掌阅科技"} <= set(stocks["传媒"])
    assert ("美国非农", "周三") in {(e.title, e.when) for e in digest.events}
    assert ("CPI", "周五") in {(e.title, e.when) for e in digest.events}
    assert digest.headline == "今天科技板块大爆发。"
    assert all(len(p) <= 61 for s in digest.sections for p in s.points)
    assert all(len(s.points) <= 4 for s in digest.sections)
    _, dropped = ground(digest, **source)
    assert dropped == {}


def test_a_labelled_list_paragraph_is_a_section_and_a_sentence_is_not() -> None:
    """ "OCS代表：A、B、C" names a section of its own; "原因很简单：…" (prose after a colon) and a
    single name after a label do not."""
    markdown = (
        "今天大涨。\n\nOCS代表：源杰科技、仕佳光子、腾景科技等\n\n"
        "原因很简单：前两家是做光模块的，天孚不直接生产光模块\n\n龙头：天孚通信\n"
    )
    digest = extractive_digest("标题", markdown)
    assert [(s.name, s.stocks) for s in digest.sections] == [
        ("OCS", ["源杰科技", "仕佳光子", "腾景科技"])
    ]


def test_broker_note_labels_become_sections_and_the_target_list_stocks() -> None:
    """Bold-labelled paragraphs (价格/需求/供给/标的) are sections; 标的 lists the names."""
    digest, source = digest_of("2026-02-26-broker-note-storage.md")
    names = [s.name for s in digest.sections]
    assert names[:4] == ["价格", "需求", "供给", "标的"]
    assert digest.sections[3].stocks == ["兆易创新", "北京君正", "江波龙", "佰维存储", "德明利"]
    assert any("美光财报" in risk for risk in digest.risks)
    assert ground(digest, **source)[1] == {}


def test_risk_heading_items_are_risks_and_dated_events_are_found() -> None:
    """Items under 本周风险 are risks; 两会/非农/CPI come with 本周四/周五/下周三."""
    digest, _ = digest_of("2026-03-02-weekly-risks.md")
    assert len(digest.risks) >= 4 and digest.risks[0].startswith("美国非农")
    events = {(e.title, e.when) for e in digest.events}
    assert {("两会", "本周四"), ("美国非农", "周五"), ("美国CPI", "下周三")} <= events
    assert "本周风险" not in [s.name for s in digest.sections]


def test_unstructured_post_still_gets_a_section() -> None:
    """A post with no headings or lists gets one 要点 section from its sentences."""
    digest, _ = digest_of("2026-02-20-public-new-year.md")
    assert [s.name for s in digest.sections] == ["要点"] and digest.sections[0].points


def test_a_risk_lead_in_is_followed_by_the_risks_it_announces() -> None:
    """The lead-in "最后提一嘴本周的风险。" announces the risks: the sentences after it are
    the risks (非农周三 and CPI周五, the holiday gap, cutting leverage before the holiday)."""
    digest, source = digest_of("2-10-zhui-zong.md")
    assert not any("最后提一嘴" in risk for risk in digest.risks)
    assert digest.risks[0].startswith("美国非农数据周三，CPI周五发")
    assert any("假期" in risk for risk in digest.risks)
    assert any("杠杆" in risk for risk in digest.risks)
    assert "risks" not in ground(digest, **source)[1]


def test_every_post_offline_digest_passes_the_gate_whole() -> None:
    """Copied from the post, the offline digest loses nothing to the grounding gate."""
    for path in sorted(EXAMPLES.glob("*.md")):
        digest, source = digest_of(path.name)
        assert ground(digest, **source)[1] == {}, path.name
