"""Does the post say this? Directions and negations (polarity.py) as tables of cases, and
claims against the seed post's sentences (claims.Evidence): the issue's contradictions are
caught, honest paraphrases are kept, citations are checked and found."""

from __future__ import annotations

import pytest

from digests.ingest.hexo import read_post_file
from digests.names import load
from digests.summarize import polarity
from digests.summarize.claims import Evidence
from digests.summarize.document import Document
from digests.summarize.stocks import finder
from digests.summarize.units import dates, numbers
from tests.conftest import EXAMPLES, SHANGHAI


@pytest.mark.parametrize(
    ("claim", "source", "contradicts"),
    [
        ("节前建议加融资杠杆", "节前如果有融资杠杆的话，建议把杠杆卸掉", True),
        ("超大规模厂商已明确反对cpo方案", "目前超大规模厂商已明确支持cpo方案。", True),
        ("ddr5报价环比下调15%-20%", "ddr5报价环比上调15%-20%", True),
        ("超大规模厂商尚未支持cpo方案", "超大规模厂商已明确支持cpo方案", True),
        ("建议把光模块换成存储", "有朋友问要不要把光模块换成存储，我的建议是不要", True),
        ("下个季度会好", "不要幻想下个季度会好", True),
        ("今明两天加仓", "今天明天不加仓", True),
        ("不建议为两会题材换掉科技仓位", "所以我不建议为了两会题材把科技仓位换掉", False),
        ("今天如此强势", "没想到今天如此强势", False),  # 没想到 negates nothing
        ("议息之后再看", "议息之后再看要不要加回来", False),  # 要不要 is a question
        ("科技主线不动但不加仓", "科技主线不动，也不加仓", False),  # a contrast ends 不动
        ("两家路线不同", "两家的路线不一样", False),
        ("追高性价比不高", "追高的性价比不高", False),
        ("若没降息光模块会回撤", "市场预期降息25个基点", False),  # a hypothetical
        ("一天涨跌8个点", "一天涨了8个点", False),  # 涨跌 is movement, not a way
        ("不建议梭哈一条线", "有的朋友喜欢梭哈一条线，我不建议", False),
    ],
)
def test_a_claim_pointing_the_other_way_is_a_conflict(
    claim: str, source: str, contradicts: bool
) -> None:
    """Antonyms on one axis or family (加杠杆/卸杠杆, 支持/反对, 上调/下调) and negations
    (flipping a direction, or negating what the other side says plainly) conflict; idioms,
    questions, contrasts, hypotheticals and words for movement do not."""
    assert bool(polarity.conflict(claim, source)) is contradicts, polarity.conflict(claim, source)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("股价占比超七成，涨了15%-20%", {"7", "15", "20"}),
        ("2027-2028年占比40.50%", {"2027", "2028", "40.5"}),
        ("周三人大开幕", set()),  # 三 of 周三 is a day, not a number
    ],
)
def test_numbers_are_read_in_digits(text: str, found: set[str]) -> None:
    """Numbers compare as digits, Chinese ones before 成/倍 too; a weekday is no number."""
    assert numbers(text) == found


def test_days_are_read_in_one_spelling() -> None:
    """星期五 and 本周五 are 周五; 下周五 is not."""
    assert dates("星期五和本周五") == {"周五"} and dates("下周五") == {"下周五"}


@pytest.fixture(scope="module")
def seed() -> Evidence:
    draft = read_post_file(EXAMPLES / "2-10-zhui-zong.md", tz=SHANGHAI)
    return Evidence(Document(draft.title, draft.body_markdown), finder(load()))


