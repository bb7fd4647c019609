"""The grounding gate (digests/summarize/grounding): its size limits as a table of cases; what
a stock is (stocks.Stocks: the securities dictionary's names the post names, or lists); claims
with their citations and the sentences' text; dated events; the post's structure completing
the digest; the language; the sample posts' honest digests passing it whole. The claim rules
themselves are in test_claims.py."""

from __future__ import annotations

from typing import Any

import pytest

from digests.ingest.hexo import read_post_file
from digests.ingest.text import markdown_to_text
from digests.names import load
from digests.summarize.document import Document
from digests.summarize.events import dated
from digests.summarize.grounding import (
    LIMITS,
    bound,
    ground,
    needs_review,
    split_names,
    wrong_language,
)
from digests.summarize.schema import Digest
from tests.conftest import EXAMPLES, SHANGHAI
from tests.fake_llm import GOOD

SEED_HONEST: dict[str, Any] = {
    "headline": "字节新模型点燃AI影视，CPO需求扩张，节前注意非农与CPI",
    "summary": "今天科技板块大爆发，核心是字节的新模型。花旗称超大规模厂商已明确支持CPO方案。"
    "存储今年是大年。",
    "sections": [
        {
            "name": "影视/IP",
            "points": [
                "炒的是IP库，A股中文在线最大，港股阅文集团",
                "影视股是节前必炒的分支，节后大多兑现，重仓建议节前部分止盈",
            ],
            "stocks": ["中文在线", "阅文集团"],
        },
        {
            "name": "通信",
            "points": [
                "花旗：CPO在功耗、速度、带宽方面优势显著，2027-2028年CPO占比预期超70%",
                "天孚通信深度绑定英伟达，供应链份额高达90%-95%",
                "OCS也在走独立新高，与CPO不冲突",
            ],
            "stocks": [
                "天孚通信",
                "中际旭创",
                "源杰科技、仕佳光子",
                "腾景科技",
                "光库科技",
                "德科立",
            ],
        },
        {
            "name": "计算机",
            "points": [
                "idc方向受益，字节单日50万亿tokens消耗，多模态占比提升",
                "计算机应用推荐大模型拿不到垂直数据的领域",
            ],
            "stocks": ["大位科技", "润泽科技", "新意网集团", "数据港", "科华数据", "艾可蓝"],
        },
        {
            "name": "存储",
            "points": [
                "美光的HBM产能已排到2026年底，传统DRAM也开始供不应求",
                "美光HBM4将被排除在NVIDIA Rubin首年量产供应链之外",
            ],
            "stocks": [],
        },
    ],
    "risks": [
        "美国非农数据周三、CPI周五发布，我们交易到周五就放假",
        "假期若出现黑天鹅，美股可能剧烈震荡",
        "节前有融资杠杆的建议卸掉",
    ],
    "events": [
        {"title": "美国非农", "when": "周三"},
        {"title": "美国CPI", "when": "周五"},
        {"title": "春节休市", "when": "周五"},
    ],
}

STORAGE_HONEST: dict[str, Any] = {
    "headline": "存储涨价周期还没结束",
    "summary": "券商纪要：DRAM合约价一季度环比上涨8%-10%，AI服务器需求持续超预期。"
    "博主认为存储确定性高但不要追高。",
    "sections": [
        {
            "name": "价格",
            "points": ["DRAM合约价一季度环比上涨8%-10%，NAND上涨5%左右"],
            "stocks": [],
        },
        {
            "name": "供需",
            "points": [
                "AI服务器对HBM和高容量DDR5需求持续超预期",
                "三星、SK海力士产能优先给HBM，传统DRAM供给被挤压",
            ],
            "stocks": [],
        },
        {
            "name": "标的",
            "points": ["等回调到20日线附近再分批，不要追高"],
            "stocks": ["兆易创新", "北京君正", "江波龙", "佰维存储", "德明利"],
        },
    ],
    "risks": ["3月中旬美光财报若指引低于预期，板块会有一次调整"],
    "events": [{"title": "美光财报", "when": "3月中旬"}],
}

