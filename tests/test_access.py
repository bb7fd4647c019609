"""Access rules with a fixed clock: period bounds in TIMEZONE, entitlement, hashing, lockout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from digests.models import AccessGrant
from digests.readers import access
from tests.conftest import SHANGHAI

FEB = access.period_bounds(date(2026, 2, 1), date(2026, 2, 28), SHANGHAI)


def grant(starts: datetime, ends: datetime) -> AccessGrant:
    return AccessGrant(subscriber_id=1, label="2026-02", starts_at=starts, ends_at=ends)


def test_period_runs_from_first_day_to_the_end_of_the_last_day_in_shanghai() -> None:
    """2026-02-01 00:00 +08:00 (= Jan 31 16:00 UTC) up to 2026-03-01 00:00 +08:00, exclusive."""
    starts, ends = FEB
    assert starts.astimezone(UTC) == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert ends.astimezone(UTC) == datetime(2026, 2, 28, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before it starts"):
        access.period_bounds(date(2026, 3, 1), date(2026, 2, 1), SHANGHAI)


@pytest.mark.parametrize(
    ("first", "last"),
    [(date(2026, 1, 1), date(9999, 12, 31)), (date(1, 1, 1), date(2026, 1, 1))],
)
def test_a_period_beyond_the_calendars_edge_is_refused_with_a_sentence(
    first: date, last: date
) -> None:
    """9999-12-31 (its end, the next midnight, overflows) and year 1 are refused, not raised."""
    with pytest.raises(ValueError, match="a period lies between 1970-01-01 and 2999-12-31"):
        access.period_bounds(first, last, SHANGHAI)


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (datetime(2026, 2, 1, 0, 0, tzinfo=SHANGHAI), True),  # first instant
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=SHANGHAI), False),  # a second before
        (datetime(2026, 2, 28, 23, 59, 59, tzinfo=SHANGHAI), True),  # last second
        (datetime(2026, 3, 1, 0, 0, tzinfo=SHANGHAI), False),  # the next period
        (datetime(2026, 2, 28, 17, 0, tzinfo=UTC), False),  # = Mar 1 01:00 in Shanghai
    ],
)
def test_gated_post_needs_a_grant_covering_its_publish_time(
    published: datetime, expected: bool
) -> None:
    """Boundaries are the period's ends in TIMEZONE, whatever zone the post time is in."""
    grants = [grant(*FEB)]
    assert access.entitled(gated=True, published_at=published, grants=grants) is expected
    assert access.entitled(gated=False, published_at=published, grants=[]) is True


PAID = datetime(2026, 3, 10, 20, 30, tzinfo=SHANGHAI)  # a Stars payment, or a code redeemed
WRITTEN, EARLIER = PAID - timedelta(minutes=30), PAID - timedelta(minutes=20)  # 20:00, 20:10
LATER = PAID + timedelta(minutes=30)  # 21:00
TODAY = datetime(2026, 3, 10, tzinfo=SHANGHAI)  # a code's period that starts today
DAYS = timedelta(days=30)


@pytest.mark.parametrize(
    ("label", "starts", "written", "released", "expected"),
    [
        # Stars: what is published while it runs, whenever the post was written
        ("stars:ch1", PAID, WRITTEN, LATER, True),  # the 20:00 / 20:30 / 21:00 case
        ("stars:ch1", PAID, WRITTEN, EARLIER, False),  # published before the payment
        ("stars:ch1", PAID, LATER, LATER, True),
        ("stars:ch1", PAID, WRITTEN, None, False),  # no publication named: the post's date
        # a code whose period starts today: the same
        ("code:7", TODAY, TODAY - timedelta(hours=1), LATER, True),  # written last night
        ("code:7", TODAY, TODAY - timedelta(hours=1), TODAY - timedelta(minutes=1), False),
        # a password's period covers the posts dated in it, as the blog's password does
        ("2026-03", TODAY, TODAY - timedelta(hours=1), LATER, False),
        ("2026-03", TODAY, LATER, LATER, True),
        ("2026-03", TODAY, LATER, LATER + timedelta(days=40), True),  # published after it
    ],
)
def test_a_paid_or_code_grant_covers_what_is_published_while_it_runs(
    label: str, starts: datetime, written: datetime, released: datetime | None, expected: bool
) -> None:
    """A Stars or code grant covers a digest published to readers while it runs, or a post
    dated in it; a password's grant covers the posts dated in its period."""
    held = [AccessGrant(subscriber_id=1, label=label, starts_at=starts, ends_at=starts + DAYS)]
    assert (
        access.entitled(gated=True, published_at=written, grants=held, released_at=released)
        is expected
    )


def test_password_hash_is_salted_and_checked_in_constant_time() -> None:
    """Two hashes of one password differ; the right one verifies, others and junk do not."""
    first, second = access.hash_password("ld2602"), access.hash_password("ld2602")
    assert first != second and first.startswith("scrypt$") and "ld2602" not in first
    assert access.verify_password("ld2602", first)
    assert not access.verify_password("ld2603", first)
    assert not access.verify_password("ld2602", "not-a-hash")


def test_new_hashes_share_the_stored_salt_and_old_ones_are_rehashed_into_it() -> None:
    """A hash made next to stored ones takes the salt most of them share; a match on an old
    hash with a salt of its own comes back rewritten under the shared salt; junk is skipped."""
    feb = access.hash_password("ld2602")
    mar = access.hash_password("ld2603", [feb])
    old = access.hash_password("ld2510")  # before the shared salt: a salt of its own
    salt = feb.split("$")[4]
    assert mar.split("$")[4] == salt and old.split("$")[4] != salt
    stored = ["not-a-hash", mar, feb, old]
    found = access.match_password("ld2603", stored)
    assert found == access.Match(1, None)
    moved = access.match_password("ld2510", stored)
    assert moved is not None and moved.index == 3 and moved.rehashed is not None
    assert moved.rehashed.split("$")[4] == salt
    assert access.match_password("ld2510", [moved.rehashed]) == access.Match(0, None)
    assert access.match_password("ld2601", stored) is None


def test_five_failures_in_fifteen_minutes_lock_for_fifteen_minutes() -> None:
    """Four failures: open. Five within 15 min: locked until the last + 15 min. Older ones
    do not count."""
    now = datetime(2026, 2, 12, 20, 0, tzinfo=SHANGHAI)
    four = [now - timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert access.locked_until(four, now) is None
    five = [*four, now - timedelta(minutes=14)]
    assert access.locked_until(five, now) == now - timedelta(minutes=1) + access.LOCKOUT_WINDOW
    stale = [*four, now - timedelta(minutes=16)]
    assert access.locked_until(stale, now) is None
    later = now + timedelta(minutes=14)
    assert access.locked_until(five, later) is None  # the window has moved on
