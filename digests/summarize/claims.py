"""Does the post say this? A claim (point, risk, summary sentence) against the sentences it
cites, or, when it cites none, the sentences that support it best.

A claim holds when its sources (with the heading they sit under):
- cover most of what it says (COVER of its character pairs, Latin words and numbers);
- hold every name (the securities dictionary's; a four-character Chinese name may go by its
  first or last two characters in prose: 天孚 for 天孚通信), Latin word, number and date in it;
- name the source it is attributed to ("瑞银：…", "据高盛…"), there or shortly before;
- point the same way, clause by clause (polarity.conflict: 上调 is not 下调, 未支持 is not
  支持), with each name in the clause its source clause gives it (two subjects swapped are
  caught).
A claim whose citation fails is checked against the sentences found for it, and re-cited when
those hold it: small models often cite the sentence next to the right one.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from digests.summarize import polarity
from digests.summarize.document import MARK, Document

COVER = 0.5  # of a claim's character pairs, words and numbers, outside the names it holds
HEADLINE_COVER = 0.35  # a headline's clause sums up in its own words ("节前注意非农与CPI")
COPIED = 0.9  # of a claim its found sentences hold word for word: it was copied from them
ALIGN = 0.3  # of a clause's pairs its source clause must share to be compared with it
CLOSE = 0.1  # source clauses aligned within this of the best are compared too
MOST_SOURCES = 3  # sentences found for a claim that cites none
NEARBY = 3  # sentences apart a point's sources may be (outside one section)
BEFORE = 8  # sentences before its source in which an attributed source may be named
# A claim attributed to someone: "瑞银：…", "据高盛…", "花旗认为…"
_ATTRIBUTED = re.compile(
    r"^(?:据)?([\u4e00-\u9fffa-z&]{2,8}?)(?:[：:]|认为|称|表示|指出|预计|测算|强调|报告)"
)
_LATIN = r"[a-z][a-z0-9+&-]*(?:\.[a-z0-9]+)*"  # a word, "hbm4", "node.js"; not a trailing dot
_SELF = re.compile(r"^(?:作者|博主|笔者|我)")  # the post's own author: always "named"
_SELF_SAID = re.compile(r"^(?:作者|博主|笔者)(?:认为|表示|觉得|建议|提醒|指出|说)?")
_UNIT = re.compile(rf"[\u4e00-\u9fff]+|{_LATIN}|\d+(?:\.\d+)?")
_NUMBER = re.compile(r"(?<![a-z0-9.])\d+(?:\.\d+)?")
_CN_NUMBER = re.compile(r"([一二两三四五六七八九十]{1,3})(?=成|倍|个点|个百分点)")
_DATE = re.compile(
    r"(?:(?P<rel>本|这|下下|下|上)个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    r"|(?P<md>\d{1,2}月\d{1,2})[日号]?|今晚|今天|明天|后天|明晚|节前|节后|月底|月初"
)
_DAY = re.compile(r"^(?:下下|下|上)?周|^\d")  # a weekday or a month's day
_WEEKDAY = {"天": "日", "7": "日"} | dict(zip("123456", "一二三四五六", strict=True))
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}

# (start, end, key) of each name found in a text; names with one key are one security
Names = Callable[[str], list[tuple[int, int, str]]]


def norm(text: str) -> str:
    """NFKC, lower case, no whitespace, no "[12]" marks and no ellipsis (a point cut short):
    the form claims are compared in."""
    text = MARK.sub("", unicodedata.normalize("NFKC", text)).replace("...", "")
    return re.sub(r"\s+", "", text).lower()


@lru_cache(maxsize=8192)
def grams(text: str) -> list[str]:
    """The units of comparison: Chinese character pairs (a lone character alone), Latin
    words and numbers."""
    units: list[str] = []
    for run in _UNIT.findall(text):
        if "\u4e00" <= run[0] <= "\u9fff":
            units += [run[i : i + 2] for i in range(len(run) - 1)] if len(run) > 1 else [run]
        else:
            units.append(run)
    return units


def numbers(text: str) -> set[str]:
    """Numbers in a normalised text, Chinese ones before 成/倍/个点 as digits."""
    found = {n.rstrip("0").rstrip(".") if "." in n else n for n in _NUMBER.findall(text)}
    return found | {str(_cn_number(m)) for m in _CN_NUMBER.findall(text)}


def dates(text: str) -> set[str]:
    """Date words in a normalised text, in one spelling: 星期五 and 本周五 are 周五."""
    found: set[str] = set()
    for m in _DATE.finditer(text):
        if m["wd"]:
            rel = m["rel"] if m["rel"] in ("下", "下下", "上") else ""
            found.add(f"{rel}周{_WEEKDAY.get(m['wd'], m['wd'])}")
        else:
            found.add(m["md"] or m[0])
    return found


def _cn_number(text: str) -> int:
    if "十" not in text:
        return sum(_CN_DIGITS[c] * 10**i for i, c in enumerate(reversed(text)))
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


@dataclass(frozen=True)
class Verdict:
    """A claim's sources and, when it does not hold, why."""

    cites: tuple[int, ...]
    reason: str = ""  # "" = the claim holds
    found: bool = False  # the cites are the gate's, not the model's

    @property
    def holds(self) -> bool:
        return not self.reason