WEEKLY_HONEST: dict[str, Any] = {
    "headline": "两会窗口与美国非农：科技主线继续持有，仓位七成左右",
    "summary": "两会本周四开幕，政策预期先于数据落地。科技主线更强，不建议为两会题材换掉科技仓位。",
    "sections": [
        {
            "name": "本周节奏",
            "points": ["开幕前三个交易日，基建、军工、国企改革方向容易有资金提前布局"],
            "stocks": [],
        },
        {
            "name": "仓位建议",
            "points": [
                "总仓位维持七成左右，不追高两会题材",
                "科技主线（CPO、IDC、AI应用）继续持有，回调可加",
                "若周五非农大幅超预期导致美股回调，下周一A股低开是加仓机会",
            ],
            "stocks": [],
        },
    ],
    "risks": [
        "美国非农周五晚公布，若大幅低于预期，降息交易会重新升温",
        "美国CPI下周三公布",
        "港股周一恒生科技指数季度调整生效，被动资金会调仓",
    ],
    "events": [
        {"title": "两会开幕", "when": "本周四"},
        {"title": "美国非农", "when": "周五"},
        {"title": "美国CPI", "when": "下周三"},
        {"title": "恒生科技指数季度调整生效", "when": "周一"},
    ],
}

PUBLIC_HONEST: dict[str, Any] = {
    "headline": "节后第一篇：写给新朋友的博客规矩",
    "summary": "会员文章每月更换一次密码，公开文章不需要密码。风格是中长线，不荐股、不带单。",
    "sections": [
        {
            "name": "博客规矩",
            "points": [
                "每天收盘后写一篇复盘，会员文章每月更换一次密码",
                "文中提到的个股只是举例，买卖请自己决定",
            ],
            "stocks": [],
        },
        {
            "name": "节后安排",
            "points": ["节后2月24日开市，第一周重点写AI应用和算力的节后行情"],
            "stocks": [],
        },
    ],
    "risks": [],
    "events": [{"title": "A股节后开市", "when": "2月24日"}],
}


POINT = "CPO+OCS 是新一代交换机趋势"


def digest(**fields: Any) -> Digest:
    base: dict[str, Any] = {
        "headline": "字节新模型带动算力",
        "summary": "科技板块大爆发。",
        "sections": [{"name": "通信", "points": [POINT], "stocks": ["天孚通信"]}],
        "risks": ["假期外盘波动"],
        "events": [{"title": "美国CPI", "when": "周五"}],
    }
    return Digest.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "counted", "check"),
    [
        ({}, {}, lambda d: d == digest()),
        (
            {"headline": "观点" * 100},
            {"headline": 1},
            lambda d: len(d.headline) == LIMITS.headline and d.headline.endswith("…"),
        ),
        (
            {"headline": "占比" * 58 + "超70%以上"},
            {"headline": 1},
            lambda d: d.headline.endswith("超…"),
        ),  # never a cut number: "超7…" would be a claim
        (
            {"summary": "句子。" * 300},
            {"summary": 300 - LIMITS.summary // 3},
            lambda d: LIMITS.summary - 3 < len(d.summary_text) <= LIMITS.summary,
        ),  # whole sentences, as many as fit
        (
            {"sections": [{"name": "板" * 50, "points": [POINT], "stocks": []}]},
            {"section_names": 1},
            lambda d: len(d.sections[0].name) == LIMITS.section_name,
        ),
        (
            {"sections": [{"name": "通信", "points": [POINT] * 7 + ["长" * 151], "stocks": []}]},
            {"points": 2},
            lambda d: [p.text for p in d.sections[0].points] == [POINT] * 6,
        ),
        (
            {
                "sections": [
                    {"name": "通信", "points": [], "stocks": ["天孚通信"] * 13 + ["股" * 31]}
                ]
            },
            {"stocks": 2},
            lambda d: len(d.sections[0].stocks) == 12,
        ),
        (
            {"sections": [{"name": "通信", "points": [POINT], "stocks": []}] * 9},
            {"sections": 1},
            lambda d: len(d.sections) == 8,
        ),
        ({"risks": ["风险"] * 9 + ["险" * 201]}, {"risks": 2}, lambda d: len(d.risks) == 8),
        (
            {
                "events": [{"title": "CPI", "when": "周五"}] * 13
                + [{"title": "会" * 61, "when": "周一"}, {"title": "会", "when": "日" * 41}]
            },
            {"events": 3},
            lambda d: len(d.events) == 12,
        ),
    ],
    ids=[
        "within",
        "headline",
        "number-tail",
        "summary",
        "section-name",
        "points",
        "stocks",
        "sections",
        "risks",
        "events",
    ],
)
def test_bound_cuts_drops_and_counts(
    fields: dict[str, Any], counted: dict[str, int], check: Any
) -> None:
    """Each field past its limit is cut (headline, summary, section name) or dropped whole
    (points, stocks, risks, events, items past the counts), and counted."""
    bounded, over = bound(digest(**fields))
    assert dict(over) == counted and check(bounded)


