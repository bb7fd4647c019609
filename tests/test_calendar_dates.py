"""The Shanghai trading calendar and the reading of events' `when` words.

The publish time is the seed post's (examples: 2026-02-12 13:27 Beijing, a Thursday, the last
week before the Spring Festival closure); the calendar facts are the installed `holidays`
release's XSHG data for 2026 (the exchange's announced closures).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from digests.days import trading
from digests.days.dates import SHANGHAI, resolve
from digests.errors import DigestbotError

BEIJING = timezone(timedelta(hours=8))
SEED_PUBLISHED = datetime(2026, 2, 12, 13, 27, tzinfo=BEIJING)


def beijing(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING)


# ---- trading.py ---------------------------------------------------------------------------

MARKET = trading.library()


def test_spring_festival_2026_closure() -> None:
    """The market trades 2026-02-13, is shut 02-16..02-23 (weekdays) and reopens 02-24."""
    assert MARKET.is_session(date(2026, 2, 13))
    for day in (16, 17, 18, 19, 20, 23):
        assert not MARKET.is_session(date(2026, 2, day))
    assert MARKET.next_session(date(2026, 2, 13)) == date(2026, 2, 24)
    assert MARKET.previous_session(date(2026, 2, 24)) == date(2026, 2, 13)
    assert MARKET.first_session_on_or_after(date(2026, 2, 14)) == date(2026, 2, 24)
    assert MARKET.first_session_on_or_after(date(2026, 2, 13)) == date(2026, 2, 13)
    (closure,) = MARKET.closures(date(2026, 2, 1), date(2026, 2, 28))
    assert closure == trading.Closure(
        first_day=date(2026, 2, 16),
        last_day=date(2026, 2, 23),
        last_session_before=date(2026, 2, 13),
        reopens=date(2026, 2, 24),
        name="春节",
    )


def test_labour_day_2026_closure() -> None:
    """Labour Day 2026 shuts 05-01, 05-04, 05-05; last session 04-30, reopening 05-06."""
    for day in (date(2026, 5, 1), date(2026, 5, 4), date(2026, 5, 5)):
        assert not MARKET.is_session(day)
    (closure,) = MARKET.closures(date(2026, 4, 28), date(2026, 5, 10))
    assert (closure.first_day, closure.last_day) == (date(2026, 5, 1), date(2026, 5, 5))
    assert closure.last_session_before == date(2026, 4, 30)
    assert closure.reopens == date(2026, 5, 6)
    assert closure.name == "劳动节"


def test_national_day_2026_closure() -> None:
    """National Day 2026 shuts 10-01..10-07 and reopens 10-08."""
    for day in (1, 2, 5, 6, 7):
        assert not MARKET.is_session(date(2026, 10, day))
    (closure,) = MARKET.closures(date(2026, 9, 28), date(2026, 10, 12))
    assert (closure.first_day, closure.last_day) == (date(2026, 10, 1), date(2026, 10, 7))
    assert (closure.reopens, closure.name) == (date(2026, 10, 8), "国庆节")


def test_closures_skip_ordinary_weekends_and_include_one_under_way() -> None:
    """A plain weekend is no closure; a closure that began before `start` is still listed."""
    assert MARKET.closures(date(2026, 3, 2), date(2026, 3, 31)) == []
    (closure,) = MARKET.closures(date(2026, 2, 20), date(2026, 2, 20))
    assert closure.name == "春节"


def test_closures_are_named_for_their_holiday() -> None:
    """Every 2026 closure carries its Chinese holiday name, none is estimated (2026's
    arrangement is announced), and the 2026 closed weekdays are exactly the exchange's."""
    found = MARKET.closures(date(2026, 1, 1), date(2026, 12, 31))
    assert [c.name for c in found] == [
        "元旦",
        "春节",
        "清明节",
        "劳动节",
        "端午节",
        "中秋节",
        "国庆节",
    ]
    assert not any(c.estimated for c in found)
    closed = [d.day for d in MARKET.closed_days(date(2026, 1, 1), date(2026, 12, 31))]
    assert [f"{d:%m-%d}" for d in closed] == [
        "01-01", "01-02", "02-16", "02-17", "02-18", "02-19", "02-20", "02-23", "04-06",
        "05-01", "05-04", "05-05", "06-19", "09-25", "10-01", "10-02", "10-05", "10-06",
        "10-07",
    ]  # fmt: skip