class Evidence:
    """A post's sentences indexed for claims (see the module docstring)."""

    def __init__(self, doc: Document, names: Names) -> None:
        self.doc, self._names = doc, names
        self.texts = [norm(s.text) for s in doc.sentences]
        self.headings = [norm(doc.heading(s)) for s in doc.sentences]
        self._title = norm(doc.title)
        self._keys = [{key for *_, key in names(t)} for t in self.texts]
        self._heading_keys = [{key for *_, key in names(h)} for h in self.headings]
        self._title_keys = {key for *_, key in names(self._title)}
        self._grams = [Counter(grams(t)) for t in self.texts]
        self._where: dict[str, list[int]] = defaultdict(list)
        for index, counted in enumerate(self._grams):
            for gram in counted:
                self._where[gram].append(index)
        total = len(self.texts) or 1
        self._weight = {g: math.log(1 + total / len(i)) for g, i in self._where.items()}

    def check(
        self, claim: str, cites: Sequence[int] = (), *, title: bool = False, spread: bool = False
    ) -> Verdict:
        """The claim against its cites (or the "[12]" marks in it), else against the
        sentences found for it; `title` lets the post's title support it (a headline),
        `spread` lets it rest on sentences far apart (a headline or summary sums up; a point
        is said in one place). A claim that contradicts what it cites is not looked for
        elsewhere, unless other sentences say nearly all of it, word for word: a model that
        copies a sentence often cites the one next to it."""
        cites = tuple(cites) or tuple(int(n) for n in MARK.findall(claim))
        text = norm(claim)
        if not grams(text):
            return Verdict(cites)
        reason = ""
        found = self.find(text, spread=spread or title)
        if cites:
            missing = [n for n in cites if self.doc.sentence(n) is None]
            if missing:
                return Verdict(cites, f"cites sentence {missing[0]}, which the post does not have")
            reason, thin = self._judge(text, cites, title)
            if not reason:
                return Verdict(cites)
            copied = found and set(found) != set(cites) and self._share(text, found) >= COPIED
            if copied and not self._judge(text, found, title)[0]:
                return Verdict(found, found=True)
            if not thin:
                return Verdict(cites, reason)
        if not found:
            return Verdict(cites, reason or "nothing in the post says this")
        second, _ = self._judge(text, found, title)
        if cites and second:
            return Verdict(cites, reason)
        return Verdict(found, second, found=True)

    def find(self, text: str, *, spread: bool = False) -> tuple[int, ...]:
        """Up to MOST_SOURCES sentence numbers that together cover the (normalised) claim
        best; each added sentence must add a tenth of it and, unless `spread`, be near the
        first (within NEARBY sentences, or in its section): "涨价周期还没结束" is not made of
        one paragraph's 还没结束 and another's 涨价."""
        wanted = {g: self._weight.get(g, 1.0) for g in grams(text)}
        score: dict[int, float] = defaultdict(float)
        for gram, weight in wanted.items():
            for index in self._where.get(gram, ()):
                score[index] += weight
        if not score:
            return ()
        total = sum(wanted.values())
        candidates = sorted(score, key=score.__getitem__, reverse=True)[:12]
        hits = {i: wanted.keys() & self._grams[i].keys() for i in candidates}
        chosen: list[int] = []
        covered: set[str] = set()
        while len(chosen) < MOST_SOURCES:
            gains = {
                i: sum(wanted[g] for g in hits[i] - covered) / total
                for i in hits
                if spread or not chosen or self._near_to(i, chosen[0])
            }
            best = max((i for i in gains if i not in chosen), key=gains.__getitem__, default=None)
            if best is None or gains[best] <= 0 or (chosen and gains[best] < 0.1):
                break
            chosen.append(best)
            covered |= hits[best]
        return tuple(sorted(i + 1 for i in chosen))

    def _share(self, text: str, cites: Sequence[int]) -> float:
        """How much of the claim's pairs, words and numbers these sentences hold."""
        units = grams(text)
        have = set().union(*(self._grams[n - 1].keys() for n in cites))
        return sum(u in have for u in units) / len(units) if units else 1.0

    def _near_to(self, index: int, first: int) -> bool:
        one, other = self.doc.sentences[index], self.doc.sentences[first]
        return abs(index - first) <= NEARBY or (one.section >= 0 and one.section == other.section)

    def _judge(self, text: str, cites: Sequence[int], title: bool) -> tuple[str, bool]:
        """Why the claim does not hold against these sentences ("" when it does), and
        whether that is only because they say too little of it (other sentences may)."""
        claimed = self._names(text)
        if reason := self._clause_by_clause(text, cites, claimed):
            return reason, False
        who = _ATTRIBUTED.match(text)
        if who and not _SELF.match(who.group(1)) and not self._near(who.group(1), cites):
            return f"attributes it to {who.group(1)}, whom the post does not name there", False
        context = "".join(self.texts[n - 1] + self.headings[n - 1] for n in cites)
        context += self._title if title else ""
        outside = _SELF_SAID.sub("", _outside(text, claimed))  # "博主认为…" is the post's say
        units = grams(outside)
        have = set(grams(context))
        share = sum(u in have for u in units) / len(units) if units else 1.0
        if share < (HEADLINE_COVER if title else COVER):
            return f"its sentences say little of it ({share:.0%} of it)", True
        keys = self._keys_near(cites) | (self._title_keys if title else set())
        for start, end, key in claimed:
            if key not in keys and not self._near(text[start:end], cites, whole=True):
                return f"names {text[start:end]}, which its sentences do not", True
        for word in re.findall(_LATIN, outside):
            if len(word) > 1 and word not in context:  # not the A of A股
                return f"says {word!r}, which its sentences do not", True
        if missing := numbers(text) - numbers(context):
            return f"says {sorted(missing)[0]}, which its sentences do not", True
        if missing := dates(text) - dates(context):
            return f"dates it {sorted(missing)[0]}, which its sentences do not", True
        return "", False

    def _keys_near(self, cites: Sequence[int]) -> set[str]:
        near = range(max(min(cites) - BEFORE, 1), max(cites) + 1)
        return set().union(*(self._keys[n - 1] | self._heading_keys[n - 1] for n in near))

    def _near(self, who: str, cites: Sequence[int], *, whole: bool = False) -> bool:
        """`who` is named in or shortly before the cited sentences (or their headings, or the
        title): a subject or source the post gives once for several sentences. Unless
        `whole`, a label the post words differently ("PCB分化：" of "PCB今天分化") counts
        when it shares most of its words."""
        near = range(max(min(cites) - BEFORE, 1), max(cites) + 1)
        said = self._title + "".join(self.texts[n - 1] + self.headings[n - 1] for n in near)
        if _mentions(said, who):
            return True
        wanted = set(grams(who))
        return not whole and len(wanted & set(grams(said))) * 2 >= len(wanted)

    def _clause_by_clause(
        self, text: str, cites: Sequence[int], claimed: list[tuple[int, int, str]]
    ) -> str:
        """Each clause against the source clause it was aligned with (on what they say, the
        names aside): the same direction (else against that clause's whole sentence), its
        numbers where its subject is, and its names in the roles the source gives them (a
        source clause that names no one speaks of its sentence's names: "它…")."""
        pieces = {n: polarity.clauses(polarity.fronted(self.texts[n - 1])) for n in cites}
        blanked = {n: [_outside(p, self._names(p)) for p in parts] for n, parts in pieces.items()}
        for clause in polarity.clauses(polarity.fronted(text)):
            here = self._names(clause)
            mine = [(clause[s:e], key) for s, e, key in here]
            windows = _aligned(_outside(clause, here), blanked, pieces, self._weight)
            if mine and (reason := self._stance(clause, mine)):
                return reason
            cited = "，".join(self.texts[n - 1] for n in cites)
            if reason := _shares(clause, cited) or _compared(clause, cited):
                return reason
            if not windows:
                if polarity.directions(clause):  # 今明两天加仓 of 今天明天不加仓
                    whole = "，".join(self.texts[n - 1] for n in cites)
                    if reason := polarity.conflict(clause, whole, negations=False):
                        return reason
                continue
            if missing := numbers(clause) - _numbers_near(clause, pieces):
                return f"says {sorted(missing)[0]} where its sentence says otherwise"
            for rank, (window, number) in enumerate(windows):  # the best, and those as good
                if reason := self._against(clause, window, number, mine, claimed, text, rank):
                    return reason
        return ""

    def _stance(self, clause: str, mine: list[tuple[str, str]]) -> str:
        """The author's view of a name and advice on it hold through a post: a clause saying
        看好 or 加仓 of a name the post elsewhere says 不看好 or 减仓 of (in a clause naming
        it, on the same axis, never the same way) contradicts it."""
        views = [d for d in polarity.directions(clause) if d.family in polarity.OPINION]
        for written, key in mine:
            said: list[tuple[polarity.Direction, str]] = []
            for index, keys in enumerate(self._keys):
                if key not in keys:
                    continue
                for piece in polarity.clauses(polarity.fronted(self.texts[index])):
                    if any(k == key for *_, k in self._names(piece)):
                        said += [(d, piece) for d in polarity.directions(piece)]
            for view in views:
                same = [(d, p) for d, p in said if d.axis == view.axis]
                if same and all(d.sign == -view.sign for d, _ in same):
                    word, (d, piece) = clause[view.start : view.end], same[0]
                    return f"says {word} of {written} where the post says {piece[d.start : d.end]}"
        return ""

    def _against(
        self,
        clause: str,
        window: str,
        number: int,
        mine: list[tuple[str, str]],
        claimed: list[tuple[int, int, str]],
        text: str,
        rank: int,
    ) -> str:
        """Why the clause contradicts the source clause it was aligned with ("" if not): a
        direction on any of the clauses aligned about as well, days and roles on the best."""
        # a direction the clause has and its source clause lacks may be said elsewhere in
        # the sentence ("节前如果有融资杠杆的话，建议把杠杆卸掉")
        if reason := polarity.conflict(clause, window, wider=self.texts[number - 1]):
            return reason
        if rank:
            return ""
        # a day named two ways (周三 and 3月11日) is read alike; 节前 and 今天 are no day
        mine_days = {d for d in dates(clause) if _DAY.match(d)}
        days = dates(window) if len(mine_days) == 1 else dates(self.texts[number - 1])
        if {d for d in days if _DAY.match(d)} and (missing := mine_days - days):
            return f"dates it {sorted(missing)[0]} where its sentence says otherwise"
        theirs = {key for *_, key in self._names(window)} or self._keys[number - 1]
        theirs |= {key for s, e, key in claimed if _mentions(window, text[s:e])}
        return _swapped(window, mine, theirs) if mine else ""