def test_ground_reports_the_size_cuts_under_over_limit() -> None:
    """meta.dropped gets `over_limit` only when something was cut for size."""
    text = "科技板块大爆发。字节新模型带动算力。CPO+OCS 是新一代交换机趋势，龙头天孚通信。"
    text += "假期外盘波动，CPI周五。"
    _, clean = ground(digest(), title="科技", text=text, names=NAMES)
    assert clean == {}
    _, dropped = ground(digest(headline="观" * 500), title="科技", text=text, names=NAMES)
    assert dropped["over_limit"] == {"headline": 1} and dropped["headline"]


NAMES = load()


def post(name: str) -> dict[str, Any]:
    """A sample post as ground() takes it (with the shipped securities dictionary)."""
    draft = read_post_file(EXAMPLES / name, tz=SHANGHAI)
    text = markdown_to_text(draft.body_markdown).text
    return {"title": draft.title, "text": text, "markdown": draft.body_markdown, "names": NAMES}


SEED = "2-10-zhui-zong.md"


@pytest.mark.parametrize(
    ("name", "honest"),
    [
        (SEED, GOOD),
        (SEED, SEED_HONEST),
        ("2026-02-26-broker-note-storage.md", STORAGE_HONEST),
        ("2026-03-02-weekly-risks.md", WEEKLY_HONEST),
        ("2026-02-20-public-new-year.md", PUBLIC_HONEST),
    ],
    ids=["seed-GOOD", "seed", "storage", "weekly", "public"],
)
def test_honest_digests_of_the_sample_posts_lose_nothing(name: str, honest: Any) -> None:
    """Paraphrases of the real posts keep every item: nothing is dropped; only what the post
    itself lists or dates (stocks of its lists, its dated macro events) may be added, and is
    recorded as added."""
    kept, record = ground(Digest.model_validate(honest), **post(name))
    assert set(record) <= {"added"}
    events = [(e.title, e.when) for e in kept.events]
    assert events[: len(honest["events"])] == [(e["title"], e["when"]) for e in honest["events"]]
    more = [f"{title} {when}" for title, when in events[len(honest["events"]) :]]
    assert record.get("added", {}).get("events", []) == more


@pytest.mark.parametrize(
    ("entry", "names"),
    [
        ("兆易创新、北京君正，江波龙;佰维存储", ["兆易创新", "北京君正", "江波龙", "佰维存储"]),
        ("天孚通信 中际旭创", ["天孚通信", "中际旭创"]),
        ("SK海力士", ["SK海力士"]),
        ("Coherent / Lumentum", ["Coherent", "Lumentum"]),
    ],
)
def test_a_stock_entry_is_split_on_list_separators(entry: str, names: list[str]) -> None:
    """A comma-joined entry is the names it lists."""
    assert split_names(entry) == names


