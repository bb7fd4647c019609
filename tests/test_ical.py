"""The iCalendar feed: what calendar apps rely on when they subscribe to it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Alarm, Calendar
from icalendar import Event as VEvent

from digests.calendar.ical import PRODID, calendar_ics
from digests.models import CalendarEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREATED = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
UPDATED = datetime(2026, 2, 3, 10, 15, tzinfo=UTC)
CPI_AT = datetime(2026, 3, 11, 20, 30, tzinfo=SHANGHAI)


def _event(uid: str, **fields: Any) -> CalendarEvent:
    fields.setdefault("title", uid)
    fields.setdefault("status", "confirmed")
    return CalendarEvent(uid=uid, created_at=CREATED, updated_at=UPDATED, **fields)


def _events() -> list[CalendarEvent]:
    return [
        _event(
            "cpi@digestbot",
            title="美国2月CPI数据发布",
            starts_at=CPI_AT,
            region="US",
            kind="macro",
            importance=3,
            when_text="下周三晚八点半",
        ),
        _event(
            "spring@digestbot",
            title="春节休市",
            starts_at=datetime(2026, 2, 16, tzinfo=SHANGHAI),
            all_day=True,
            day=date(2026, 2, 16),
            end_day=date(2026, 2, 20),
            kind="holiday",
        ),
        _event("meeting@digestbot", title="央行例会（待定）", status="proposed"),
        _event(
            "earnings@digestbot",
            title="宁德时代业绩说明会",
            starts_at=datetime(2026, 3, 20, 7, 0, tzinfo=UTC),
            kind="earnings",
            status="cancelled",
        ),
    ]


def _export(events: list[CalendarEvent]) -> bytes:
    return calendar_ics(events, name="研报日历", tz=SHANGHAI)


def _calendar(data: bytes) -> Calendar:
    cal = Calendar.from_ical(data)
    assert isinstance(cal, Calendar)
    return cal


def _vevents(data: bytes) -> dict[str, VEvent]:
    return {ev.uid: ev for ev in _calendar(data).events}


def _alarms(vevent: VEvent) -> list[Alarm]:
    return [component for component in vevent.subcomponents if isinstance(component, Alarm)]


def test_calendar_header_and_single_timezone() -> None:
    """The feed names itself and carries exactly one VTIMEZONE, the one DTSTART refers to."""
    cal = _calendar(_export(_events()))
    assert str(cal["PRODID"]) == PRODID
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["X-WR-CALNAME"]) == "研报日历"
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert cal.refresh_interval == timedelta(hours=1)
    assert [tz.tz_name for tz in cal.timezones] == ["Asia/Shanghai"]
    assert cal.get_used_tzids() == {"Asia/Shanghai"}


def test_resolved_events_exported_with_uids() -> None:
    """Every event with a date becomes one VEVENT under its own UID; proposals without one don't."""
    assert set(_vevents(_export(_events()))) == {
        "cpi@digestbot",
        "spring@digestbot",
        "earnings@digestbot",
    }


def test_timed_event_starts_at_the_aware_time() -> None:
    """A timed event starts at its instant in the feed's zone and lasts 30 minutes."""
    cpi = _vevents(_export(_events()))["cpi@digestbot"]
    assert cpi.start == CPI_AT
    assert cpi.duration == timedelta(minutes=30)
    earnings = _vevents(_export(_events()))["earnings@digestbot"]
    assert earnings.start == datetime(2026, 3, 20, 15, 0, tzinfo=SHANGHAI)


def test_all_day_range_ends_the_day_after_its_last_day() -> None:
    """An all-day range is dated, with an exclusive DTEND one day past its last day."""
    spring = _vevents(_export(_events()))["spring@digestbot"]
    assert spring.start == date(2026, 2, 16)
    assert spring.end == date(2026, 2, 21)
    assert spring.transparency == "TRANSPARENT"
    single = _vevents(_export([_event("d", day=date(2026, 4, 5), all_day=True)]))["d"]
    assert single.end == date(2026, 4, 6)