_PLAIN = set("的了是在和与及也都就还而但又很更最年月日个家只元亿万点成倍")


# a share given to a subject: 军工三成, PCB两成, 光模块40%
_SHARE = re.compile(
    r"([\u4e00-\u9fffa-z]{1,4}?)([一二两三四五六七八九十]{1,3}|\d+(?:\.\d+)?)(?=成|%|倍)"
)
# two markets compared: 港股的估值比A股便宜
_MARKET = r"a股|港股|美股|h股|中概股?"
_COMPARED = re.compile(rf"({_MARKET})[^，,。；;]{{0,10}}?比({_MARKET})")


def _shares(clause: str, source: str) -> str:
    """Why a share the clause gives a subject is not the one its sentence gives it
    ("铜三成" where the post says 铜两成)."""
    theirs = [(subject, _value(n)) for subject, n in _SHARE.findall(source)]
    for subject, n in _SHARE.findall(clause):
        same = [(s, v) for s, v in theirs if s and (s in subject or subject in s)]
        if same and all(v != _value(n) for _, v in same):
            return f"gives {subject} {n} where the post gives {same[0][0]} {same[0][1]}"
    return ""


def _value(number: str) -> str:
    return number if number[0].isdigit() else str(_cn_number(number))


def _compared(clause: str, source: str) -> str:
    """Why the clause compares two markets the other way round from its sentence."""
    theirs = _COMPARED.findall(source)
    for one, other in _COMPARED.findall(clause):
        if (other, one) in theirs and (one, other) not in theirs:
            return f"compares {one} with {other}, the post {other} with {one}"
    return ""