@pytest.mark.parametrize(
    ("text", "name", "kept"),
    [
        ("标的：兆易创新、北京君正、江波龙。", "兆易创新", "603986.SH"),
        ("标的：京东方Ａ、TCL科技。", "京东方A", "000725.SZ"),  # full-width, as listed
        ("标的：京东方A、TCL科技。", "京东方", "000725.SZ"),  # without its share class
        ("我解释一下为啥天孚通信一家独秀。", "天孚通信", "300394.SZ"),  # in prose
        ("花旗-中际旭创交流要点", "中际旭创", "300308.SZ"),
        ("以上几家都涨了。其中兆易创新最强。", "以上", None),  # a function word
        ("其中兆易创新最强，北京君正次之。", "其中", None),
        ("液冷渗透率预计从10%提升到30%。", "提升到", None),  # a phrase
        ("今天机器人板块大涨。", "机器人", None),  # an ordinary word, in prose
        ("标的：机器人、汇川技术、埃斯顿。", "机器人", "300024.SZ"),  # listed: the stock
        ("idc：大位科技，阿里数据港，腾讯的科华数据。", "腾讯", None),  # a platform, abbreviated
        ("腾讯控股一季报很好，腾讯我一直拿着。", "腾讯", "00700.HK"),  # written in full too
        ("标的：兆易创新、北京君正、江波龙、至尚科技。", "至尚科技", ""),  # listed, unknown
        ("标的：兆易创新、性价比一般。", "性价比一般", None),  # a remark, not a name
        ("NEWPS 系列产品放量", "WPS", None),  # inside a longer Latin word
        ("上半年BD交易金额超过去年", "BD", None),  # a short Latin word in prose
        ("| 公司 | 代码 |\n|---|---|\n| 北方华创 | 002371 |", "北方华创", "002371.SZ"),
    ],
)
def test_a_stock_is_a_name_the_post_names(text: str, name: str, kept: str | None) -> None:
    """A digest's stock is an entry of the securities dictionary the post writes (ordinary
    words and abbreviations only where listed, or written in full), with its code in
    `codes`; a name the dictionary lacks only where the post lists it among names, in the
    shape of a company's name; never a function word or a phrase."""
    section = {"name": "计算机", "points": [], "stocks": [name]}
    result, record = ground(digest(sections=[section]), title="", text=text, names=NAMES)
    first = result.sections[0] if result.sections else None
    mine = first.stocks if first and first.name == "计算机" else []
    if kept is None:
        assert mine == [] and record["stocks"][0]["text"] == name
    else:  # as the post writes it; the rest of a list it is in may be added after it
        assert mine and result.codes.get(mine[0], "") == kept


def test_claims_keep_their_citation_and_the_digest_the_sentences_cited() -> None:
    """A kept claim carries the numbers of the sentences it rests on (given or found), the
    digest carries those sentences' text; a claim citing a sentence the post lacks, or one it
    contradicts, is dropped with the reason."""
    source = post(SEED)
    doc = Document(source["title"], source["markdown"])
    support = next(s.number for s in doc.sentences if "超大规模厂商已明确支持" in s.text)
    leverage = next(s.number for s in doc.sentences if "建议把杠杆卸掉" in s.text)
    claims = {
        **GOOD,
        "sections": [
            {
                "name": "通信",
                "points": [
                    {"text": "超大规模厂商已明确支持CPO方案", "cites": [support]},
                    {"text": "CPO占比预期超70%", "cites": []},
                    {"text": "CPO需求扩张", "cites": [999]},
                ],
                "stocks": ["天孚通信"],
            }
        ],
        "risks": [{"text": "节前建议加融资杠杆，满仓过节", "cites": [leverage]}],
    }
    kept, record = ground(Digest.model_validate(claims), **source)
    points = kept.sections[0].points
    assert [p.text for p in points] == ["超大规模厂商已明确支持CPO方案", "CPO占比预期超70%"]
    assert points[0].cites == [support] and points[1].cites
    assert all(kept.sources[str(n)] == doc.sentences[n - 1].text for p in points for n in p.cites)
    assert "does not have" in record["points"][0]["why"]
    assert kept.risks == [] and "加融资杠杆" in record["risks"][0]["why"]
    assert kept.codes["天孚通信"] == "300394.SZ"


def test_an_unsupported_headline_becomes_the_title_and_a_summary_keeps_its_grounded_sentences() -> (
    None
):
    """Neither is fatal: the headline falls back to the post's title, the summary keeps the
    sentences a passage supports; both record what went."""
    bad = {
        **GOOD,
        "headline": "白酒估值修复，消费复苏可期",
        "summary": "科技板块大爆发，核心是字节新模型。白酒板块估值修复，消费复苏可期。",
    }
    source = post(SEED)
    kept, record = ground(Digest.model_validate(bad), **source)
    assert kept.headline == source["title"]
    assert kept.summary_text == "科技板块大爆发，核心是字节新模型。"
    assert record["headline"] == [bad["headline"]]
    assert [d["text"] for d in record["summary"]] == ["白酒板块估值修复，消费复苏可期。"]


