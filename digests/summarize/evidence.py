"""What counts as the post saying something: the lexical tests behind the grounding gate.

- A claim (point, risk, headline, summary sentence) is supported by a *passage*: a window of the
  post where most of the claim's characters occur together (Chinese as character bigrams, Latin
  words and numbers whole), and which holds every named entity of the claim. A passage is
  needed because a check against the whole post lets "英伟达出局" through where the post says
  美光出局 and names 英伟达 a paragraph later.
- A stock is a whole name in the post: Latin names between word boundaries, Chinese names not
  merely a piece of a longer name ("数据港" inside "阿里数据港" is not a name of its own).
- An event names a dated happening whose date the post gives next to it, in its own words.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable

_CJK = "\u4e00-\u9fff"
_TOKEN = re.compile(rf"[{_CJK}]|[a-z][a-z0-9]*|\d+(?:\.\d+)?|[^\s{_CJK}a-z0-9]+")
BREAK = "|"
# Most of a claim, not all of it: an honest paraphrase glues the post's words with its own
# ("与", "重叠"). Of all its characters (names and Latin words found count as covered) at least
# SUPPORT, and of what it says besides names at least SAID, so that "英伟达出局" is not half
# supported by any passage naming 英伟达. Measured on the seed with support(): the weakest
# honest items (GOOD's risk and its IP point) 1.14-1.17; invented claims naming nothing
# ("白酒估值修复", "影视节后继续上涨", "券商迎来政策利好") 0.38-0.88.
SUPPORT, SAID = 0.35, 0.25
# Companies and institutions these posts name without listing them as stocks: in a claim they
# are entities like a stock name, and must be in the supporting passage.
NAMED = (
    *("英伟达", "美光", "三星", "海力士", "台积电", "英特尔", "高通", "博通", "苹果", "谷歌"),
    *("微软", "亚马逊", "特斯拉", "华为", "阿里", "腾讯", "字节", "百度", "小米", "美团", "京东"),
    *("花旗", "高盛", "摩根", "美联储", "央行", "港股", "美股", "A股"),
)
# A name written after a platform it serves ("阿里数据港", "腾讯的科华数据") is that platform's
# supplier, not a listed name; these endings are the platforms' own listed companies.
PATRONS = ("阿里", "腾讯", "字节", "百度", "华为", "英伟达", "苹果", "小米", "美团", "京东")
_OWN = ("巴巴", "控股", "集团", "健康", "音乐", "影业", "云", "汽车", "物流")
# Words that open a list of names ("龙头天孚通信，小弟至尚科技"); the extractive pass reads lists
# after these, a name after one (or after 比如) stands on its own.
TRIGGERS = ("标的", "关注", "首推", "推荐", "龙头", "小弟", "代表", "包括", "还有")
_HEADING_LIKE = re.compile(r"^\s*[^-\s].{0,29}(?<![。！？.!?，,：:；;])\s*$")
_GLUE = set("的是和与及跟或等在给有了对把被从为如像还也都即")
_SEPARATORS = re.compile(rf"[^\w{_CJK}]+|_")  # anything but a letter, digit or CJK character


def tokens(text: str) -> list[str]:
    """The units text is compared in: CJK characters, Latin words, numbers, and BREAK for a
    run of punctuation (whitespace is nothing: "中际 旭创" is 中际旭创)."""
    found = _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    return [t if t[0].isalnum() else BREAK for t in found]


def spaced(text: str) -> str:
    """NFKC, lower case, each run of whitespace one space: the form names are matched in (a
    space separates names as a comma does)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).lower().strip()


def joined(text: str) -> str:
    """Text as its tokens run together: the form names are looked for in."""
    return "".join(t for t in tokens(text) if t != BREAK)


def _cjk(token: str) -> bool:
    return "\u4e00" <= token[0] <= "\u9fff"


