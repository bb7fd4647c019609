"""Dated events in a post: a happening (days.dates.HAPPENING: 非农, CPI, FOMC, 财报, 休市…)
and the day the post gives it in the same clause (days.dates.DAY_WORDS, the calendar's own
date words, with a time after them: "周五 21:30"), in the post's words.

The offline digest takes the post's events from here; the grounding gate keeps a model's event
only when the post dates it so (dated()), and adds the post's events the model missed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from digests.days.dates import DAY_ONLY, HAPPENING, TIME_OF_DAY
from digests.summarize.document import Document
from digests.summarize.schema import Event

NEAR = 12  # characters between the happening and its day, within one clause
# the calendar's days, the parts of a month it cannot place but a post dates things by, a
# weekday or date that glosses the day ("4月16日（周四）", "周四（9月10日）"), and a time of day
_GLOSS = r"[（(]?(?:(?:本|下|这)?周[一二三四五六日天]|\d{1,2}月\d{1,2}[日号])[）)]?"
_VAGUE = r"\d{1,2}月(?:上旬|中旬|下旬|底|初|最后一周|第[一二三四]周)"
DAYS = re.compile(rf"(?:{DAY_ONLY}|{_VAGUE})(?:{_GLOSS})?{TIME_OF_DAY}?")
_UNIT = re.compile(r"[，,。；;！!？?\n]")  # a clause; "美国CPI：下周三公布" stays one
_CLOSURE = re.compile(r"休市|闭市|放假|假期")
# the same closure in other words: 春节休市 is "交易到周五就放假了"
_SAME = {t: "休市|闭市|放假|假期|节前|节后" for t in ("休市", "闭市", "放假", "假期", "春节")}
_GENERIC = re.compile(r"^(?:发布|公布|披露|出炉|生效|开幕|闭幕|大会|会议|上市)$")
_SUFFIX = re.compile(r"^(?:数据|会议|纪要|报告|决议|开幕|闭幕|发布会|听证会|讲话)")
_FILLER = re.compile(
    r"[的是在和与及跟就也都还要会将把被对从给让：:（()）|]|关注|注意|留意|重点|提一嘴|最后|还有|"
    r"以及|其中|看|发布|公布|披露|召开|举行|出炉|发(?=[财年季中业]|$)"
)
ITEM_CHARS = 16  # a calendar item: a day and a few words of what happens
_TODAY = re.compile(r"^(?:今天|今日)")
_DATED = re.compile(r"^(?:\d|[本这下上]?个?(?:周|星期|礼拜))")  # a date or a weekday


@lru_cache(maxsize=16)  # the gate asks it for every event of a digest
def dated_events(doc: Document) -> list[Event]:
    """The post's dated happenings, once each, in reading order: a happening and its day in
    one clause (a clause with only 公布/发布 takes the happening of the clause before it), and
    every short item of a dated list (a list or table whose items give days: a calendar)."""
    events: list[Event] = []
    seen: list[tuple[set[str], str]] = []
    for event in _found(doc):
        terms, day = happenings(event.title) or {event.title}, day_of(event.when)
        if not any(d == day and t & terms for t, d in seen):  # 两会 本周四, 两会开幕 周四
            seen.append((terms, day))
            events.append(event)
    return events


def _found(doc: Document) -> Iterator[Event]:
    calendar = _calendar_items(doc)
    for sentence in doc.sentences:
        before = ""  # the last happening of the sentence said without a day
        for unit in _units(sentence.text):
            found = _in_unit(unit, before)
            yield from found
            if not found and sentence.block in calendar and (event := _listed(unit)):
                yield event
            terms = [t for t in HAPPENING.finditer(unit) if not _GENERIC.match(t.group())]
            before = _title(unit, terms[-1], None) if terms and not found else before


def _units(text: str) -> list[str]:
    """A sentence's clauses, NFKC, without whitespace."""
    return [re.sub(r"\s+", "", u) for u in _UNIT.split(unicodedata.normalize("NFKC", text))]


def _calendar_items(doc: Document) -> set[int]:
    """Blocks of lists and tables two or more of whose items give a day: a calendar."""
    found: set[int] = set()
    run: list[int] = []
    for index, block in enumerate([*doc.blocks, None]):
        if block is not None and block.kind.value in ("item", "row"):
            run.append(index)
            continue
        dated = [i for i in run if _listed(re.sub(r"\s+", "", doc.blocks[i].text))]
        if len(dated) >= 2:
            found.update(dated)
        run = []
    return found


def _listed(unit: str) -> Event | None:
    """A calendar item as an event: its day, and its other words (a few) as the title."""
    day = next((d for d in _days(unit)), None)
    if day is None:
        return None
    rest = (unit[: day.start()] + "，" + unit[day.end() :]).strip("，|：: -")
    if len(rest) > ITEM_CHARS:
        return None  # an item that says more than what happens when is no calendar's
    title = next((p for p in re.split(r"[，|：:]", rest) if p.strip("-—· ")), "")
    title = title.strip("-—·|：: ")
    return Event(title=title, when=day.group()) if title else None