@pytest.mark.parametrize(
    ("title", "when", "kept"),
    [
        ("美国CPI", "周五", "周五"),
        ("美国非农", "周三", "周三"),
        ("春节休市", "周五", "周五"),  # "交易到周五就放假了"
        ("美国非农", "周五", None),  # 非农 is 周三; 周五 is CPI's
        ("卖方小熊的总结", "周五", None),  # not a happening
        ("花旗-中际旭创交流要点", "周五", None),  # a heading
        ("美国CPI", " tonight", None),  # not the post's wording, and no 今晚 next to CPI
        ("美国CPI", "", None),
    ],
)
def test_an_event_is_a_happening_dated_next_to_it_in_the_posts_words(
    title: str, when: str, kept: str | None
) -> None:
    """`when` stands near the title's happening in one clause, in the post's own wording."""
    source = post(SEED)
    assert dated(Document(source["title"], source["markdown"]), title, when) == kept


def test_a_section_is_completed_from_the_list_the_post_gives_under_its_name() -> None:
    """A weak model's 计算机 section with its stocks only inside the points gets the names the
    post lists under 计算机 (checked there, 数据港 not 阿里数据港), recorded under added."""
    weak = {
        **GOOD,
        "sections": [
            {"name": "计算机", "points": ["idc方向受益，首推大位科技、润泽科技"], "stocks": []}
        ],
    }
    kept, record = ground(Digest.model_validate(weak), **post(SEED))
    stocks = kept.sections[0].stocks
    assert {"大位科技", "润泽科技", "数据港", "科华数据", "晶泰控股"} <= set(stocks)
    assert "阿里数据港" not in stocks and len(stocks) <= LIMITS.stocks
    # the lists the model left out became sections of their own; 交易到周五就放假 an event
    assert [s.name for s in kept.sections] == ["计算机", "OCS", "通信", "传媒"]
    assert record["added"]["stocks"][: len(stocks)] == stocks
    assert record["added"]["sections"] == ["OCS", "通信", "传媒"]
    assert record["added"]["events"] == ["休市 周五"]


def test_a_digest_of_a_chinese_post_written_in_english_is_the_wrong_language() -> None:
    """Mostly Latin text is the wrong language for a Chinese post, and needs review; Latin
    names inside Chinese text are not."""
    english = digest(
        headline="Tech stocks rallied on ByteDance's new model",
        summary="CPO demand is expanding, says Citi.",
        sections=[
            {"name": "通信", "points": ["CPO and OCS are the new switch trend"], "stocks": []}
        ],
        risks=["Payrolls and CPI land during the holiday"],
    )
    assert wrong_language(english) and needs_review(english)
    assert not wrong_language(digest()) and not needs_review(digest())
    assert not wrong_language(Digest.model_validate(GOOD))
    assert not wrong_language(english, source="An English post about tech stocks")


def test_a_digest_of_an_english_post_in_english_needs_no_review() -> None:
    """The language check is against the post: English for an English post is right."""
    english = digest(
        headline="Tech stocks rally",
        summary="CPO demand is expanding.",
        sections=[{"name": "Optics", "points": ["CPO and OCS are the new trend"], "stocks": []}],
        risks=["Payrolls and CPI land during the holiday"],
        events=[],
    )
    assert wrong_language(english) and needs_review(english)  # for a Chinese post
    assert not needs_review(english, source="An English note on tech stocks and CPO demand")


def test_a_list_no_section_is_named_after_completes_the_section_that_speaks_of_it() -> None:
    """ "OCS代表：源杰科技、…" in the seed is a list of its own: a 光模块 section whose point
    speaks of OCS gets its names; the 通信 list still goes to the 通信 section only."""
    weak = {
        **GOOD,
        "sections": [
            {"name": "光模块", "points": ["OCS也在走独立新高"], "stocks": []},
            {"name": "通信", "points": ["首推cpo+ocs，这是新一代交换机的趋势"], "stocks": []},
        ],
    }
    kept, _ = ground(Digest.model_validate(weak), **post(SEED))
    optics, telecom = (set(s.stocks) for s in kept.sections[:2])
    assert {"源杰科技", "仕佳光子", "光库科技", "德科立"} <= optics
    assert "天孚通信" in telecom and "天孚通信" not in optics