class Post:
    """A post indexed for passage look-ups: where each bigram, word and number occurs."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        # a passage is read under its heading: "花旗-中际旭创交流要点" says whose note it is
        self.headings: list[tuple[int, str]] = [(0, "")]
        for line in text.splitlines():
            if _HEADING_LIKE.match(line):
                self.headings.append((len(self.tokens), joined(line)))
            self.tokens += [*tokens(line), BREAK] if line.strip() else []
        self.where: dict[str, list[int]] = defaultdict(list)
        for i, token in enumerate(self.tokens):
            if token == BREAK:
                continue
            self.where[token].append(i)
            if _cjk(token) and i + 1 < len(self.tokens) and _cjk(self.tokens[i + 1]):
                self.where[token + self.tokens[i + 1]].append(i)
        self.spaced = spaced(text)

    def _has(self, unit: str, start: int, end: int) -> bool:
        places = self.where.get(unit, [])
        i = bisect_left(places, start)
        return i < len(places) and places[i] < end

    def supports(self, claim: str, entities: Iterable[str] = ()) -> bool:
        """Some window of the post holds enough of the claim (SUPPORT, SAID) and all of its
        entities (the NAMED companies and `entities` it names, Latin words, numbers)."""
        return self.support(claim, entities) >= 1.0

    def support(self, claim: str, entities: Iterable[str] = ()) -> float:
        """How well the best window supports the claim: 1.0 is just enough, 0.0 is no window
        holding its entities."""
        units = tokens(claim)
        words = [t for t in units if t != BREAK]
        return self._best(units, words, entities) if words else 1.0

    def _best(self, units: list[str], words: list[str], entities: Iterable[str]) -> float:
        grams: list[list[str]] = []  # per claim unit, the post units that would cover it
        for i, token in enumerate(units):
            if token == BREAK:
                continue
            if not _cjk(token):
                grams.append([token])
                continue
            left = units[i - 1] + token if i > 0 and _cjk(units[i - 1]) else ""
            right = token + units[i + 1] if i + 1 < len(units) and _cjk(units[i + 1]) else ""
            grams.append([g for g in (left, right) if g] or [token])
        must = {t for t in words if not _cjk(t)}
        claimed = "".join(words)
        names = [n for n in {joined(e) for e in (*NAMED, *entities)} if n and n in claimed]
        # a name is checked as a name; coverage is of what the claim says about it, so
        # "英伟达出局" is not half supported by any passage that names 英伟达
        named = _inside(words, names)
        said = [options for i, options in enumerate(grams) if i not in named and _cjk(words[i])]
        width = max(2 * len(words), 24)
        starts = sorted({p for options in grams for g in options for p in self.where.get(g, [])})
        best = 0.0
        for start in starts:
            end = start + width
            if not all(self._has(t, start, end) for t in must):
                continue
            if names and not self._holds(names, start, end):
                continue
            found = [any(self._has(g, start, end) for g in options) for options in said]
            share = sum(found) / len(said) if said else 1.0
            total = (sum(found) + len(grams) - len(said)) / len(grams)
            best = max(best, min(total / SUPPORT, share / SAID))
        return best

    def _holds(self, names: list[str], start: int, end: int) -> bool:
        heading = self.headings[bisect_right(self.headings, (start, "\uffff")) - 1][1]
        window = heading + "".join(self.tokens[max(start - 4, 0) : end + 4]).replace(BREAK, "")
        # a four-character name may go by its first two in prose: 天孚通信 is "天孚"
        return all(name in window or (len(name) >= 4 and name[:2] in window) for name in names)

    def summed_up(self, claim: str, entities: Iterable[str] = ()) -> bool:
        """A headline or summary sentence sums up more than one passage: it is supported as a
        whole, or clause by clause ("花旗认为CPO需求扩张，超大规模厂商已支持")."""
        if self.supports(claim, entities):
            return True
        clauses = [c for c in re.split(r"[，,；;：:！!]", claim) if c.strip()]
        return len(clauses) > 1 and all(self.supports(c, entities) for c in clauses)

    def names(self, name: str) -> bool:
        """`name` is a whole name somewhere in the post (see whole_name)."""
        target = spaced(name)
        return bool(target) and any(
            whole_name(self.spaced, start, len(target)) for start in _find_all(self.spaced, target)
        )


def _inside(words: list[str], names: list[str]) -> set[int]:
    """Indexes of the claim's words that spell one of the Chinese names."""
    inside: set[int] = set()
    for name in names:
        if not all(_cjk(ch) for ch in name):
            continue
        for k in range(len(words) - len(name) + 1):
            if "".join(words[k : k + len(name)]) == name:
                inside.update(range(k, k + len(name)))
    return inside


def _find_all(text: str, target: str) -> Iterable[int]:
    start = text.find(target)
    while start >= 0:
        yield start
        start = text.find(target, start + 1)


