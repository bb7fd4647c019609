"""The Shanghai Stock Exchange (XSHG) trading calendar: sessions, holiday closures, reopenings.

The data comes from `exchange_calendars`, which only knows the holidays the exchange has
announced (each December for the next year). A question about a day past the data raises
CalendarDataMissing rather than guessing that an unknown weekday is a session.
"""

from __future__ import annotations

import bisect
import functools
import warnings
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from digests.errors import DigestbotError

__all__ = [
    "CalendarDataMissing",
    "Closure",
    "closures",
    "data_ends",
    "first_session_on_or_after",
    "is_session",
    "next_closure",
    "next_session",
    "previous_session",
]


class CalendarDataMissing(DigestbotError):
    """A day outside the range the installed exchange calendar knows."""

    def __init__(self, day: date, *, starts: date, ends: date) -> None:
        if day < starts:
            message = f"the Shanghai exchange calendar starts {starts:%Y-%m-%d}; {day} is before it"
        else:
            message = (
                f"the Shanghai exchange calendar ends {ends:%Y-%m-%d}, so {day} cannot be "
                f"placed; update exchange_calendars for {ends.year + 1}"
            )
        super().__init__(message)
        self.day = day


@dataclass(frozen=True)
class Closure:
    """A run of weekdays the market is shut (a holiday), between two sessions."""

    first_day: date  # first closed weekday (the weekend before it is ordinary)
    last_day: date  # last closed weekday, inclusive
    last_session_before: date
    reopens: date
    name: str  # 春节, 国庆节, … by a month/day guess; 休市 when no rule fits


@dataclass(frozen=True)
class _Sessions:
    days: tuple[date, ...]  # sorted, for bisect
    members: frozenset[date]


@functools.cache
def _sessions() -> _Sessions:
    # Imported here: exchange_calendars pulls in pandas and takes about a second to import, and
    # building the calendar takes longer; most processes never ask a trading question.
    import exchange_calendars

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates; harmless
        # here, and tests turn warnings into errors.
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        calendar = exchange_calendars.get_calendar("XSHG")
    days = tuple(stamp.date() for stamp in calendar.sessions)
    return _Sessions(days=days, members=frozenset(days))


def data_ends() -> date:
    """The last day the installed calendar knows (its last session, 2026-12-31 in 4.13.2)."""
    return _sessions().days[-1]


def _check(day: date) -> _Sessions:
    sessions = _sessions()
    if not sessions.days[0] <= day <= sessions.days[-1]:
        raise CalendarDataMissing(day, starts=sessions.days[0], ends=sessions.days[-1])
    return sessions


def is_session(day: date) -> bool:
    """Whether the Shanghai market trades on `day`."""
    return day in _check(day).members


def next_session(day: date) -> date:
    """The first session strictly after `day`."""
    days = _check(day).days
    index = bisect.bisect_right(days, day)
    if index == len(days):
        # `day` is the last known session: whatever follows is next year's unknown data
        raise CalendarDataMissing(day + timedelta(days=1), starts=days[0], ends=days[-1])
    return days[index]


def previous_session(day: date) -> date:
    """The last session strictly before `day`."""
    days = _check(day).days
    index = bisect.bisect_left(days, day)
    if index == 0:
        raise CalendarDataMissing(day - timedelta(days=1), starts=days[0], ends=days[-1])
    return days[index - 1]


def first_session_on_or_after(day: date) -> date:
    """`day` itself when it is a session, else the next session."""
    days = _check(day).days
    return days[bisect.bisect_left(days, day)]


# First closed weekday (month, day) windows → holiday name; checked in order, so the National
# Day window wins over Mid-Autumn when the two holidays merge into one long closure.
_NAMES: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("元旦", (12, 28), (12, 31)),
    ("元旦", (1, 1), (1, 4)),
    ("春节", (1, 15), (2, 28)),
    ("清明节", (3, 31), (4, 10)),
    ("劳动节", (4, 27), (5, 6)),
    ("端午节", (5, 20), (6, 30)),
    ("国庆节", (9, 28), (10, 8)),
    ("中秋节", (9, 1), (9, 27)),
)


def _name(first_day: date) -> str:
    key = (first_day.month, first_day.day)
    return next((name for name, lo, hi in _NAMES if lo <= key <= hi), "休市")


def _closures_from(index: int) -> Iterator[Closure]:
    """Every closure between consecutive sessions, starting with the gap after days[index]."""
    days = _sessions().days
    for before, after in zip(days[index:], days[index + 1 :], strict=False):
        if (after - before).days <= 1:
            continue
        closed = [
            before + timedelta(days=offset)
            for offset in range(1, (after - before).days)
            if (before + timedelta(days=offset)).weekday() < 5
        ]
        if closed:  # a gap of weekend days only is an ordinary weekend
            yield Closure(closed[0], closed[-1], before, after, _name(closed[0]))


def closures(start: date, end: date) -> list[Closure]:
    """The holiday closures with at least one closed weekday between `start` and `end`."""
    _check(start)
    days = _check(end).days
    found: list[Closure] = []
    # start from the session before `start`, so a closure already under way is included
    for closure in _closures_from(max(bisect.bisect_left(days, start) - 1, 0)):
        if closure.first_day > end:
            break
        if closure.last_day >= start:
            found.append(closure)
    return found


def next_closure(day: date, *, names: Container[str] | None = None) -> Closure:
    """The first closure not over by `day` (it may be under way), optionally one of `names`."""
    days = _check(day).days
    for closure in _closures_from(max(bisect.bisect_left(days, day) - 1, 0)):
        if closure.last_day >= day and (names is None or closure.name in names):
            return closure
    # the closure asked for lies in a year whose holidays are not in the installed data
    raise CalendarDataMissing(days[-1] + timedelta(days=1), starts=days[0], ends=days[-1])
