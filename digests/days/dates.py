"""Resolve a digest event's `when` words ("周五", "下周二晚上8点半", "节后") to a date or a time.

Everything is read relative to the post's publish time in Beijing. The `when` text decides; the
title fills in what `when` leaves out (the LLM sometimes puts "周五" in the title instead). US
releases follow their New York schedule, so "CPI周五" lands at 21:30 or 20:30 Beijing time
depending on US daylight saving. What cannot be read with confidence stays unresolved: a wrong
reminder is worse than none.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digests.days import trading
from digests.days.trading import TradingCalendar

__all__ = [
    "DAY_ONLY",
    "DAY_WORDS",
    "HAPPENING",
    "NEW_YORK",
    "SHANGHAI",
    "TIME_OF_DAY",
    "Resolved",
    "resolve",
]

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Resolved:
    """Where an event sits in time, plus guesses about it taken from its title."""

    starts_at: datetime | None  # aware, Asia/Shanghai; None = unresolved
    all_day: bool
    day: date | None  # first day (all-day events), or the Beijing date of timed ones
    end_day: date | None  # last day of a range, inclusive; None otherwise
    region: str  # "US" for US releases, else "CN"
    kind: str  # macro | earnings | holiday | policy | other
    importance: int  # 1–3
    past: bool  # over before the publish time: no reminder for it


# ---- what the title says about the event ------------------------------------------------

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("holiday", re.compile(r"休市|闭市|假期|放假|春节|国庆|劳动节|元旦|清明|端午|中秋")),
    ("earnings", re.compile(r"财报|业绩|年报|季报|中报|earnings", re.I)),
    ("policy", re.compile(r"FOMC|议息|利率决议|降息|加息|会议|两会|政治局|国常会", re.I)),
    ("macro", re.compile(r"CPI|PPI|非农|nonfarm|就业|PCE|GDP|PMI|社融|LPR|零售|初请|通胀", re.I)),
)
_TOP = re.compile(r"非农|nonfarm|CPI|FOMC|议息|美联储利率决议", re.I)
_SECOND = re.compile(r"PCE|GDP|PMI|社融|LPR", re.I)

# A bare 美 is not enough: 美的 and 美团 are Chinese companies.
_US_MARK = re.compile(
    r"美国|美联储|美股|美债|美元|美(?=CPI|PPI|非农|PCE|GDP|零售|初请)|(?<![A-Za-z])US(?![A-Za-z])|FOMC"
)
_US_BY_DEFAULT = re.compile(r"CPI|非农|nonfarm|就业报告|PCE|初请|FOMC|议息", re.I)
_NOT_US = re.compile(r"中国|国内|我国|欧|英国|英央行|日本|日央行|香港|港股")
# US releases at a fixed New York time; the US calendar day is the day the text names.
_US_RULES: tuple[tuple[re.Pattern[str], time], ...] = (
    (re.compile(r"FOMC|议息|利率决议", re.I), time(14, 0)),
    (re.compile(r"CPI|PPI|非农|nonfarm|就业报告|PCE|零售销售|初请|GDP", re.I), time(8, 30)),
)


def _classify(title: str) -> tuple[str, str, int]:
    us = _US_MARK.search(title) or (_US_BY_DEFAULT.search(title) and not _NOT_US.search(title))
    kind = next((name for name, pattern in _KINDS if pattern.search(title)), "other")
    if _TOP.search(title):
        importance = 3
    elif _SECOND.search(title) or kind in ("earnings", "holiday"):
        importance = 2
    else:
        importance = 1
    return ("US" if us else "CN"), kind, importance


# ---- the day ------------------------------------------------------------------------------

_Span = tuple[date, date | None]  # first day, and the last day of a range


def _near_year(month: int, day: int, today: date) -> date:
    # A post in December about 1月5日 means next January; one in January about 12月28日 means
    # the December just gone.
    found = date(today.year, month, day)
    if found < today - timedelta(days=60):
        return found.replace(year=today.year + 1)
    if found > today + timedelta(days=305):
        return found.replace(year=today.year - 1)
    return found


def _calendar_date(year: str | None, month: str, day: str, today: date) -> date:
    if year:
        return date(int(year), int(month), int(day))
    return _near_year(int(month), int(day), today)


def _range(m: re.Match[str], today: date, _market: TradingCalendar) -> _Span:
    first = _calendar_date(m["y"], m["m"], m["d"], today)
    last = date(int(m["y2"] or first.year), int(m["m2"] or first.month), int(m["d2"]))
    if last < first:  # 12月30日至1月2日
        last = last.replace(year=last.year + 1)
    return first, last


def _one_date(m: re.Match[str], today: date, _market: TradingCalendar) -> _Span:
    return _calendar_date(m["y"], m["m"], m["d"], today), None


def _month_day(m: re.Match[str], today: date, _market: TradingCalendar) -> _Span:
    month = today.month + {"本": 0, "这个": 0, "下": 1, "下个": 1, "上": -1, "上个": -1}[m["rel"]]
    year, month = today.year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, int(m["d"])), None


_WEEKDAYS = dict(zip("一二三四五六日天1234567", [*range(7), 6, *range(7)], strict=True))
_WEEK_SHIFT = {None: 0, "本": 0, "这": 0, "下": 7, "上": -7}


def _weekday(m: re.Match[str], today: date, _market: TradingCalendar) -> _Span:
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=_WEEK_SHIFT[m["rel"]] + _WEEKDAYS[m["wd"]]), None


_DAY_OFFSETS = {
    "大后天": 3, "后天": 2, "明天": 1, "明日": 1, "明晚": 1, "今天": 0, "今日": 0, "今晚": 0,
    "昨天": -1, "昨日": -1, "昨晚": -1, "前天": -2,
}  # fmt: skip


def _relative_day(m: re.Match[str], today: date, _market: TradingCalendar) -> _Span:
    return today + timedelta(days=_DAY_OFFSETS[m[0]]), None


# 中秋 shares a closure with 国庆 in some years, and the merged closure is named 国庆节.
_HOLIDAY_NAMES = {
    "春节": {"春节"}, "国庆": {"国庆节"}, "五一": {"劳动节"}, "劳动节": {"劳动节"},
    "元旦": {"元旦"}, "清明": {"清明节"}, "端午": {"端午节"}, "中秋": {"中秋节", "国庆节"},
}  # fmt: skip


def _after_holiday(m: re.Match[str], today: date, market: TradingCalendar) -> _Span:
    names = _HOLIDAY_NAMES[m["name"]] if m["name"] else None
    return market.next_closure(today, names=names).reopens, None


def _before_holiday(m: re.Match[str], today: date, market: TradingCalendar) -> _Span:
    names = _HOLIDAY_NAMES[m["name"]] if m["name"] else None
    return market.next_closure(today, names=names).last_session_before, None


_DATE = r"(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})"
_RANGE = re.compile(
    _DATE + r"[日号]?\s*(?:至|到|-|~|～|—|－)\s*"
    r"(?:(?P<y2>\d{4})年)?(?:(?P<m2>\d{1,2})月)?(?P<d2>\d{1,2})[日号]"
)
_ONE_DATE = re.compile(_DATE + r"[日号]")
_MONTH_DAY = re.compile(r"(?P<rel>本|这个|下个?|上个?)月(?P<d>\d{1,2})[日号]")
_HOLIDAY = r"(?:(?P<name>春节|国庆|五一|劳动节|元旦|清明|端午|中秋)节?(?:假期|长假)?|节|假期|长假)"
_AFTER_HOLIDAY = re.compile(_HOLIDAY + r"(?:结束)?[之以]?后")
_BEFORE_HOLIDAY = re.compile(_HOLIDAY + r"[之以]?前最后一?个?交易日")
_WEEKDAY = re.compile(r"(?P<rel>本|这|下|上)?个?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])")
_RELATIVE_DAY = re.compile("|".join(sorted(_DAY_OFFSETS, key=len, reverse=True)))

_Reader = Callable[[re.Match[str], date, TradingCalendar], _Span]
# pattern, reader, and whether the span is final (all-day; no time of day applies). The first
# rule that matches wins, so ranges come before the single dates they contain.
_DAY_RULES: tuple[tuple[re.Pattern[str], _Reader, bool], ...] = (
    (_RANGE, _range, True),
    (_ONE_DATE, _one_date, False),
    (_MONTH_DAY, _month_day, False),
    (_AFTER_HOLIDAY, _after_holiday, True),
    (_BEFORE_HOLIDAY, _before_holiday, True),
    (_WEEKDAY, _weekday, False),
    (_RELATIVE_DAY, _relative_day, False),
)

# ---- the time of day ----------------------------------------------------------------------

_EVENING = ("傍晚", "晚上", "晚间", "夜间", "夜里", "今晚", "明晚", "昨晚")
_PARTS = ("凌晨", "清晨", "早上", "早晨", "上午", "中午", "下午", *_EVENING)
_PART = re.compile("|".join(_PARTS))
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
_CLOCK = re.compile(
    rf"(?P<part>{_PART.pattern})?\s*(?:(?P<h>\d{{1,2}})[:：](?P<min>\d{{2}})"
    r"|(?P<hh>\d{1,2}|[一二]?十[一二三四五六七八九]?|[零一二两三四五六七八九])[点时](?:(?P<half>半)|(?P<mm>\d{1,2})分?)?)"
)
_DEFAULT_EVENING = (20, 0)  # "今晚" with no hour: the usual slot for evening news


def _hour(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _CN_DIGITS[text]
    tens, _, ones = text.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _clock(m: re.Match[str], part: str | None) -> tuple[int, int]:
    hour = int(m["h"]) if m["h"] else _hour(m["hh"])
    minute = int(m["min"] or m["mm"] or 0) + (30 if m["half"] else 0)
    if (part in ("下午", *_EVENING) and hour < 12) or (part == "中午" and hour < 6):
        hour += 12
    elif part in _EVENING and hour == 12:
        hour = 24  # 晚上12点 is midnight at the end of that day
    elif part == "凌晨" and hour == 12:
        hour = 0
    if hour > 24 or minute > 59:
        raise ValueError(f"no such time of day: {m[0]}")
    return hour, minute


# ---- finding dates in text --------------------------------------------------------------


def _anonymous(pattern: re.Pattern[str]) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)


# Every way a text names a day this module can place (DAY_ONLY), and a time of day that may
# follow it (TIME_OF_DAY): how other modules find an event's `when` in a post ("周五 21:30",
# "下周三凌晨2点", "周四晚").
DAY_ONLY = "(?:" + "|".join(_anonymous(p) for p, _, _ in _DAY_RULES) + ")"
TIME_OF_DAY = r"(?:\s*(?:" + _anonymous(_CLOCK) + r"|" + _PART.pattern + r"|晚|早|盘前|盘后))"
DAY_WORDS = re.compile(DAY_ONLY + TIME_OF_DAY + "?")
# Words naming a dated happening: releases, meetings, earnings, market closures, listings…
HAPPENING = re.compile(
    r"非农|就业数据|就业报告|CPI|PPI|PCE|GDP|PMI|社融|LPR|零售销售|初请|FOMC|议息|利率决议|"
    r"降息|加息|财报|季报|年报|中报|一季报|业绩预告|业绩会|发布会|大会|会议|开幕|闭幕|峰会|"
    r"两会|政治局|国常会|休市|闭市|开市|放假|假期|春节|国庆|元旦|清明|端午|中秋|劳动节|上市|"
    r"解禁|交割|生效|选举|讲话|听证|投票|复牌|停牌|分红|申购|零售|最后一个交易日|双十一|双11|"
    r"复盘|展望|发布|公布|披露|出炉",
    re.I,
)


# ---- putting it together ------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    span: _Span | None = None
    final: bool = False  # a range or a reopening: all-day whatever else the text says
    after: bool = False  # "周五之后"
    clock: tuple[int, int] | None = None
    part: str | None = None


def _parse(text: str, today: date, market: TradingCalendar) -> _Parsed:
    span, final, after = None, False, False
    for pattern, read, is_final in _DAY_RULES:
        if match := pattern.search(text):
            span, final = read(match, today, market), is_final
            after = text.startswith(("之后", "以后"), match.end())
            break
    clock_match = _CLOCK.search(text)
    part_match = _PART.search(text)
    part = part_match[0] if part_match else None
    clock = _clock(clock_match, clock_match["part"] or part) if clock_match else None
    return _Parsed(span, final, after, clock, part)


def _aware(moment: datetime) -> datetime:
    # The store writes aware UTC; a naive time can only have come from the same clock.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve(
    title: str, when: str, published_at: datetime, market: TradingCalendar | None = None
) -> Resolved:
    """Place an event from its title and `when` words, relative to the post's publish time;
    `market` is the exchange calendar in force (default: the library's, no overrides).

    Unreadable or vague words (月底, 近期, 下半年), and 节后 of a holiday whose arrangement is
    not announced yet, give an unresolved event: starts_at None, past False.
    """
    published = _aware(published_at).astimezone(SHANGHAI)
    region, kind, importance = _classify(title)
    unresolved = Resolved(None, False, None, None, region, kind, importance, False)
    try:
        return _place(unresolved, title, when, published, market or trading.library())
    except trading.CalendarDataMissing as error:
        log.warning("event %r (%r) left unresolved: %s", title, when, error)
    except ValueError:  # 2月30日 and the like
        pass
    return unresolved


def _place(
    base: Resolved, title: str, when: str, published: datetime, market: TradingCalendar
) -> Resolved:
    def timed(starts: datetime) -> Resolved:
        starts = starts.astimezone(SHANGHAI)
        return replace(base, starts_at=starts, day=starts.date(), past=starts < published)

    def all_day(first: date, last: date | None) -> Resolved:
        ends = datetime.combine((last or first) + timedelta(days=1), time(), SHANGHAI)
        starts = datetime.combine(first, time(), SHANGHAI)
        return replace(
            base, starts_at=starts, all_day=True, day=first, end_day=last, past=ends <= published
        )

    today = published.date()
    said, titled = _parse(when, today, market), _parse(title, today, market)
    dated = said if said.span else titled
    clock, part = said.clock or titled.clock, said.part or titled.part
    if dated.span is None and clock is None and part is None:
        return base
    # a time with no day ("晚上8点半") is about the publish day
    first, last = dated.span or (today, None)

    if dated.after:
        # "休市 周五之后": the market shuts after that day; the news is when it reopens
        if base.kind != "holiday":
            return base
        return all_day(market.next_closure(first + timedelta(days=1)).reopens, None)
    if dated.final or last is not None:
        return all_day(first, last)
    if clock is not None:
        hour, minute = clock
        starts = datetime.combine(first, time(), SHANGHAI) + timedelta(hours=hour, minutes=minute)
        if dated.span is None and part == "凌晨" and starts < published:
            starts += timedelta(days=1)  # "凌晨2点" in a note looks ahead to the coming night
        return timed(starts)
    if base.region == "US":
        for pattern, at in _US_RULES:
            if pattern.search(title):
                # "周四凌晨议息" names the Beijing date, the day after the US one
                us_day = first - timedelta(days=1) if part == "凌晨" else first
                return timed(datetime.combine(us_day, at, NEW_YORK))
    if part in _EVENING:
        evening = timed(datetime.combine(first, time(*_DEFAULT_EVENING), SHANGHAI))
        # "周四晚上" in a note published Thursday 21:08: the evening is not over, only the
        # guessed hour is; the event stays, as an all-day event on that day
        return all_day(first, None) if evening.past and first == today else evening
    return all_day(first, None)
