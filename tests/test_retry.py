"""The retry policy as a table: each outcome of a send, and what it makes of the row."""

from __future__ import annotations

import pytest

from digests.models import Status
from digests.outbox.retry import Decision, decide
from digests.outbox.types import Outcome

QUEUED, SENT, FAILED, SKIPPED, WAITING = (
    Status.QUEUED,
    Status.SENT,
    Status.FAILED,
    Status.SKIPPED,
    Status.WAITING,
)


@pytest.mark.parametrize(
    ("outcome", "attempts", "timely", "skipped", "retry_after", "expected"),
    [
        # nothing to send (not entitled, the reader left): skipped, and that was its try
        ("ok", 0, False, True, 0.0, Decision(SKIPPED, counter="skipped")),
        ("ok", 0, True, True, 0.0, Decision(SKIPPED, counter="skipped")),
        # cannot reach the reader now (WeChat's window): a reminder is worthless late…
        ("wait", 0, True, False, 0.0, Decision(SKIPPED, counter="skipped")),
        # …anything else waits for the reader, and waiting is not a try
        ("wait", 0, False, False, 0.0, Decision(WAITING, attempted=False, counter="waiting")),
        ("wait", 4, False, False, 0.0, Decision(WAITING, attempted=False, counter="waiting")),
        # sent
        ("ok", 0, False, False, 0.0, Decision(SENT, counter="sent")),
        ("ok", 4, True, False, 0.0, Decision(SENT, counter="sent")),
        # blocked or deactivated: skipped, and the reader is gone
        ("gone", 0, False, False, 0.0, Decision(SKIPPED, counter="gone")),
        # the channel refused the message itself: no try would do better
        ("bad_request", 0, False, False, 0.0, Decision(FAILED, counter="failed")),
        # transient: back off 30 s, doubling with each try…
        ("transient", 0, False, False, 0.0, Decision(QUEUED, 30.0, counter="retried")),
        ("retry", 1, False, False, 0.0, Decision(QUEUED, 60.0, counter="retried")),
        ("transient", 2, True, False, 0.0, Decision(QUEUED, 120.0, counter="retried")),
        ("retry", 3, False, False, 0.0, Decision(QUEUED, 240.0, counter="retried")),
        # …or the channel's retry_after when it is longer
        ("retry", 0, False, False, 90.0, Decision(QUEUED, 90.0, counter="retried")),
        ("retry", 2, False, False, 90.0, Decision(QUEUED, 120.0, counter="retried")),
        # the fifth failed try is the last: failed
        ("retry", 4, False, False, 0.0, Decision(FAILED, counter="failed")),
        ("transient", 4, False, False, 3600.0, Decision(FAILED, counter="failed")),
    ],
)
def test_decide(
    outcome: Outcome,
    attempts: int,
    timely: bool,
    skipped: bool,
    retry_after: float,
    expected: Decision,
) -> None:
    """A row's new status, its delay before the next try, whether the send was a try, and
    the counter it adds to, for every branch of the policy."""
    decision = decide(
        outcome, attempts=attempts, timely=timely, skipped=skipped, retry_after=retry_after
    )
    assert decision == expected