def _numbers_near(clause: str, pieces: dict[int, list[str]]) -> set[str]:
    """The numbers of the source clauses that share a character with the clause (numbers
    and plain words aside): a number is checked where its subject is ("2027年底" is not in
    "2027-2028年…占比"; "增72%" is in "同比增长72%")."""
    chars = {c for c in clause if "\u4e00" <= c <= "\u9fff"} - _PLAIN
    return {
        n for parts in pieces.values() for part in parts if chars & set(part) for n in numbers(part)
    }


def _outside(text: str, claimed: list[tuple[int, int, str]]) -> str:
    """The text with the names blanked out: what it says about them."""
    for start, end, _ in sorted(claimed, reverse=True):
        text = text[:start] + "，" + text[end:]
    return text


def _mentions(text: str, name: str) -> bool:
    """`name` (normalised) is in `text`, or by its first or last two characters when it is a
    Chinese name of four or more (天孚 for 天孚通信, 旭创 for 中际旭创)."""
    name = norm(name)
    if name in text:
        return True
    chinese = all("\u4e00" <= ch <= "\u9fff" for ch in name)
    return chinese and len(name) >= 4 and (name[:2] in text or name[-2:] in text)


def _aligned(
    said: str, blanked: dict[int, list[str]], pieces: dict[int, list[str]], weight: dict[str, float]
) -> list[tuple[str, int]]:
    """The source clauses (or two in a row of one sentence) sharing at least ALIGN of what
    the clause says (`said`: its names blanked, as in `blanked`), as `pieces` writes them,
    with their sentence's number, best first. Shares are weighed by how rare a pair is in
    the post (评级 tells more than 下调); a pair of clauses counts as better than one of
    them only when it shares a fifth more."""
    wanted = _content(said)
    if not wanted:
        return []
    total = sum(weight.get(g, 1.0) for g in wanted)

    def share(text: str) -> float:
        return sum(weight.get(g, 1.0) for g in wanted & _content(text)) / total

    scored: list[tuple[float, int, str, int]] = []
    for number, parts in blanked.items():
        whole = pieces[number]
        for i, part in enumerate(parts):
            scored.append((share(part), 0, whole[i], number))
            if i + 1 < len(parts):
                two = share(part + "，" + parts[i + 1])
                scored.append((two - 0.2, 1, "，".join(whole[i : i + 2]), number))
    scored.sort(key=lambda item: (-item[0], item[1]))
    best = scored[0][0] if scored else 0.0
    return [(w, n) for share, _, w, n in scored if share >= max(ALIGN, best - CLOSE)]


