"""What wechatpy leaves to us (docs/design.md, WeChat): signatures compared in constant time,
a ±300 s timestamp window, and a replay cache on nonce and MsgId, in Redis when REDIS_URL is
set, else in the database (table seen_key). While Redis is unreachable the database stands in, so
readers are still answered (/healthz reports Redis as down)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from digests.models import SeenKey, utcnow
from digests.replies import StoreContext

if TYPE_CHECKING:  # imported with a Redis to use (bot/app.py): not on every start
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
WINDOW = 300  # seconds a callback's timestamp may differ from our clock
REMEMBER = timedelta(minutes=15)  # longer than the window and WeChat's 3 retries
PRUNE_EVERY = 60.0  # seconds between deletions of expired keys (one DELETE per call locked
# SQLite under a burst of messages)


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed(expected_parts: tuple[str, ...], given: str) -> bool:
    """Constant-time comparison (wechatpy compares with !=)."""
    return hmac.compare_digest(sign(*expected_parts), given.lower())


def fresh(timestamp: str, now: float | None = None) -> bool:
    """The timestamp is a number within ±WINDOW seconds of now."""
    if not timestamp.isdigit():
        return False
    return abs(int(timestamp) - (now if now is not None else time.time())) <= WINDOW


class ReplayGuard:
    """first_time(key) is True once per key within REMEMBER."""

    def __init__(self, ctx: StoreContext, redis: Redis | None) -> None:
        self.ctx, self.redis = ctx, redis
        self.pruned_at = 0.0

    async def first_time(self, key: str) -> bool:
        if self.redis is not None:
            from redis.exceptions import RedisError

            seconds = int(REMEMBER.total_seconds())
            try:
                return bool(await self.redis.set(f"digestbot:seen:{key}", 1, nx=True, ex=seconds))
            except (RedisError, OSError) as exc:
                log.warning("replay cache: Redis unreachable (%s); using the database", exc)
        try:
            async with self.ctx.sessions() as session, session.begin():
                if time.monotonic() - self.pruned_at > PRUNE_EVERY:
                    self.pruned_at = time.monotonic()
                    expired = col(SeenKey.seen_at) < utcnow() - REMEMBER
                    await session.exec(delete(SeenKey).where(expired))
                session.add(SeenKey(key=key))
        except IntegrityError:
            return False
        return True
