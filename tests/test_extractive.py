"""The offline digest: built from the post's structure and the securities dictionary, grounded
by construction."""

from __future__ import annotations

from typing import Any

from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.names import load
from digests.summarize.extractive import extractive_digest
from digests.summarize.grounding import ground
from digests.summarize.schema import Digest
from tests.conftest import EXAMPLES, SHANGHAI

NAMES = load()


def digest_of(name: str) -> tuple[Digest, dict[str, Any]]:
    """The post's offline digest, and the post as ground() takes it."""
    draft = read_post_file(EXAMPLES / name, tz=SHANGHAI)
    digest = extractive_digest(draft.title, draft.body_markdown, NAMES)
    text = markdown_to_text(draft.body_markdown).text
    source = {"title": draft.title, "text": text, "markdown": draft.body_markdown, "names": NAMES}
    return digest, source


def test_seed_post_sections_stocks_and_events() -> None:
    """The 小熊团队 block gives 计算机/通信/传媒 with their named stocks and codes; the prose
    before any heading gives its own (港股阅文集团); the week's events keep their wording."""
    digest, _ = digest_of("2-10-zhui-zong.md")
    stocks = {s.name: s.stocks for s in digest.sections}
    assert {"计算机", "通信", "传媒", "OCS"} <= set(stocks)
    assert {"大位科技", "润泽科技", "数据港", "科华数据", "晶泰控股"} <= set(stocks["计算机"])
    assert {"天孚通信", "英维克", "麦格米特"} <= set(stocks["通信"])
    assert {"中文在线", "掌阅科技"} <= set(stocks["传媒"])
    assert "阅文集团" in stocks["要点"]
    assert digest.codes["中文在线"] == "300364.SZ" and digest.codes["数据港"] == "603881.SH"
    events = {(e.title, e.when) for e in digest.events}
    assert {("美国非农数据", "周三"), ("CPI", "周五"), ("休市", "周五")} <= events
    assert digest.headline == "今天科技板块大爆发。"
    assert all(len(p.text) <= 61 and p.cites for s in digest.sections for p in s.points)
    assert all(len(s.points) <= 4 for s in digest.sections)


def test_no_stock_is_a_word_or_a_phrase() -> None:
    """Function words, phrases and remarks near a list (以上, 其中, 小仓位参与, 提升到, 继续看,
    设好止损) are never stocks: only the dictionary's names, or names listed among them."""
    markdown = (
        "## 液冷\n\n液冷渗透率预计从10%提升到30%，以上几家继续看，其中英维克最强。\n\n"
        "标的：英维克、申菱环境、高澜股份，小仓位参与，设好止损。\n"
    )
    digest = extractive_digest("液冷", markdown, NAMES)
    stocks = [s for section in digest.sections for s in section.stocks]
    assert stocks == ["英维克", "申菱环境", "高澜股份"]


def test_a_labelled_list_paragraph_is_a_section_and_a_sentence_is_not() -> None:
    """ "OCS代表：A、B、C" names a section of its own (OCS); "原因很简单：…" (prose after a
    colon) and a single name after a label do not."""
    markdown = (
        "今天大涨。\n\nOCS代表：源杰科技、仕佳光子、腾景科技等\n\n"
        "原因很简单：前两家是做光模块的，天孚不直接生产光模块\n\n龙头：天孚通信\n"
    )
    digest = extractive_digest("标题", markdown, NAMES)
    named = [(s.name, s.stocks) for s in digest.sections if s.name != "要点"]
    assert named == [("OCS", ["源杰科技", "仕佳光子", "腾景科技"])]


def test_a_time_is_never_cut_and_every_dated_happening_is_an_event() -> None:
    """ "周五 21:30 美国2月非农数据" is one sentence, no section "周五 21"; non-farm payrolls, a
    hearing and FOMC come with their days; "两会（今天）" is an aside, no event."""
    markdown = (
        "## 本周风险\n\n1. 周五 21:30 美国2月非农数据\n2. 周三 鲍威尔国会听证\n"
        "3. 下周三凌晨2点 FOMC\n\n两会（今天）开得很顺利。\n"
    )
    digest = extractive_digest("风险", markdown, NAMES)
    assert all("21" not in s.name for s in digest.sections)
    assert "周五 21:30 美国2月非农数据" in [r.text for r in digest.risks]
    events = {(e.title, e.when) for e in digest.events}
    assert ("美国2月非农数据", "周五21:30") in events
    assert any("听证" in t and w == "周三" for t, w in events)
    assert any("FOMC" in t and w.startswith("下周三") for t, w in events)
    assert not any("两会" in t for t, _ in events)


def test_broker_note_labels_are_points_of_its_heading_and_the_target_list_its_stocks() -> None:
    """Bold-labelled paragraphs (价格/需求/供给) under the note's heading are its points, label
    and all; the 标的 list gives the section its stocks."""
    digest, _ = digest_of("2026-02-26-broker-note-storage.md")
    note = digest.sections[0]
    assert note.name == "📢 某券商电子组-存储行业交流要点"
    assert [p.text.split("：")[0] for p in note.points] == ["价格", "需求", "供给"]
    assert [
        s
        for s in note.stocks
        if s not in ("三星", "SK海力士", "美光")  # named in 供给: context
    ] == ["兆易创新", "北京君正", "江波龙", "佰维存储", "德明利"]
    assert any("美光财报" in risk.text for risk in digest.risks)
    assert ("美光财报", "3月中旬") in {(e.title, e.when) for e in digest.events}


def test_risk_heading_items_are_risks_and_dated_events_are_found() -> None:
    """Items under 本周风险 are risks; 两会/非农/CPI come with 本周四/周五晚/下周三."""
    digest, _ = digest_of("2026-03-02-weekly-risks.md")
    assert len(digest.risks) >= 4 and digest.risks[0].text.startswith("美国非农")
    events = {(e.title, e.when) for e in digest.events}
    assert {("两会", "本周四"), ("美国非农", "周五晚"), ("美国CPI", "下周三")} <= events
    assert "本周风险" not in [s.name for s in digest.sections]


def test_unstructured_post_still_gets_a_section() -> None:
    """A post with no headings or lists gets one 要点 section from its sentences."""
    digest, _ = digest_of("2026-02-20-public-new-year.md")
    assert [s.name for s in digest.sections] == ["要点"] and digest.sections[0].points


def test_a_risk_lead_in_is_followed_by_the_risks_it_announces() -> None:
    """The lead-in "最后提一嘴本周的风险。" announces the risks: the sentences after it are
    the risks (非农周三 and CPI周五, the holiday gap, cutting leverage before the holiday)."""
    digest, _ = digest_of("2-10-zhui-zong.md")
    risks = [risk.text for risk in digest.risks]
    assert not any("最后提一嘴" in risk for risk in risks)
    assert risks[0].startswith("美国非农数据周三，CPI周五发")
    assert any("假期" in risk for risk in risks) and any("杠杆" in risk for risk in risks)


def test_every_post_offline_digest_passes_the_gate_whole() -> None:
    """Copied from the post, the offline digest loses nothing to the grounding gate (only
    the events past the count limit), for every sample and development post."""
    for path in sorted(EXAMPLES.glob("*.md")):
        digest, source = digest_of(path.name)
        dropped = ground(digest, **source)[1]
        assert set(dropped) <= {"added", "over_limit"}, (path.name, dropped)
        assert set(dropped.get("over_limit", {})) <= {"events"}, path.name
