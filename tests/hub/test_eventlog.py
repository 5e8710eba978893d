"""The event log on SQLite and PostgreSQL: order, atomic ops, restart, several writers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.bus import EventBus
from hub.store.eventlog import EventDraft, EventLog, LogClosed, StoreUnavailable
from hub.store.events import EventFilter

test_metadata = sa.MetaData()
"""A table of the tests' own, beside the store's (which only its migrations make)."""
counters = sa.Table(
    "test_counters",
    test_metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)


async def opened(url: str, bus: EventBus | None = None) -> tuple[EventLog, asyncio.TaskGroup]:
    log = EventLog(url, bus or EventBus(), batch_max=64)
    await log.open()
    await log.query(test_metadata.create_all)
    tg = asyncio.TaskGroup()
    await tg.__aenter__()
    log.start(tg)
    return log, tg


async def closed(log: EventLog, tg: asyncio.TaskGroup) -> None:
    await log.aclose()
    await tg.__aexit__(None, None, None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


async def test_ids_increase_without_gaps_and_bus_sees_commits(url: str) -> None:
    bus = EventBus()
    sub = bus.subscribe(10_000)
    log, tg = await opened(url, bus)
    try:
        evs = await asyncio.gather(*(log.append("test.burst", f"s{i % 3}", "t", {"i": i}) for i in range(500)))
        assert sorted(e.id for e in evs) == list(range(1, 501))
        live = await sub.get()
        assert [e.id for e in live] == list(range(1, 501))
        stored = await log.read(0, 1000)
        assert [e.id for e in stored] == list(range(1, 501))
        assert {e.id: e.data["i"] for e in stored} == {e.id: e.data["i"] for e in evs}
        only = await log.read(0, 1000, EventFilter(subject="s1"))
        assert len(only) == 167 and all(e.subject == "s1" for e in only)
    finally:
        await closed(log, tg)


async def test_op_and_event_commit_together_or_not_at_all(url: str) -> None:
    log, tg = await opened(url)
    try:

        def seed(conn: Connection, draft: EventDraft) -> None:
            conn.execute(counters.insert(), {"name": "x", "value": 0})

        await log.append("counter.created", "x", op=seed)

        def bump(expect: int) -> Any:
            def op(conn: Connection, draft: EventDraft) -> None:
                r = conn.execute(
                    counters.update().where(counters.c.name == "x", counters.c.value == expect).values(value=expect + 1)
                )
                if r.rowcount != 1:
                    raise ValueError(f"version {expect} is stale")
                draft.data["value"] = expect + 1

            return op

        results = await asyncio.gather(
            log.append("counter.bumped", "x", op=bump(0)),
            log.append("counter.bumped", "x", op=bump(0)),  # stale: must fail alone
            log.append("plain", "y"),
            return_exceptions=True,
        )
        assert isinstance(results[1], ValueError)
        assert results[0].data == {"value": 1}  # type: ignore[union-attr]
        events = await log.read(0, 10)
        assert [e.type for e in events] == ["counter.created", "counter.bumped", "plain"]
        assert [e.id for e in events] == [1, 2, 3]
        assert await log.query(lambda conn: conn.execute(sa.select(counters.c.value)).scalar_one()) == 1
    finally:
        await closed(log, tg)


async def test_op_refused_alone_writes_nothing_and_the_log_goes_on(url: str) -> None:
    # A batch holding only one operation runs it without a savepoint: its refusal must still undo
    # what it wrote, reach only its caller, and leave the writer able to commit the next one.
    log, tg = await opened(url)
    try:
        await log.append(
            "counter.created", "z", op=lambda conn, d: conn.execute(counters.insert(), {"name": "z", "value": 0})
        )

        def half_done(conn: Connection, draft: EventDraft) -> None:
            conn.execute(counters.update().where(counters.c.name == "z").values(value=99))
            raise ValueError("refused after writing")

        with pytest.raises(ValueError, match="refused after writing"):
            await log.append("counter.bumped", "z", op=half_done)
        assert await log.query(lambda conn: conn.execute(sa.select(counters.c.value)).scalar_one()) == 0
        ev = await log.append("plain", "z")
        assert ev.id == 2 and [e.type for e in await log.read(0, 10)] == ["counter.created", "plain"]
        assert log.stats.failed_ops == 1
    finally:
        await closed(log, tg)


async def test_writer_reconnects_after_the_server_dropped_it(pg_url: str) -> None:
    # The writer keeps its connection between batches; when PostgreSQL ends it (a restart, an admin),
    # appends after a pause go through on a new one without the caller seeing an error.
    log, tg = await opened(pg_url)
    try:
        await log.append("a", "s")
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''"
                    " AND backend_type = 'client backend'"
                )
            ).scalar_one()
        engine.dispose()
        assert killed >= 1
        await asyncio.sleep(1.2)
        ev = await log.append("b", "s")
        assert ev.id == 2
    finally:
        await closed(log, tg)


async def test_a_connection_lost_under_an_op_fails_the_batch_with_its_own_cause(pg_url: str) -> None:
    # The server ends the writer's session while one op of a batch runs (a restart does that to
    # whatever is under way). Not that op's refusal: every append of the batch is told the store
    # went away, and why, rather than the next statement's "invalid transaction" that hid it.
    log, tg = await opened(pg_url)
    try:
        await log.append("t.warm", "s")

        def harmless(conn: Connection, draft: EventDraft) -> None:
            conn.execute(sa.text("SELECT 1"))

        def ended(conn: Connection, draft: EventDraft) -> None:
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))

        outcomes = await asyncio.gather(
            log.append("t.a", "a", op=harmless),
            log.append("t.k", "k", op=ended),
            log.append("t.b", "b", op=harmless),
            log.append("t.c", "c"),
            return_exceptions=True,
        )
        assert [type(o) for o in outcomes] == [StoreUnavailable] * 4
        assert all("terminating connection" in str(o) for o in outcomes), outcomes
        assert [e.subject for e in await log.read(0)] == ["s"]
        assert (await log.append("t.after", "after")).id == 2  # and the writer goes on
    finally:
        await closed(log, tg)


async def test_reading_back_from_the_end_pages_like_reading_forward(url: str) -> None:
    # ``before`` gives the newest matching events below an id, still oldest first, through every
    # filter path: none, subject, grids, grids plus audience.
    log, tg = await opened(url)
    try:
        for i in range(30):
            grid = ("g1", "g2", None)[i % 3]
            data = {"audience": ["person:ann"]} if i % 5 == 0 else {}
            await log.append(f"t.{i % 2}", f"s{i % 4}", data=data, grid=grid)
        everything = await log.read(0, 100)
        filters = [
            None,
            EventFilter(subject="s1"),
            EventFilter(type_prefixes=("t.1",), grids=frozenset({"g1"})),
            EventFilter(grids=frozenset({"g1"}), audience=frozenset({"person:ann"})),
        ]
        for flt in filters:
            want = [e.id for e in everything if flt is None or flt.matches(e)]
            assert want, flt
            got: list[int] = []
            before = 10**9
            while True:
                page = [e.id for e in await log.read(0, 4, flt, before=before)]
                assert page == sorted(page)
                got = page + got
                if len(page) < 4:
                    break
                before = page[0]
            assert got == want, flt
            assert [e.id for e in await log.read(want[1], 3, flt, before=want[-1])] == [
                i for i in want if want[1] < i < want[-1]
            ][-3:]
    finally:
        await closed(log, tg)


async def test_shutting_down_under_load_answers_every_append(sqlite_url: str) -> None:
    # Closing with a drain budget far too short: every caller still gets an answer — its event, or
    # LogClosed — and every event a caller got is in the log after a restart.
    log, tg = await opened(sqlite_url)
    appends = [asyncio.create_task(log.append("burst", f"s{i}")) for i in range(5000)]
    await asyncio.sleep(0.05)  # some batches committed, one under way, many queued or still putting
    await log.aclose(timeout_s=0.01)
    await tg.__aexit__(None, None, None)
    done, pending = await asyncio.wait(appends, timeout=10)
    assert not pending, f"{len(pending)} appends never answered"
    got = [t.result().id for t in done if t.exception() is None]
    refused = [t.exception() for t in done if t.exception() is not None]
    assert got and refused and all(isinstance(e, LogClosed) for e in refused)
    log, tg = await opened(sqlite_url)
    try:
        assert sorted(got) == [e.id for e in await log.read(0, 10_000)]
    finally:
        await closed(log, tg)


async def test_restart_continues_ids(url: str) -> None:
    log, tg = await opened(url)
    await asyncio.gather(*(log.append("a", "s") for _ in range(10)))
    await closed(log, tg)
    with pytest.raises(LogClosed):
        await log.append("late", "s")
    log, tg = await opened(url)
    try:
        assert log.last_id == 10
        ev = await log.append("b", "s")
        assert ev.id == 11
    finally:
        await closed(log, tg)


async def test_two_nodes_share_one_postgres(pg_url: str) -> None:
    # Two hub nodes append concurrently: ids are unique, gapless, and never become visible out of order.
    a, tga = await opened(pg_url)
    b, tgb = await opened(pg_url)
    seen: list[int] = []
    stop = asyncio.Event()

    async def reader() -> None:
        cursor = 0
        while not stop.is_set():
            for e in await a.read(cursor, 1000):
                seen.append(e.id)
                cursor = e.id
            await asyncio.sleep(0)

    try:
        rt = asyncio.create_task(reader())
        await asyncio.gather(*(n.append("n", f"{i}") for i in range(300) for n in (a, b)))
        await asyncio.sleep(0.2)
        stop.set()
        await rt
        ids = [e.id for e in await a.read(0, 10_000)]
        assert ids == list(range(1, 601))
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        assert seen[-1] == 600 and seen == list(range(1, 601))
    finally:
        await closed(a, tga)
        await closed(b, tgb)
