"""PostgreSQL cut off mid-commit: the log asks the store what happened instead of guessing.

A TCP relay of the test's own sits between the log and PostgreSQL (a transport boundary) and cuts
the connection exactly at an append's ``COMMIT``: after handing it to the server (the commit is
stored, only its answer is lost) or before (nothing is stored). The caller must learn the truth:
stored means answered as stored, never reported as a failure that a retry would duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
import sqlalchemy as sa

from hub.store import eventlog
from hub.store.eventlog import CommitUnknown, StoreUnavailable
from tests.conftest import free_port
from tests.hub.conftest import make_settings, serve
from tests.hub.test_eventlog import closed, opened

COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"
"""A simple-protocol query message carrying COMMIT, as the driver sends it."""


class CuttingRelay:
    """Relays TCP to PostgreSQL; on demand, cuts the next connection that sends COMMIT."""

    def __init__(self, upstream_port: int = 5432) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.cut: Literal["after", "before"] | None = None
        self.down = False
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop_all(self) -> None:
        for w in list(self._writers):
            w.close()

    def url(self, database_url: str) -> str:
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {writer, up_writer}
        muted = asyncio.Event()  # once set, the server's answers no longer reach the client

        async def to_server() -> None:
            while data := await reader.read(65536):
                if self.cut is not None and COMMIT in data:
                    how, self.cut = self.cut, None
                    self.cuts += 1
                    muted.set()
                    if how == "after":
                        up_writer.write(data)  # the server gets COMMIT and stores the batch...
                        await up_writer.drain()
                        await asyncio.sleep(0.3)
                    break  # ...but its answer never comes back (or, "before", COMMIT never goes)
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if muted.is_set():
                    break
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        self._tasks.update(pumps)
        with contextlib.suppress(Exception):
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for t in pumps:
            t.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)
        self._tasks.difference_update(pumps)


@pytest.fixture
async def relay() -> AsyncIterator[CuttingRelay]:
    r = CuttingRelay()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


def stored(pg_url: str, subject: str) -> int:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM events WHERE subject = :s"), {"s": subject}).scalar_one()
            )
    finally:
        engine.dispose()


async def test_a_commit_stored_but_unanswered_is_answered_as_stored(pg_url: str, relay: CuttingRelay) -> None:
    log, tg = await opened(relay.url(pg_url))
    try:
        await log.append("t.before", "before")
        relay.cut = "after"
        ev = await log.append("t.cut", "cut-after")  # stored: the caller hears so, not an error
        assert relay.cuts == 1
        assert await asyncio.to_thread(stored, pg_url, "cut-after") == 1
        assert log.stats.cut_commits_stored == 1 and log.stats.cut_commits_lost == 0
        after = await log.append("t.after", "after")  # the writer carries on, on a new connection
        assert after.id == ev.id + 1
    finally:
        await closed(log, tg)


async def test_a_commit_cut_before_the_server_got_it_is_reported_not_stored(pg_url: str, relay: CuttingRelay) -> None:
    log, tg = await opened(relay.url(pg_url))
    try:
        await log.append("t.before", "before")
        relay.cut = "before"
        with pytest.raises(StoreUnavailable, match="not stored") as refused:
            await log.append("t.cut", "cut-before")
        assert not isinstance(refused.value, CommitUnknown)
        assert await asyncio.to_thread(stored, pg_url, "cut-before") == 0
        assert log.stats.cut_commits_lost == 1
        # Told it was not stored, the caller sends it again: stored once.
        await log.append("t.cut", "cut-before")
        assert await asyncio.to_thread(stored, pg_url, "cut-before") == 1
    finally:
        await closed(log, tg)


async def test_a_commit_cut_off_with_the_store_gone_says_it_is_unknown(
    pg_url: str, relay: CuttingRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eventlog, "CHECK_COMMIT_S", 2.0)
    log, tg = await opened(relay.url(pg_url))
    try:
        await log.append("t.before", "before")
        relay.cut, relay.down = "before", True
        with pytest.raises(CommitUnknown, match="may or may not|cannot be asked"):
            await asyncio.wait_for(log.append("t.cut", "cut-unknown"), 30)
        relay.down = False
        await log.append("t.cut", "cut-unknown")  # back: the writer works again
    finally:
        await closed(log, tg)


async def test_the_api_answers_503_while_the_store_cannot_be_reached(
    tmp_path: Path, pg_url: str, relay: CuttingRelay
) -> None:
    settings = make_settings(tmp_path, storage={"url": relay.url(pg_url)})
    async with serve(settings) as rh:
        async with await rh.client("dispatcher") as c:
            assert (await c.get("/api/incidents")).status_code == 200
            relay.down = True
            relay.drop_all()
            r = await c.get("/api/incidents")
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "2" and "cannot be reached" in r.json()["detail"]
            relay.down = False
            ok = await c.get("/api/incidents")
            assert ok.status_code == 200
