"""The Shanghai Stock Exchange (XSHG) trading calendar: sessions, holiday closures, reopenings.

The closed days come from `holidays` (its financial calendar XSHG), with the admins'
overrides on top (digests/calendar/closures.py stores them). The State Council announces each
year's holiday arrangement in November and the library follows in a later release, so a year
is one of:

- **announced**: the library holds that year's arrangement (make-up days included), or an
  admin has entered closures for it;
- **estimated**: the year after the last announced one: only the statutory holidays the
  library computes (元旦, 春节 …, with weekend holidays carried to the next workday). Those days
  are surely closed, but the announced closures are usually longer, so an estimated closure is
  marked as such and never used to place 节后;
- **unknown**: anything later; a question about it raises CalendarDataMissing rather than
  guessing that an unknown weekday is a session.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.metadata import version

from digests.errors import DigestbotError

__all__ = [
    "CalendarDataMissing",
    "ClosedDay",
    "Closure",
    "Override",
    "TradingCalendar",
    "library",
]

FIRST_YEAR = 2015  # older posts are not digested; the library goes back to 2001
LIBRARY = f"holidays {version('holidays')}"


class CalendarDataMissing(DigestbotError):
    """A day the calendar cannot place: outside its years, or a closure not announced yet."""


@dataclass(frozen=True)
class Override:
    """An admin's word on one day: closed (with the holiday's name) or open after all."""

    day: date
    closed: bool
    name: str = ""
    by: str = ""


@dataclass(frozen=True)
class ClosedDay:
    """A weekday the market is shut, and where that fact came from."""

    day: date
    name: str  # 春节, 国庆节 …, or the admin's name for it
    source: str  # "holidays 0.109" or "admin"
    estimated: bool  # statutory days of a year whose arrangement is not announced yet


@dataclass(frozen=True)
class Closure:
    """A run of weekdays the market is shut (a holiday), between two sessions."""

    first_day: date  # first closed weekday (the weekend before it is ordinary)
    last_day: date  # last closed weekday, inclusive
    last_session_before: date
    reopens: date
    name: str  # 春节, 国庆节, …; 休市 when no holiday name is known
    estimated: bool = False  # some of it only estimated: its end may move


# When holidays merge (中秋 into 国庆), the closure takes the first name of this list it holds.
_PRIORITY = ("国庆节", "春节", "元旦", "劳动节", "清明节", "端午节", "中秋节")
_SUFFIX = re.compile(r"（[^）]*）$")


def _holiday_name(label: str) -> str:
    """The library's zh_CN label → the holiday: 清明节（补假） → 清明节, 农历除夕 → 春节; a
    make-up day off (休息日（由 … 调休）) belongs to no holiday by itself."""
    names = [_SUFFIX.sub("", part.strip()) for part in label.split(";")]
    names = ["春节" if name == "农历除夕" else name for name in names]
    return next((name for name in _PRIORITY if name in names), "")


@functools.cache
def _announced_through() -> int:
    """The last year whose State Council arrangement the installed library holds: the last
    year of its table of make-up days (a year's arrangement always moves some)."""
    from holidays.countries.china import ChinaStaticHolidays

    return max(ChinaStaticHolidays.special_public_holidays)


@functools.cache
def _library_days(last_year: int) -> dict[date, str]:
    """Closed weekdays from FIRST_YEAR to `last_year`, by the library: day → holiday name."""
    import holidays  # imported on first use: most processes never ask a trading question

    found = holidays.financial_holidays(
        "XSHG", years=range(FIRST_YEAR, last_year + 1), language="zh_CN"
    )
    return {day: _holiday_name(label) for day, label in found.items() if day.weekday() < 5}


class TradingCalendar:
    """Sessions and closures from the library and the admins' overrides; immutable."""

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        overrides = list(overrides)
        self.announced = set(range(FIRST_YEAR, _announced_through() + 1))
        self.announced |= {o.day.year for o in overrides}
        self.starts = date(FIRST_YEAR, 1, 1)
        self.ends = date(max(self.announced) + 1, 12, 31)  # one estimated year
        closed = {
            day: ClosedDay(day, name, LIBRARY, day.year not in self.announced)
            for day, name in _library_days(self.ends.year).items()
        }
        for override in sorted(overrides, key=lambda o: o.day):
            if not override.closed:
                closed.pop(override.day, None)
            elif override.day.weekday() < 5:
                closed[override.day] = ClosedDay(override.day, override.name, "admin", False)
        self.closed = closed
        weekdays = (self.starts + timedelta(days=n) for n in range((self.ends - self.starts).days))
        self.days = tuple(d for d in weekdays if d.weekday() < 5 and d not in closed)
        self._members = frozenset(self.days)

    # ---- coverage ---------------------------------------------------------------------

    def estimated(self, day: date) -> bool:
        """Whether `day` lies in a year whose holiday arrangement is not announced yet."""
        return day.year not in self.announced

    def unannounced_years(self, start: date, end: date) -> list[int]:
        """The years between `start` and `end` whose arrangement is estimated or unknown."""
        return [year for year in range(start.year, end.year + 1) if year not in self.announced]

    def _missing(self, day: date) -> CalendarDataMissing:
        return CalendarDataMissing(
            f"the Shanghai exchange calendar covers {self.starts:%Y} to {self.ends:%Y}, so {day} "
            "cannot be placed; upgrade holidays or add that year's closures (/closure_add)"
        )

    def _check(self, day: date) -> None:
        if not self.starts <= day <= self.ends:
            raise self._missing(day)

    # ---- sessions ---------------------------------------------------------------------

    def is_session(self, day: date) -> bool:
        """Whether the Shanghai market trades on `day`."""
        self._check(day)
        return day in self._members

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        self._check(day)
        index = bisect.bisect_right(self.days, day)
        if index == len(self.days):
            raise self._missing(self.ends + timedelta(days=1))
        return self.days[index]

    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        self._check(day)
        index = bisect.bisect_left(self.days, day)
        if index == 0:
            raise self._missing(self.starts - timedelta(days=1))
        return self.days[index - 1]

    def first_session_on_or_after(self, day: date) -> date:
        """`day` itself when it is a session, else the next session."""
        return day if self.is_session(day) else self.next_session(day)

    # ---- closures ---------------------------------------------------------------------

    def _closures_from(self, index: int) -> Iterator[Closure]:
        """Every closure between consecutive sessions, starting with the gap after days[index]."""
        for before, after in zip(self.days[index:], self.days[index + 1 :], strict=False):
            closed = [
                self.closed[before + timedelta(days=n)]
                for n in range(1, (after - before).days)
                if (before + timedelta(days=n)) in self.closed
            ]
            if not closed:  # a gap of weekend days only is an ordinary weekend
                continue
            names = {c.name for c in closed}
            name = next((n for n in (*_PRIORITY, *sorted(names)) if n in names and n), "休市")
            estimated = any(c.estimated for c in closed)
            yield Closure(closed[0].day, closed[-1].day, before, after, name, estimated)

    def closures(self, start: date, end: date) -> list[Closure]:
        """The holiday closures with at least one closed weekday between `start` and `end`."""
        self._check(start)
        self._check(end)
        found: list[Closure] = []
        # start from the session before `start`, so a closure already under way is included
        for closure in self._closures_from(max(bisect.bisect_left(self.days, start) - 1, 0)):
            if closure.first_day > end:
                break
            if closure.last_day >= start:
                found.append(closure)
        return found

    def next_closure(self, day: date, *, names: Container[str] | None = None) -> Closure:
        """The first closure not over by `day` (it may be under way), optionally one of
        `names`. An estimated closure is not an answer: its end (the reopening) may move."""
        self._check(day)
        for closure in self._closures_from(max(bisect.bisect_left(self.days, day) - 1, 0)):
            if closure.last_day >= day and (names is None or closure.name in names):
                if closure.estimated:
                    raise CalendarDataMissing(
                        f"the {closure.first_day:%Y} holiday arrangement is not announced yet "
                        f"({LIBRARY} estimates {closure.name} from the statutory days)"
                    )
                return closure
        raise self._missing(self.ends + timedelta(days=1))

    def closed_days(self, start: date, end: date) -> list[ClosedDay]:
        """Every closed weekday between `start` and `end`, with its source."""
        return [self.closed[d] for d in sorted(self.closed) if start <= d <= end]


@functools.cache
def library() -> TradingCalendar:
    """The calendar as the installed library knows it, without the admins' overrides."""
    return TradingCalendar()