def _days(unit: str) -> list[re.Match[str]]:
    """The days a clause dates something by: not an aside in brackets ("两会（今天）"), not
    today's (what the post reports, not what is coming), not a recurring day (每周日)."""
    return [
        d
        for d in DAYS.finditer(unit)
        if unit[max(d.start() - 1, 0) : d.start()] not in ("（", "(", "每")
        and not _TODAY.match(d.group())
    ]


def _in_unit(unit: str, before: str = "") -> list[Event]:
    """Each happening of a clause with the day nearest to it (within NEAR characters); a
    clause with only a generic happening (公布) takes `before` as its title."""
    found: list[Event] = []
    days = _days(unit)
    if not days:
        return found
    terms = [m for m in HAPPENING.finditer(unit) if not _inside(m, days)]
    specific = [t for t in terms if not _GENERIC.match(t.group())]
    for term in specific or terms:
        near = [d for d in days if _gap(term, d) <= NEAR]
        if not near:
            continue
        # a date over a word like 节后 ("10月7日晚上写一篇节后展望": 节后 names the 展望)
        day = min(near, key=lambda d: (not _DATED.match(d.group()), _gap(term, d)))
        title = _title(unit, term, day) if specific or not before else before
        event = Event(title=title, when=day.group().strip())
        if not any(happenings(e.title) & happenings(event.title) for e in found):
            found.append(event)
    return found


def _inside(term: re.Match[str], days: list[re.Match[str]]) -> bool:
    return any(d.start() <= term.start() < d.end() for d in days)


def _gap(term: re.Match[str], day: re.Match[str]) -> int:
    return max(day.start() - term.end(), term.start() - day.end(), 0)


def _title(unit: str, term: re.Match[str], day: re.Match[str] | None) -> str:
    """The happening's words: the term with the name before it (美国2月非农数据, 台积电一季报)
    and the noun after it, without the day or a verb of release; every closure is 休市."""
    if _CLOSURE.fullmatch(term.group()):
        return "休市"
    left = unit[: term.start()]
    if day is not None and day.end() <= term.start():  # the day taken out: 英伟达周三发财报
        left = unit[: day.start()] + unit[day.end() : term.start()]
    pieces = [p for p in _FILLER.split(re.split(r"[，|]", left)[-1]) if p]
    lead = pieces[-1][-12:] if pieces else ""
    suffix = _SUFFIX.match(unit[term.end() :])
    title = lead + term.group() + (suffix.group() if suffix else "")
    return title.strip(" |｜-—·:：")


def dated(doc: Document, title: str, when: str) -> str | None:
    """The event's `when` in the post's words, or None when the post gives no such day next
    to the happening the title names, nor has a calendar item of that title and day (or
    the title is a heading, not a happening)."""
    core, wanted = _core(title), _core(when)
    headings = {_core(b.text) for b in doc.blocks if b.kind.value == "heading"}
    if not core or not wanted or core in headings:
        return None
    terms = happenings(title)
    for event in dated_events(doc):  # the post's own, a clause's 公布 given its happening
        if day_of(event.when) == day_of(when) and (
            terms & happenings(event.title) or _most(core, _core(event.title))
        ):
            return when.strip()
    pattern = re.compile("|".join(sorted({_SAME.get(t, re.escape(t)) for t in terms})), re.I)
    calendar = _calendar_items(doc)
    for sentence in [None, *doc.sentences]:
        text = doc.title if sentence is None else sentence.text
        for unit in _units(text):
            listed = sentence is not None and sentence.block in calendar
            said = [t for t in pattern.finditer(unit)] if terms else []
            if not said and not (listed and _most(core, unit)):
                continue
            for day in DAYS.finditer(unit):
                if _same_day(_core(day.group()), wanted) and (
                    listed or min(_gap(t, day) for t in said) <= NEAR
                ):
                    return when.strip()
    return None


def _same_day(said: str, wanted: str) -> bool:
    """The post's day words name the `when`: 周五晚 is 周五, 节后2月24日 is 2月24日; 下周五 is
    not 周五."""
    said, wanted = (w.removeprefix("本").removeprefix("这") for w in (said, wanted))
    for longer, shorter in ((said, wanted), (wanted, said)):
        at = longer.find(shorter)
        if shorter and at >= 0 and longer[at - 1 : at] not in ("下", "上"):
            return True
    return False


def _most(core: str, unit: str) -> bool:
    """Most of a title's characters are in the clause."""
    return sum(ch in unit for ch in core) * 5 >= len(core) * 3


def day_of(when: str) -> str:
    """The day a `when` names, without 本/这 and the time of day: 本周五晚 is 周五."""
    found = DAYS.match(_core(when))
    day = _core(when) if found is None else found.group()
    return re.sub(r"^[本这]|(?:晚上?|早上?|凌晨|上午|下午|盘前|盘后|\d+[:点].*)$", "", day)


def happenings(title: str) -> set[str]:
    """The dated-happening words an event title holds ("美国非农" → {"非农"})."""
    return {m.group().lower() for m in HAPPENING.finditer(unicodedata.normalize("NFKC", title))}


def _core(text: str) -> str:
    """Letters and digits only, lower case: a title compared with headings, days compared."""
    return re.sub(r"[^\w]|_", "", unicodedata.normalize("NFKC", text)).lower()
