"""iCalendar (RFC 5545) export of the event calendar, served as a subscribable feed.

Calendar apps poll the feed and reconcile by UID and SEQUENCE, so the output is a pure function
of the events: no clock is read, and events come out in a fixed order. Two exports of
unchanged events are therefore byte-identical, and an app sees a change only when one happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Timezone
from icalendar import Event as VEvent
from icalendar.enums import STATUS, TRANSP

from digests.models import CalendarEvent

PRODID = "-//digestbot//research digest calendar//ZH"
# A release is a moment, but a zero-length event is hard to see in most calendar apps.
TIMED_DURATION = timedelta(minutes=30)
# How often subscribed apps should re-poll; Google and Apple honour different properties.
REFRESH = timedelta(hours=1)

_STATUS = {
    "confirmed": STATUS.CONFIRMED,
    "proposed": STATUS.TENTATIVE,
    # Cancelled events stay in the feed: an app only removes what it is told was cancelled.
    "cancelled": STATUS.CANCELLED,
}
# RFC 5545 PRIORITY runs 1 (highest) to 9 (lowest); 0 means undefined.
_PRIORITY = {3: 1, 2: 5, 1: 9}


def calendar_ics(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    tz: ZoneInfo,
    lead_minutes: Sequence[int] = (30,),
) -> bytes:
    """Render the resolved `events` as one VCALENDAR in `tz`, alarms `lead_minutes` before each.

    Unresolved proposals (neither `starts_at` nor `day`) are left out; cancelled events are kept,
    without alarms, so subscribed apps drop them.
    """
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    cal.calendar_name = name  # NAME (RFC 7986) and X-WR-CALNAME (Google, Apple)
    cal.add("X-WR-TIMEZONE", tz.key)
    cal.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})  # RFC 7986 wants VALUE
    cal.add("X-PUBLISHED-TTL", "PT1H")  # Outlook's and Apple's spelling of the same hint
    # Added explicitly rather than by add_missing_timezones(), so an all-day-only calendar
    # still carries the zone its X-WR-TIMEZONE names.
    cal.add_component(_vtimezone(tz))
    resolved = [event for event in events if event.starts_at is not None or event.day is not None]
    for event in sorted(resolved, key=lambda event: (_sort_start(event, tz), event.uid)):
        cal.add_component(_vevent(event, tz, lead_minutes))
    return bytes(cal.to_ical())


@cache
def _vtimezone(tz: ZoneInfo) -> Timezone:
    # Computing the transitions takes a while and never changes for a zone; the component is
    # only read afterwards (to_ical), so sharing it between exports is safe.
    return Timezone.from_tzinfo(tz, tzid=tz.key)


def _all_day(event: CalendarEvent, tz: ZoneInfo) -> date | None:
    """The first day of an all-day event, None for a timed one."""
    if event.starts_at is None:
        return event.day  # only a day is known: nothing to be timed by
    if not event.all_day:
        return None
    return event.day or _aware(event.starts_at).astimezone(tz).date()


def _sort_start(event: CalendarEvent, tz: ZoneInfo) -> datetime:
    day = _all_day(event, tz)
    if day is not None:
        return datetime.combine(day, time.min, tzinfo=tz)
    assert event.starts_at is not None  # resolved and not all-day
    return _aware(event.starts_at)


def _aware(value: datetime) -> datetime:
    # A naive time would be read as the server's local time: a silent shift by hours.
    if value.tzinfo is None:
        raise ValueError("naive datetime on an event; attach a zone first")
    return value


def _vevent(event: CalendarEvent, tz: ZoneInfo, lead_minutes: Sequence[int]) -> VEvent:
    vevent = VEvent()
    vevent.add("UID", event.uid)
    vevent.add("SUMMARY", event.title)
    # DTSTAMP from the row, not the clock, keeps unchanged exports byte-identical.
    vevent.add("DTSTAMP", _aware(event.updated_at).astimezone(UTC))
    vevent.add("LAST-MODIFIED", _aware(event.updated_at).astimezone(UTC))
    vevent.add("CREATED", _aware(event.created_at).astimezone(UTC))
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("STATUS", _STATUS.get(event.status, STATUS.TENTATIVE))
    vevent.add("CATEGORIES", [event.kind])
    vevent.add("PRIORITY", _PRIORITY.get(event.importance, 0))
    vevent.add("DESCRIPTION", _description(event))
    day = _all_day(event, tz)
    if day is not None:
        last = max(event.end_day or day, day)
        vevent.add("DTSTART", day)
        vevent.add("DTEND", last + timedelta(days=1))  # DTEND is exclusive (RFC 5545 3.6.1)
        # A holiday or a release day should not mark the reader busy all day.
        vevent.add("TRANSP", TRANSP.TRANSPARENT)
    else:
        assert event.starts_at is not None
        vevent.add("DTSTART", _aware(event.starts_at).astimezone(tz))
        vevent.add("DURATION", TIMED_DURATION)
    if event.status != "cancelled":
        # Earliest alarm first, duplicates dropped: the order must not depend on the caller's.
        for lead in sorted(set(lead_minutes), reverse=True):
            alarm = Alarm()
            alarm.add("ACTION", "DISPLAY")
            alarm.add("DESCRIPTION", event.title)
            alarm.add("TRIGGER", timedelta(minutes=-lead))
            vevent.add_component(alarm)
    return vevent


def _description(event: CalendarEvent) -> str:
    lines = [f"地区：{event.region}"]
    if event.when_text:
        # The digest's own words, so a reader can check how the date was resolved.
        lines.append(f"原文时间：{event.when_text}")
    return "\n".join(lines)
