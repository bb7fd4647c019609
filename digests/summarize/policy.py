"""The digest policy (DIGEST_POLICY): how close to securities advice a digest may come.

- `full`: the digest as grounding leaves it (today's behaviour);
- `no_advice`: sectors, theses, named stocks and risks stay; trading instructions go: price
  targets, buy or sell points, adding, cutting or stopping positions, position sizes, promises
  of returns. The prompt asks for it; enforce() checks every point, risk, section name, headline
  and summary sentence after the model answered (it may ignore the prompt), and the offline
  digest goes through the same check;
- `sectors_only`: as no_advice, and no stock names anywhere: the stock lists are emptied and a
  text naming a known stock (or a stock code) loses the clauses that name it.

The term list is kept here and only here (ADVICE_TERMS), extended by DIGEST_POLICY_TERMS. What
was removed is recorded under `dropped["policy"]`, beside grounding's own drops.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from digests import names as dictionary
from digests.summarize.document import Document
from digests.summarize.grounding import split_names
from digests.summarize.schema import Claim, Digest, Event, Section
from digests.summarize.stocks import Stocks

POLICY_VERSION = "p1"  # change it when ADVICE_TERMS change: every non-full cache key changes

_N = r"[\d一二三四五六七八九十两半]"
# Trading instructions, as regular expressions over NFKC text without whitespace. Facts about
# the market that read alike ("机构重仓", "被动资金调仓", "北向净买入") are left alone.
ADVICE_TERMS: tuple[str, ...] = (
    r"仓位",
    r"[满半空轻清加减建补平]仓",
    rf"{_N}+(?:[-~～到至]{_N}+)?成(?:仓|左右|以[上下]|[^，。；]{{0,4}}合理)",
    r"(?:维持|保持|控制在?|降到|降至|加到|提到)[^，。；]{0,4}" + _N + r"+成",
    r"融资杠杆|杠杆[^，。；]{0,3}卸|卸[^，。；]{0,3}杠杆|(?:带|加|上)杠杆",
    r"目标价|目标位|止盈|止损|割肉",
    r"(?<!净)买入|(?<!净)卖出|买点|卖点|低吸|高抛|逢低|逢高|抄底|追高|上车|下车",
    r"(?:回调|回落|下跌|低开)[^，。；]{0,4}(?:可|就|再)?(?:加|买|接)(?![速快剧])",
    r"(?:加仓|买入|上车)机会|(?:继续|建议|坚定)持有|拿住|(?:建议|可以?|逢低)布局",
    r"看到\d+(?:\.\d+)?元|\d+(?:\.\d+)?元(?:附近|以下|以上)?(?:买|卖|入|出)",
    r"稳赚|包赚|保本|必涨|只赚不赔|保证收益|收益保证|至少翻倍|有望翻倍|翻倍股|\d+倍股",
)
# A-share and Hong Kong codes (600519, 300308, 00700.HK): 知识星球 bans them with the names.
STOCK_CODE = re.compile(r"(?<![\d.])(?:[036]\d{5}|688\d{3}|\d{5}\.HK)(?![\d.])", re.I)
_CLAUSE = re.compile(r"[^，,。；;！!？?]+[，,。；;！!？?]?")
_SENTENCE = re.compile(r"[^。？?！!]+[。？?！!]?")
_MIN_CHARS = 6  # a text left shorter than this by the cut says nothing: dropped


class DigestPolicy(StrEnum):
    """DIGEST_POLICY: what a digest may contain."""

    full = "full"
    no_advice = "no_advice"
    sectors_only = "sectors_only"


@dataclass(frozen=True)
class PolicyRules:
    """A policy and the operator's extra terms (DIGEST_POLICY_TERMS, plain words)."""

    policy: DigestPolicy = DigestPolicy.full
    extra_terms: tuple[str, ...] = ()
    # the securities dictionary the stock names are found with (None: the shipped one)
    dictionary: Any = field(default=None, repr=False, compare=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        extra = [re.escape(_normal(term)) for term in self.extra_terms if term.strip()]
        object.__setattr__(self, "_pattern", re.compile("|".join([*ADVICE_TERMS, *extra])))

    @property
    def strict(self) -> bool:
        """Whether advice is removed (every policy but `full`)."""
        return self.policy is not DigestPolicy.full

    def key(self) -> str:
        """The policy's part of the digest cache key: "" under `full` (the keys made before
        policies existed stay valid), else the policy, the term list's version and the extra
        terms: a digest is never reused under another policy or another list."""
        if not self.strict:
            return ""
        terms = "\x1f".join(sorted(_normal(t) for t in self.extra_terms if t.strip()))
        digest = hashlib.sha256(terms.encode()).hexdigest()[:12]
        return f"{self.policy.value}/{POLICY_VERSION}/{digest}"

    @property
    def hides_names(self) -> bool:
        """Whether stock names are hidden too (sectors_only)."""
        return self.policy is DigestPolicy.sectors_only

    def names(self, digest: Digest, title: str, text: str, markdown: str) -> list[str]:
        """The stock names enforce() must hide: none but under sectors_only (the offline
        pass that finds them is the check's dearest part)."""
        if not self.hides_names:
            return []
        return stock_names(digest, title, text, markdown, self.dictionary or dictionary.load())

    def advises(self, text: str) -> bool:
        """Whether `text` holds a trading instruction (a term of the list)."""
        return self._pattern.search(_normal(text)) is not None


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def enforce(
    digest: Digest, rules: PolicyRules, *, title: str, names: Iterable[str] = ()
) -> tuple[Digest, dict[str, Any]]:
    """The digest as `rules` allow it, and what was removed (per field, empty when nothing
    was). `names` are the stocks known to the caller (the model's and the post's lists): under
    sectors_only no text may name one. A headline that goes becomes the post's title when the
    title passes, else it is left empty (and the digest then needs review)."""
    if not rules.strict:
        return digest, {}
    known = _known(names, digest) if rules.hides_names else []
    removed: dict[str, list[str]] = {}

    def note(where: str, text: str) -> None:
        removed.setdefault(where, []).append(text)

    def clean(text: str, where: str) -> str:
        """The text, or "" when it advises; with the clauses naming a stock cut out."""
        if rules.advises(text):
            note(where, text)
            return ""
        if known and (kept := _without_names(text, known)) != text:
            note(where, text)
            return kept
        return text

    def claims(items: list[Claim], where: str) -> list[Claim]:
        cleaned = ((clean(c.text, where), c.cites) for c in items)
        return [Claim(text=text, cites=cites) for text, cites in cleaned if text]

    sections: list[Section] = []
    for section in digest.sections:
        if rules.advises(section.name):  # "仓位建议": the whole section is instructions
            note("sections", section.name)
            continue
        points = claims(section.points, "points")
        name = _name_without_names(section.name, known)
        if name != section.name:
            note("section_names", section.name)
        stocks = section.stocks
        if rules.hides_names and stocks:
            removed.setdefault("stocks", []).extend(stocks)
            stocks = []
        if points or stocks:
            sections.append(Section(name=name, points=points, stocks=stocks))
        else:
            note("sections", section.name)
    headline = clean(digest.headline, "headline") if digest.headline.strip() else ""
    if not headline and digest.headline.strip():
        headline = title if title and not rules.advises(title) and not _names(title, known) else ""
    events = []
    for event in digest.events:
        if rules.advises(event.title) or _names(event.title, known):
            note("events", f"{event.title} {event.when}".strip())
        else:
            events.append(Event(title=event.title, when=event.when))
    kept = Digest(
        headline=headline,
        summary=claims(digest.summary, "summary"),
        sections=sections,
        risks=claims(digest.risks, "risks"),
        events=events,
        codes={} if rules.hides_names else digest.codes,
        sources=_sources(digest.sources, rules, known),
    )
    return kept, ({"policy": removed} if removed else {})


# Halves of a four-character name that say nothing on their own ("天孚通信" → 天孚, not 通信).
_GENERIC = frozenset(
    re.findall(
        r"..",
        "通信科技股份技术数据电子集团控股智能信息软件网络能源电影在线中国医药生物电气材料光电证券银行汽车新材精密传媒文化环境电力"
        "重工实业发展国际",
    )
)


def _sources(sources: dict[str, str], rules: PolicyRules, known: list[str]) -> dict[str, str]:
    """The post's sentences the claims cite, as the policy lets a reader see them (the page
    shows them on a tap): without advice, and under sectors_only without the clauses naming a
    stock; a sentence left with nothing is not shown."""
    shown = {number: scrub(text, rules, known) for number, text in sources.items()}
    return {number: text for number, text in shown.items() if text.strip()}


def stock_names(digest: Digest, title: str, text: str, markdown: str, names: Any) -> list[str]:
    """Every stock name a sectors_only digest must not show: the model's lists (before
    grounding kept only the post's names), the stocks the post names (`names`: the securities
    dictionary) as it writes them, and the short forms the post uses for them."""
    found = [n for s in digest.sections for entry in s.stocks for n in split_names(entry)]
    if markdown or text:
        stocks = Stocks(Document(title, markdown or text), names)
        found += [n.name for n in stocks.named.values() if n.counts] + sorted(stocks.written)
    return found + short_names(found, f"{title}\n{text}")


def recheck(digest: Digest, rules: PolicyRules, *, title: str, text: str, markdown: str) -> Digest:
    """A stored digest as the policy in force allows it, whatever policy it was made under
    (a publication made before DIGEST_POLICY changed is read and sent again later)."""
    if not rules.strict:
        return digest
    return enforce(digest, rules, title=title, names=rules.names(digest, title, text, markdown))[0]


def scrub(text: str, rules: PolicyRules, names: Iterable[str] = ()) -> str:
    """Any other text readers are shown under a strict policy (search snippets, /ask passages
    and answers): without its sentences that advise and, under sectors_only, without the
    clauses that name one of `names` (the post's stocks: rules.names())."""
    if not rules.strict:
        return text
    known = sorted({n for n in names if len(n) >= 2}, key=len, reverse=True)
    kept = []
    for sentence in _SENTENCE.findall(text):
        if rules.advises(sentence):
            continue
        kept.append(_without_names(sentence, known) if known else sentence)
    return "".join(kept)


def short_names(names: Iterable[str], post: str) -> list[str]:
    """The short forms the post itself uses for the four-character names ("中际" and "旭创"
    for 中际旭创, "天孚" for 天孚通信): a half of a name that the post writes outside the
    full name. Generic halves (通信, 科技…) are never taken for a name."""
    full = sorted({n for n in names if len(n) >= 2}, key=len, reverse=True)
    rest = post
    for name in full:
        rest = rest.replace(name, "\x00")
    found = []
    for name in full:
        if len(name) == 4 and all("\u4e00" <= ch <= "\u9fff" for ch in name):
            found += [h for h in (name[:2], name[2:]) if h not in _GENERIC and h in rest]
    return list(dict.fromkeys(found))


def _known(names: Iterable[str], digest: Digest) -> list[str]:
    """Every stock name to hide, longest first (so "SK海力士" goes before "海力士")."""
    found = {n.strip() for n in names} | {n.strip() for s in digest.sections for n in s.stocks}
    return sorted((n for n in found if len(n) >= 2), key=len, reverse=True)


def _names(text: str, known: list[str]) -> bool:
    """Whether `text` names a known stock or carries a stock code."""
    if not known:
        return False
    folded = _normal(text).casefold()
    return bool(STOCK_CODE.search(folded)) or any(_normal(n).casefold() in folded for n in known)


def _name_without_names(name: str, known: list[str]) -> str:
    """A section's name with the stock names taken out ("中文在线/影视" → "影视")."""
    if not _names(name, known):
        return name
    for stock in known:
        name = re.sub(re.escape(stock), "", name, flags=re.I)
    name = STOCK_CODE.sub("", name).strip(" /、，,+&和及与")
    return name or "其他"


def _without_names(text: str, known: list[str]) -> str:
    """`text` without the clauses that name a stock (and the short ones right after them);
    "" when too little is left to say anything."""
    if not _names(text, known):
        return text
    clauses: list[str] = []
    cut = False  # a short clause after a name ("天孚通信做核心配件，属于补涨") is its predicate
    for clause in _CLAUSE.findall(text):
        cut = _names(clause, known) or (cut and _chars(clause) < _MIN_CHARS)
        if not cut and clause.strip():
            clauses.append(clause)
    kept = "".join(clauses).strip().rstrip("，,、；;：:")
    if _chars(kept) < _MIN_CHARS:
        return ""
    return kept if kept.endswith(("。", "！", "？", "…")) else f"{kept}。"


def _chars(text: str) -> int:
    return sum(ch.isalnum() for ch in text)