@lru_cache(maxsize=8192)
def _content(text: str) -> frozenset[str]:
    """The units a clause is aligned on: its pairs and words, without its days and numbers
    (周三人大开幕 is aligned with 周四人大开幕, then found to date it otherwise)."""
    return frozenset(g for g in grams(_DATE.sub("，", text)) if not g[0].isdigit())


_SYMMETRIC = re.compile(r"^(?:和|与|及|以及|跟|、|，|或|或者)$")


def _swapped(window: str, mine: list[tuple[str, str]], theirs: set[str]) -> str:
    """Why the clause gives its names other roles than its source clause does: one of its
    names (written, key) is not there while another name is, or two names come in the other
    order with more than "和/与/、" between them. `theirs`: the keys named in the window."""
    present = [(w, k) for w, k in mine if k in theirs or _mentions(window, w)]
    absent = [w for w, k in mine if (w, k) not in present]
    others = sorted(theirs - {k for _, k in mine})
    if absent and others:
        return f"says of {absent[0]} what the post says of {others[0]}"
    if len(present) >= 2:
        (first, _), (second, _) = present[0], present[1]
        a, b = _place(window, first), _place(window, second)
        if a > b >= 0 and not _SYMMETRIC.match(window[b + len(norm(second)) : a]):
            return f"swaps {first} and {second}"
    return ""


def _place(text: str, name: str) -> int:
    name = norm(name)
    at = text.find(name)
    if at < 0 and len(name) >= 4:
        at = max(text.find(name[:2]), text.find(name[-2:]))
    return at