def test_the_library_tells_which_years_are_announced() -> None:
    """The installed holidays release holds the State Council's arrangement through 2026 at
    least (read from its table of make-up days: an upgrade that moves it fails here)."""
    assert max(MARKET.announced) >= 2026
    assert MARKET.ends == date(max(MARKET.announced) + 1, 12, 31)


def test_the_year_after_the_last_announced_one_is_estimated() -> None:
    """A year with no announced arrangement gets the statutory holidays, marked estimated:
    sessions and closures work, but 节后 (the reopening) is not placed from a guess."""
    market = trading.TradingCalendar()
    year = market.ends.year  # the estimated year, whatever release is installed
    new_year = date(year, 1, 1)
    assert market.estimated(new_year) and not market.estimated(date(year - 1, 6, 1))
    assert market.unannounced_years(date(year - 1, 11, 29), date(year, 1, 28)) == [year]
    assert market.unannounced_years(date(year - 1, 6, 1), date(year - 1, 7, 31)) == []
    if new_year.weekday() < 5:
        assert not market.is_session(new_year)
    (closure, *_) = market.closures(date(year, 1, 1), date(year, 1, 10))
    assert closure.estimated and closure.name == "元旦"
    with pytest.raises(trading.CalendarDataMissing, match="not announced"):
        market.next_closure(date(year - 1, 12, 20))


def test_admin_overrides_close_and_open_days_and_announce_the_year() -> None:
    """Closures an admin enters for 2027 replace the estimate (2027 counts as announced, 节后
    resolves to the reopening they give); an admin can open a day the library closes."""
    added = [trading.Override(date(2027, 2, d), True, "春节", "telegram:1") for d in (11, 12)]
    opened = trading.Override(date(2026, 6, 19), False, "", "cli")
    market = trading.TradingCalendar([*added, opened])
    assert 2027 in market.announced and market.ends == date(2028, 12, 31)
    assert not market.is_session(date(2027, 2, 12)) and market.is_session(date(2026, 6, 19))
    spring = market.next_closure(date(2027, 1, 20), names={"春节"})
    assert (spring.first_day, spring.last_day, spring.reopens) == (
        date(2027, 2, 5),
        date(2027, 2, 12),
        date(2027, 2, 15),
    )
    assert not spring.estimated
    assert market.closed[date(2027, 2, 12)].source == "admin"
    assert market.closed[date(2027, 2, 8)].source == trading.LIBRARY
    after = resolve("A股", "春节后", beijing(2027, 1, 20, 10, 0), market)
    assert after.starts_at == beijing(2027, 2, 15, 0, 0) and after.all_day


def test_a_day_past_the_data_raises() -> None:
    """Asking about a day beyond the calendar's end raises CalendarDataMissing, a
    DigestbotError whose sentence says what to do."""
    beyond = MARKET.ends + timedelta(days=3)
    with pytest.raises(trading.CalendarDataMissing, match="/closure_add"):
        MARKET.is_session(beyond)
    with pytest.raises(trading.CalendarDataMissing):
        MARKET.next_session(MARKET.ends)
    with pytest.raises(trading.CalendarDataMissing):
        MARKET.closures(MARKET.ends - timedelta(days=10), beyond)
    assert issubclass(trading.CalendarDataMissing, DigestbotError)


# ---- dates.py: the seed post's events -------------------------------------------------------


def test_cpi_friday_is_the_us_release_in_beijing_time() -> None:
    """CPI + 周五 is Friday 08:30 New York: 2026-02-13 21:30 Beijing, US, importance 3."""
    event = resolve("CPI", "周五", SEED_PUBLISHED)
    assert event.starts_at == beijing(2026, 2, 13, 21, 30)
    assert (event.all_day, event.day, event.region, event.kind) == (
        False,
        date(2026, 2, 13),
        "US",
        "macro",
    )
    assert (event.importance, event.past) == (3, False)


def test_payrolls_earlier_in_the_week_are_past() -> None:
    """美国非农 + 周三 is Wednesday of the publish week, already over: past."""
    event = resolve("美国非农", "周三", SEED_PUBLISHED)
    assert event.starts_at == beijing(2026, 2, 11, 21, 30)
    assert event.past