def whole_name(text: str, start: int, size: int) -> bool:
    """The name at text[start:start+size] stands on its own: Latin edges are word boundaries,
    and a Chinese name is its list item, or sits in prose (a clause 3+ characters longer), or
    touches a glue word ("腾讯的科华数据", "龙头天孚通信", "依米康等"), not a piece of a
    slightly longer name ("新意网" of 新意网集团)."""
    end = start + size
    before, after = text[start - 1 : start], text[end : end + 1]
    if (text[start].isascii() and before.isascii() and before.isalnum()) or (
        text[end - 1].isascii() and after.isascii() and after.isalnum()
    ):
        return False  # "WPS" inside a longer Latin word
    left = _SEPARATORS.split(text[:start])[-1]
    right = _SEPARATORS.split(text[end:])[0]
    if (left and left[-1].isascii()) or (right and right[0].isascii()):
        return False  # glued to Latin letters or digits: "SK海力士" is not "海力士"
    if len(left) + len(right) >= 3:
        return True
    left_ok = not left or left[-1] in _GLUE or left.endswith((*TRIGGERS, "比如", *PATRONS))
    right_ok = not right or right[0] in _GLUE
    return left_ok and right_ok


def without_patron(name: str) -> str:
    """阿里数据港 → 数据港: a platform's name written before the name of its supplier."""
    for patron in PATRONS:
        rest = name.removeprefix(patron).removeprefix("的")
        if rest != name and len(rest) >= 2 and not rest.startswith(_OWN):
            return rest
    return name


def patron_prefixed(name: str) -> bool:
    """A platform's name before another name ("阿里数据港"), not a listed company's own."""
    return without_patron(name) != name


# A dated happening: data releases, meetings, earnings, market closures, listings…
_HAPPENING = re.compile(
    r"非农|就业|cpi|pce|ppi|gdp|pmi|fomc|议息|利率|降息|加息|美联储|央行|财报|季报|年报|业绩|"
    r"发布|公布|大会|会议|开幕|闭幕|峰会|两会|休市|开市|闭市|放假|假期|春节|国庆|元旦|上市|"
    r"解禁|交割|调整|生效|报告|选举|讲话|展会|听证|投票|复牌|停牌|分红|申购"
)
# the words a post uses for the same closure: 春节休市 is "交易到周五就放假了"
_SAME = {t: "休市|闭市|放假|假期|节前|节后" for t in ("休市", "闭市", "放假", "假期", "春节")}
_DATE = re.compile(
    r"(?:下下?|本|这)?周[一二三四五六日天]晚?|今晚|今天|明天|后天|节前|节后|"
    r"\d{1,2}月(?:\d{1,2}[日号]|上旬|中旬|下旬|底|初)"
)
_ENGLISH = {
    "tonight": "今晚", "today": "今天", "tomorrow": "明天", "monday": "周一", "tuesday": "周二",
    "wednesday": "周三", "thursday": "周四", "friday": "周五", "saturday": "周六",
    "sunday": "周日",
}  # fmt: skip
NEAR = 12  # characters between the happening and its date, within one clause


def dated(source: str, title: str, when: str, headings: Iterable[str] = ()) -> str | None:
    """The event's `when` in the post's words, or None when the post gives no such date next
    to the happening the title names (or the title is a heading, not a happening)."""
    core, wanted = _core(title), spaced(when).replace(" ", "")
    if not core or not wanted or core in {_core(h) for h in headings}:
        return None
    terms = {m.group() for m in _HAPPENING.finditer(core)}
    if not terms:
        return None
    pattern = re.compile("|".join(sorted({_SAME.get(t, re.escape(t)) for t in terms})))
    english = [_ENGLISH[w] for w in re.findall(r"[a-z]+", wanted) if w in _ENGLISH]
    for clause in re.split(r"[，,。；;！!？?\n]", unicodedata.normalize("NFKC", source).lower()):
        clause = re.sub(r"\s+", "", clause)
        terms_at = [m.start() for m in pattern.finditer(clause)]
        if not terms_at:
            continue
        dates = [(m.start(), m.group()) for m in _DATE.finditer(clause)]
        if not english:
            dates = [(at, wanted) for at in _find_all(clause, wanted)]
        for at, words in dates:
            if english and not any(e in words for e in english):
                continue
            if min(abs(at - t) for t in terms_at) <= NEAR:
                return when.strip() if not english else words
    return None


def happenings(title: str) -> set[str]:
    """The dated-happening words an event title holds ("美国非农" → {"非农"})."""
    return {m.group() for m in _HAPPENING.finditer(_core(title))}


def _core(text: str) -> str:
    """Letters and digits only: a title compared with the post's headings."""
    return re.sub(rf"[^\w{_CJK}]|_", "", spaced(text))
