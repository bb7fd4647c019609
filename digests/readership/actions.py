"""What readers do with a publication: open its page through the signed link, tap its button.
Each is one row (ReaderAction); stats count unique readers for opens and every tap."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from digests.models import ReaderAction, utcnow
from digests.replies import StoreContext

log = logging.getLogger(__name__)
PAGE_OPEN = "page_open"
TAP = "tap"


async def record(
    ctx: StoreContext,
    *,
    subscriber_id: int,
    publication_id: int,
    kind: str,
    at: datetime | None = None,
) -> None:
    """Keep one action. Best effort: a reader's page or button never fails for a figure."""
    try:
        async with ctx.sessions() as session, session.begin():
            session.add(
                ReaderAction(
                    subscriber_id=subscriber_id,
                    publication_id=publication_id,
                    kind=kind,
                    at=at or utcnow(),
                )
            )
    except SQLAlchemyError as exc:  # e.g. the publication was just deleted
        log.warning("reader action not recorded: %s", type(exc).__name__)
