"""Leadership (digests/outbox/leader.py) when the database goes away under the leader, on PostgreSQL
through a TCP proxy the test cuts or silences: the lead is reported lost (never hangs), another
process may take it meanwhile, and the same process takes it again once the database is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from digests import db
from digests.outbox.leader import Leader
from tests.tcp_proxy import TcpProxy, tcp_proxy


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the advisory lock and the cut connection are PostgreSQL's")
    with tcp_proxy(("127.0.0.1", 5432)) as running:
        yield running


async def test_a_cut_connection_loses_the_lead_to_others_and_it_is_taken_again_after(
    proxy: TcpProxy, database_url: str
) -> None:
    """Connections cut: the check says the lead is lost, the server has freed the lock (a
    process that reaches the database takes it); back, the first takes it again once free."""
    async with (
        db.open_engine(proxy.url(database_url)) as engine,
        db.open_engine(database_url) as elsewhere,
    ):
        leader, other = Leader(engine), Leader(elsewhere)
        assert await leader.try_acquire() and not await other.try_acquire()
        proxy.cut()
        assert not await leader.still_leading() and not leader.is_leader
        assert await _takes_it(other)  # the lock went with the dropped connection
        proxy.restore()
        assert not await leader.try_acquire()
        await other.release()
        assert await leader.try_acquire() and await leader.still_leading()
        await leader.release()


async def _takes_it(leader: Leader, within: float = 30.0) -> bool:
    """Try for the lock until it is free: the server frees a cut connection's lock when its
    backend notices the closed socket, which a loaded machine takes a moment to do."""
    deadline = asyncio.get_running_loop().time() + within
    while not await leader.try_acquire():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_silent_connection_loses_the_lead_instead_of_hanging(
    proxy: TcpProxy, database_url: str
) -> None:
    """The lock's connection stops answering (a partitioned network, no error): the check
    gives up after its limit and reports the lead lost, rather than waiting for TCP."""
    async with db.open_engine(proxy.url(database_url)) as engine:
        leader = Leader(engine)
        assert await leader.try_acquire()
        proxy.blackhole()
        assert not await leader.still_leading(within=0.5) and not leader.is_leader
        proxy.cut()  # so the engine's pool closes at once