def test_time_of_day_words_combine_with_the_title() -> None:
    """The title names the release and `when` the day; a date only in the title also works."""
    assert resolve("CPI", "周五晚上", SEED_PUBLISHED).starts_at == beijing(2026, 2, 13, 21, 30)
    assert resolve("周五CPI", "", SEED_PUBLISHED).starts_at == beijing(2026, 2, 13, 21, 30)


@pytest.mark.parametrize(
    ("title", "when"), [("春节休市", "节后"), ("休市", "周五之后"), ("A股", "节后首个交易日")]
)
def test_after_the_holiday_is_the_reopening_session(title: str, when: str) -> None:
    """节后 (or a closure "after Friday") is the first session after the Spring Festival."""
    event = resolve(title, when, SEED_PUBLISHED)
    assert (event.all_day, event.day, event.end_day) == (True, date(2026, 2, 24), None)
    assert event.starts_at == beijing(2026, 2, 24, 0, 0)
    assert not event.past


def test_holiday_titles_are_holiday_kind() -> None:
    """Titles about closures are kind "holiday" with importance 2."""
    event = resolve("春节休市", "节后", SEED_PUBLISHED)
    assert (event.kind, event.importance, event.region) == ("holiday", 2, "CN")


@pytest.mark.parametrize(
    ("when", "day"),
    [
        ("下周二", date(2026, 2, 17)),
        ("星期日", date(2026, 2, 15)),
        ("上周五", date(2026, 2, 6)),
        ("明天", date(2026, 2, 13)),
        ("后天", date(2026, 2, 14)),
        ("礼拜一", date(2026, 2, 9)),
    ],
)
def test_relative_days_are_all_day(when: str, day: date) -> None:
    """Weekdays of the publish week (or the next/previous one) and 明天-style words are all-day."""
    event = resolve("发布会", when, SEED_PUBLISHED)
    assert (event.all_day, event.day, event.end_day) == (True, day, None)
    assert event.starts_at == datetime.combine(day, datetime.min.time(), SHANGHAI)
    assert event.past == (day < date(2026, 2, 12))


@pytest.mark.parametrize(
    ("when", "starts"),
    [
        ("今晚", beijing(2026, 2, 12, 20, 0)),
        ("晚上8点半", beijing(2026, 2, 12, 20, 30)),
        ("凌晨2点", beijing(2026, 2, 13, 2, 0)),
        ("下午3点", beijing(2026, 2, 12, 15, 0)),
        ("明晚九点", beijing(2026, 2, 13, 21, 0)),
        ("下周一 09:30", beijing(2026, 2, 16, 9, 30)),
    ],
)
def test_times_of_day(when: str, starts: datetime) -> None:
    """今晚 is 20:00; 晚上/下午 move the hour past noon; a bare 凌晨 hour is the coming night."""
    event = resolve("发布会", when, SEED_PUBLISHED)
    assert event.starts_at == starts
    assert not event.all_day
    assert event.day == starts.date()


# ---- dates.py: US daylight saving -----------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "when", "starts"),
    [
        ("CPI", "3月6日", beijing(2026, 3, 6, 21, 30)),
        ("CPI", "3月13日", beijing(2026, 3, 13, 20, 30)),
        ("非农", "3月6日", beijing(2026, 3, 6, 21, 30)),
        ("非农", "4月3日", beijing(2026, 4, 3, 20, 30)),
        ("FOMC", "3月18日", beijing(2026, 3, 19, 2, 0)),
        ("美联储议息", "1月28日", beijing(2026, 1, 29, 3, 0)),
    ],
)
def test_us_releases_follow_new_york_daylight_saving(
    title: str, when: str, starts: datetime
) -> None:
    """08:30 New York is 21:30 Beijing before 2026-03-08 and 20:30 after; FOMC 14:00 is next day."""
    event = resolve(title, when, SEED_PUBLISHED)
    assert event.starts_at == starts
    assert event.region == "US"


def test_chinese_cpi_stays_in_china() -> None:
    """中国CPI is not a US release: no New York time, an all-day Chinese event."""
    event = resolve("中国CPI", "3月9日", SEED_PUBLISHED)
    assert (event.region, event.all_day, event.day) == ("CN", True, date(2026, 3, 9))