@pytest.mark.parametrize(
    "claim",
    [
        "炒的是IP库，A股中文在线最大，港股阅文集团",
        "花旗：CPO在功耗、速度、带宽方面优势显著，2027-2028年CPO占比预期超70%",
        "天孚通信深度绑定英伟达，供应链份额高达90%-95%",
        "美光的HBM产能已排到2026年底，传统DRAM也开始供不应求",
        "美光HBM4将被排除在NVIDIA Rubin首年量产供应链之外",
        "节前有融资杠杆的建议卸掉",
        "博主认为存储今年是大年",
    ],
)
def test_honest_paraphrases_hold_with_the_sentences_found_for_them(
    seed: Evidence, claim: str
) -> None:
    """A claim citing nothing is checked against the sentences that support it best, and
    keeps them as its citation."""
    verdict = seed.check(claim)
    assert verdict.holds, verdict.reason
    assert verdict.found and verdict.cites


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ("节前建议加融资杠杆，满仓过节", "加融资杠杆"),
        ("超大规模厂商已明确反对CPO方案", "反对"),
        ("瑞银：CPO占比预期超70%", "瑞银"),
        ("中际旭创属于补涨，天孚通信成了机构重仓", "中际旭创"),
        ("SK海力士HBM4将被排除在NVIDIA Rubin首年量产供应链之外", "sk海力士"),
        ("美光的HBM产能已排到2027年底", "2027"),
        ("白酒估值修复", "say little"),
        ("花旗：超大规模厂商尚未支持CPO方案", "未支持"),
    ],
    ids=[
        "leverage",
        "oppose",
        "source",
        "swap",
        "swap-in-sentence",
        "number",
        "invented",
        "not-yet",
    ],
)
def test_contradictions_of_the_seed_are_caught(seed: Evidence, claim: str, why: str) -> None:
    """Each way of contradicting a post (a direction reversed, negated, two subjects swapped,
    a number changed, a source the post never names, a claim it never makes) drops the
    claim, with a reason naming what is wrong."""
    verdict = seed.check(claim)
    assert not verdict.holds and why in verdict.reason.lower(), verdict.reason


@pytest.mark.parametrize(
    ("claim", "source", "why"),
    [
        ("配比光四成、铜三成、PCB两成", "光四成，PCB三成，铜两成，剩下一成机动。", "gives 铜 三"),
        ("A股估值比港股便宜一半", "港股的估值比A股便宜差不多一半。", "compares a股 with 港股"),
    ],
)
def test_a_share_or_a_comparison_given_the_other_way_is_caught(
    claim: str, source: str, why: str
) -> None:
    """A share given to the wrong subject (铜三成 of 铜两成), or two markets compared the
    other way round, contradicts the sentence that says them."""
    evidence = Evidence(Document("t", source), lambda text: [])
    verdict = evidence.check(claim, [1])
    assert not verdict.holds and why in verdict.reason, verdict.reason
    assert evidence.check(source.rstrip("。"), [1]).holds


def test_a_citation_is_checked_and_a_missing_sentence_is_no_crash(seed: Evidence) -> None:
    """A claim citing its sentence holds with that citation; one citing a sentence the post
    does not have is dropped, not a crash; one citing the wrong sentence is re-cited to the
    sentence that holds it."""
    number = next(s.number for s in seed.doc.sentences if "超大规模厂商已明确支持" in s.text)
    right = seed.check("超大规模厂商已明确支持CPO方案", [number])
    assert right.holds and right.cites == (number,) and not right.found
    missing = seed.check("超大规模厂商已明确支持CPO方案", [len(seed.doc) + 5])
    assert not missing.holds and "does not have" in missing.reason
    wrong = seed.check("超大规模厂商已明确支持CPO方案", [1])
    assert wrong.holds and wrong.found and number in wrong.cites
    marked = seed.check(f"超大规模厂商已明确支持CPO方案[{number}]")
    assert marked.holds and marked.cites == (number,)


def test_a_contradiction_of_its_own_citation_is_not_looked_for_elsewhere(
    seed: Evidence,
) -> None:
    """A claim that contradicts the sentence it cites is dropped even if other sentences
    could be read to support it."""
    number = next(s.number for s in seed.doc.sentences if "建议把杠杆卸掉" in s.text)
    verdict = seed.check("节前建议加融资杠杆", [number])
    assert not verdict.holds and verdict.cites == (number,)
