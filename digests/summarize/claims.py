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
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from digests.summarize import polarity
from digests.summarize.document import MARK, Document
from digests.summarize.roles import (
    aligned,
    compared,
    mentions,
    numbers_near,
    outside,
    shares,
    swapped,
)
from digests.summarize.units import DAY, LATIN, dates, grams, norm, numbers

COVER = 0.5  # of a claim's character pairs, words and numbers, outside the names it holds
HEADLINE_COVER = 0.35  # a headline's clause sums up in its own words ("节前注意非农与CPI")
COPIED = 0.9  # of a claim its found sentences hold word for word: it was copied from them
MOST_SOURCES = 3  # sentences found for a claim that cites none
NEARBY = 3  # sentences apart a point's sources may be (outside one section)
BEFORE = 8  # sentences before its source in which an attributed source may be named
# A claim attributed to someone: "瑞银：…", "据高盛…", "花旗认为…"
_ATTRIBUTED = re.compile(
    r"^(?:据)?([\u4e00-\u9fffa-z&]{2,8}?)(?:[：:]|认为|称|表示|指出|预计|测算|强调|报告)"
)
_SELF = re.compile(r"^(?:作者|博主|笔者|我)")  # the post's own author: always "named"
_SELF_SAID = re.compile(r"^(?:作者|博主|笔者)(?:认为|表示|觉得|建议|提醒|指出|说)?")

# (start, end, key) of each name found in a text; names with one key are one security
Names = Callable[[str], list[tuple[int, int, str]]]


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
        said = _SELF_SAID.sub("", outside(text, claimed))  # "博主认为…" is the post's say
        units = grams(said)
        have = set(grams(context))
        share = sum(u in have for u in units) / len(units) if units else 1.0
        if share < (HEADLINE_COVER if title else COVER):
            return f"its sentences say little of it ({share:.0%} of it)", True
        keys = self._keys_near(cites) | (self._title_keys if title else set())
        for start, end, key in claimed:
            if key not in keys and not self._near(text[start:end], cites, whole=True):
                return f"names {text[start:end]}, which its sentences do not", True
        for word in re.findall(LATIN, said):
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
        if mentions(said, who):
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
        blanked = {n: [outside(p, self._names(p)) for p in parts] for n, parts in pieces.items()}
        for clause in polarity.clauses(polarity.fronted(text)):
            here = self._names(clause)
            mine = [(clause[s:e], key) for s, e, key in here]
            windows = aligned(outside(clause, here), blanked, pieces, self._weight)
            if mine and (reason := self._stance(clause, mine)):
                return reason
            cited = "，".join(self.texts[n - 1] for n in cites)
            if reason := shares(clause, cited) or compared(clause, cited):
                return reason
            if not windows:
                if polarity.directions(clause):  # 今明两天加仓 of 今天明天不加仓
                    whole = "，".join(self.texts[n - 1] for n in cites)
                    if reason := polarity.conflict(clause, whole, negations=False):
                        return reason
                continue
            if missing := numbers(clause) - numbers_near(clause, pieces):
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
        mine_days = {d for d in dates(clause) if DAY.match(d)}
        days = dates(window) if len(mine_days) == 1 else dates(self.texts[number - 1])
        if {d for d in days if DAY.match(d)} and (missing := mine_days - days):
            return f"dates it {sorted(missing)[0]} where its sentence says otherwise"
        theirs = {key for *_, key in self._names(window)} or self._keys[number - 1]
        theirs |= {key for s, e, key in claimed if mentions(window, text[s:e])}
        return swapped(window, mine, theirs) if mine else ""