def test_metadata_comes_from_the_row() -> None:
    """DTSTAMP/LAST-MODIFIED/CREATED, STATUS, PRIORITY and CATEGORIES mirror the event row."""
    cpi = _vevents(_export(_events()))["cpi@digestbot"]
    assert cpi.DTSTAMP == UPDATED
    assert cpi.LAST_MODIFIED == UPDATED
    assert cpi.CREATED == CREATED
    assert cpi.status == "CONFIRMED"
    assert cpi.priority == 1
    assert cpi.categories == ["macro"]
    assert "下周三晚八点半" in str(cpi.description)
    assert "US" in str(cpi.description)
    tentative = _vevents(_export([_event("p", day=date(2026, 5, 1), status="proposed")]))["p"]
    assert tentative.status == "TENTATIVE"
    assert tentative.priority == 5


def test_same_events_export_byte_identical() -> None:
    """Exporting unchanged events twice, in any input order, gives the same bytes."""
    assert _export(_events()) == _export(_events())
    assert _export(_events()) == _export(list(reversed(_events())))


def test_changed_event_keeps_uid_and_raises_sequence() -> None:
    """An edited event keeps its UID and shows the raised SEQUENCE, so apps update it in place."""
    events = _events()
    before = _export(events)
    events[0].starts_at = CPI_AT + timedelta(hours=1)
    events[0].sequence = 1
    events[0].updated_at = UPDATED + timedelta(days=1)
    after = _export(events)
    assert after != before
    cpi = _vevents(after)["cpi@digestbot"]
    assert cpi.sequence == 1
    assert cpi.start == CPI_AT + timedelta(hours=1)


def test_cancelled_event_kept_without_alarm() -> None:
    """A cancelled event stays in the feed as STATUS:CANCELLED and rings no alarm."""
    earnings = _vevents(_export(_events()))["earnings@digestbot"]
    assert earnings.status == "CANCELLED"
    assert _alarms(earnings) == []


def test_confirmed_important_event_alarms_30_minutes_before() -> None:
    """A confirmed importance-3 event carries a DISPLAY alarm 30 minutes before it starts."""
    cpi = _vevents(_export(_events()))["cpi@digestbot"]
    [alarm] = _alarms(cpi)
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert timedelta(minutes=-30) == alarm.TRIGGER
    assert alarm.description == "美国2月CPI数据发布"
    assert b"TRIGGER:-PT30M" in _export(_events())


def test_one_alarm_per_lead() -> None:
    """Each lead time the caller passes becomes one alarm, earliest first."""
    data = calendar_ics(_events()[:1], name="x", tz=SHANGHAI, lead_minutes=(30, 720))
    triggers = [a.TRIGGER for a in _alarms(_vevents(data)["cpi@digestbot"])]
    assert triggers == [timedelta(hours=-12), timedelta(minutes=-30)]


def test_lines_folded_and_crlf_terminated() -> None:
    """Content lines end in CRLF and are folded at 75 octets, even mid-way through Chinese."""
    long_title = "国家统计局发布全国居民消费价格指数与工业生产者出厂价格指数" * 3
    data = _export([_event("long", title=long_title, starts_at=CPI_AT)])
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # folding really happened
    assert _vevents(data)["long"].summary == long_title


def test_chinese_text_round_trips() -> None:
    """Chinese titles, descriptions and the calendar name survive export and parse."""
    data = _export(_events())
    assert _calendar(data).calendar_name == "研报日历"
    spring = _vevents(data)["spring@digestbot"]
    assert spring.summary == "春节休市"
    assert "央行例会" not in data.decode("utf-8")


def test_naive_datetime_refused() -> None:
    """A naive start is refused rather than read as the server's local time."""
    with pytest.raises(ValueError, match="naive"):
        _export([_event("naive", starts_at=datetime(2026, 3, 11, 20, 30))])