# ---- dates.py: calendar dates and ranges ----------------------------------------------------


def test_january_in_a_december_note_is_next_year() -> None:
    """Published 2026-12-20, "1月5日" means 2027-01-05."""
    event = resolve("会议", "1月5日", beijing(2026, 12, 20, 10, 0))
    assert event.day == date(2027, 1, 5)
    assert not event.past


def test_full_dates_and_号() -> None:
    """YYYY年M月D日 takes the year as written; M月D号 is the same as M月D日."""
    assert resolve("会议", "2027年3月1日", SEED_PUBLISHED).day == date(2027, 3, 1)
    assert resolve("会议", "3月1号", SEED_PUBLISHED).day == date(2026, 3, 1)


@pytest.mark.parametrize("when", ["5月1日至5月5日", "5月1日-5日", "5月1日~5月5日", "5月1日到5日"])
def test_ranges_are_all_day_spans(when: str) -> None:
    """A date range is one all-day event from its first to its last day, inclusive."""
    event = resolve("劳动节休市", when, SEED_PUBLISHED)
    assert (event.all_day, event.day, event.end_day) == (True, date(2026, 5, 1), date(2026, 5, 5))
    assert event.kind == "holiday"


def test_a_range_is_past_only_after_its_last_day() -> None:
    """An all-day range under way at publish time is not past."""
    assert not resolve("休市", "2月11日至2月12日", SEED_PUBLISHED).past
    assert resolve("休市", "2月10日至2月11日", SEED_PUBLISHED).past


def test_labour_day_reopening() -> None:
    """Published 2026-04-28, 节后 is the reopening after Labour Day: 2026-05-06."""
    event = resolve("A股", "节后", beijing(2026, 4, 28, 9, 0))
    assert (event.day, event.all_day) == (date(2026, 5, 6), True)


def test_last_session_before_the_holiday() -> None:
    """节前最后一个交易日 is the session before the next closure."""
    assert resolve("A股", "节前最后一个交易日", SEED_PUBLISHED).day == date(2026, 2, 13)


# ---- dates.py: what stays unresolved ------------------------------------------------------


@pytest.mark.parametrize("when", ["月底", "近期", "下半年", "年内", "下月", "", "2月30日"])
def test_vague_words_stay_unresolved(when: str) -> None:
    """Vague or impossible dates leave starts_at and day None, and are never past."""
    event = resolve("社融数据", when, SEED_PUBLISHED)
    assert (event.starts_at, event.day, event.end_day, event.past) == (None, None, None, False)
    assert (event.kind, event.importance) == ("macro", 2)


def test_after_a_day_is_unresolved_unless_a_closure() -> None:
    """周五之后 only means the reopening for a market-closure event."""
    assert resolve("发布会", "周五之后", SEED_PUBLISHED).starts_at is None


def test_reopening_of_an_unannounced_closure_is_unresolved() -> None:
    """节后 when the next closure is only estimated (its year not announced) is unresolved,
    not an error and not a guess."""
    year = MARKET.ends.year
    event = resolve("A股", "节后", beijing(year - 1, 12, 20, 10, 0))
    assert event.starts_at is None


def test_an_event_on_the_posts_own_evening_stays() -> None:
    """A note published Thursday 21:08 about 周四晚上 (no exact time): the event is kept as
    an all-day event that day, not dropped as past; an exact time already gone is past."""
    published = beijing(2026, 3, 5, 21, 8)
    event = resolve("美联储主席国会听证", "周四晚上", published)
    assert (event.all_day, event.day, event.past) == (True, date(2026, 3, 5), False)
    assert resolve("美联储主席国会听证", "今晚", published).past is False
    assert resolve("发布会", "周四晚上8点", published).past is True
    earlier = resolve("美联储主席国会听证", "周四晚上", beijing(2026, 3, 5, 9, 0))
    assert (earlier.starts_at, earlier.all_day) == (beijing(2026, 3, 5, 20, 0), False)


def test_naive_publish_time_is_utc() -> None:
    """A naive publish time is read as UTC, as the store writes it."""
    naive = datetime(2026, 2, 12, 5, 27)
    assert resolve("CPI", "周五", naive) == resolve("CPI", "周五", naive.replace(tzinfo=UTC))
