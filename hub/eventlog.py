"""The append-only event log, the system of record.

Appends go through one writer task that commits them in batches (one durable
transaction for many appends), assigns ids under a write lock so they become visible in
order, and only then answers the callers and wakes the bus. An append may carry an
``op``: SQL run in the same transaction (inside its own savepoint), so state tables and
the event that explains them change together or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hub.bus import EventBus
from hub.events import Event, EventFilter

logger = logging.getLogger(__name__)

metadata = sa.MetaData()

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("type", sa.String(64), nullable=False, index=True),
    sa.Column("subject", sa.String(128), nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("grid", sa.String(64), nullable=True, index=True),
    sa.Column("data", sa.Text, nullable=False),
)


@dataclass
class EventDraft:
    """The event an append will write; an ``op`` may fill it in from what it finds in the tables."""

    type: str
    """Dotted kind."""
    subject: str
    """What it is about."""
    actor: str
    """Who caused it."""
    grid: str | None
    """The grid it concerns."""
    data: dict[str, Any]
    """Details."""


Op = Callable[[AsyncConnection, EventDraft], Awaitable[None]]
"""SQL run in the append's transaction (its own savepoint); raising refuses the append."""

PG_APPEND_LOCK = 0x5C7_0B5
"""Advisory lock id that serialises appends across hub nodes sharing one PostgreSQL."""

WRITE_QUEUE_MAX = 10_000
"""Appends waiting for the writer; beyond this, callers wait (back-pressure, never a drop)."""


class LogClosed(RuntimeError):
    """The log is shutting down and takes no more appends."""


@dataclass
class _Pending:
    draft: EventDraft
    op: Op | None
    future: asyncio.Future[Event] = field(repr=False)


@dataclass
class LogStats:
    """Counters for /metrics."""

    appended: int = 0
    """Events committed."""
    batches: int = 0
    """Transactions committed."""
    failed_ops: int = 0
    """Appends refused because their op raised."""


class EventLog:
    """The log: ``append`` to write, ``read`` to replay, a bus to follow live."""

    def __init__(self, url: str, bus: EventBus, batch_max: int = 256) -> None:
        self.url = url
        self.bus = bus
        self.batch_max = batch_max
        self.stats = LogStats()
        self.engine: AsyncEngine | None = None
        self.read_engine: AsyncEngine | None = None
        self._last_id = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(WRITE_QUEUE_MAX)
        self._accepting = False
        self._task: asyncio.Task[None] | None = None

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is the embedded SQLite file."""
        return self.url.startswith("sqlite")

    @property
    def last_id(self) -> int:
        """The newest committed id known to this node."""
        return self._last_id

    async def open(self) -> None:
        """Connect, create tables, and learn the newest id."""
        if self.is_sqlite:
            db_path = self.url.split("///", 1)[-1]
            if db_path and db_path != ":memory:":
                await asyncio.to_thread(Path(db_path).parent.mkdir, parents=True, exist_ok=True)
        self.engine = create_async_engine(self.url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            # Writes take the lock at BEGIN; reads get their own engine with plain deferred BEGIN.
            _sqlite_tuning(self.engine, begin="BEGIN IMMEDIATE")
            # Reads run in the driver's autocommit mode: each SELECT sees the latest commit,
            # with no BEGIN/ROLLBACK round trips to the driver thread.
            self.read_engine = create_async_engine(self.url, pool_reset_on_return=None)
            _sqlite_tuning(self.read_engine, begin=None)
        else:
            self.read_engine = self.engine
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            self._last_id = await _max_id(conn)
        logger.info("event log %s: open, last id %d", _safe_url(self.url), self._last_id)

    def start(self, tg: asyncio.TaskGroup) -> None:
        """Run the writer as a task of the lifespan's task group."""
        self._accepting = True
        self._task = tg.create_task(self._writer(), name="eventlog-writer")

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop taking appends, commit what is queued (bounded), then close the engine."""
        self._accepting = False
        if self._task is not None and not self._task.done():
            try:
                async with asyncio.timeout(timeout_s):
                    await self._queue.join()
            except TimeoutError:
                logger.warning("event log: %d appends still queued at shutdown", self._queue.qsize())
            self._task.cancel()
            await asyncio.wait([self._task])
        self._task = None
        while not self._queue.empty():
            p = self._queue.get_nowait()
            if not p.future.done():
                p.future.set_exception(LogClosed("the event log is shutting down"))
        if self.read_engine is not None and self.read_engine is not self.engine:
            await self.read_engine.dispose()
        self.read_engine = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def append(
        self,
        type: str,
        subject: str,
        actor: str = "system",
        data: dict[str, Any] | None = None,
        *,
        grid: str | None = None,
        op: Op | None = None,
    ) -> Event:
        """Append one event (with ``op`` in the same transaction) and return it once durable.

        ``op(conn, draft)`` runs first, inside a savepoint of the batch's transaction: it may
        change tables and fill in the draft (e.g. the id of a row it inserted as the subject);
        if it raises, neither its changes nor the event are written and the caller gets the error.
        """
        if not self._accepting:
            raise LogClosed("the event log is not accepting appends")
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(EventDraft(type, subject, actor, grid, dict(data or {})), op, fut))
        return await fut

    async def read(self, since: int, limit: int = 500, flt: EventFilter | None = None) -> list[Event]:
        """Events with id > ``since`` in id order, at most ``limit``, filtered."""
        assert self.read_engine is not None, "log not open"
        t = events_table
        q = sa.select(t).where(t.c.id > since).order_by(t.c.id).limit(limit)
        if flt is not None:
            if flt.type_prefixes:
                q = q.where(sa.or_(*(t.c.type.startswith(p, autoescape=True) for p in flt.type_prefixes)))
            if flt.subject is not None:
                q = q.where(t.c.subject == flt.subject)
            if flt.grids is not None:
                q = q.where(t.c.grid.in_(sorted(flt.grids)))
        async with self.read_engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_row_event(r) for r in rows]

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            committed: list[Event] = []
            try:
                committed = await self._commit(batch)
            except Exception as exc:  # the store itself failed: every caller learns it
                logger.exception("event log: batch of %d failed", len(batch))
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if committed:
                self._last_id = committed[-1].id
                self.stats.appended += len(committed)
                self.stats.batches += 1
                self.bus.publish(committed)

    async def _commit(self, batch: list[_Pending]) -> list[Event]:
        assert self.engine is not None
        done: list[tuple[_Pending, Event]] = []
        failed: list[tuple[_Pending, BaseException]] = []
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_APPEND_LOCK})
            if self.is_sqlite:
                # One SQLite file has one writer (this one, under BEGIN IMMEDIATE): no need to ask.
                next_id = self._last_id + 1
            else:
                next_id = await _max_id(conn) + 1
            rows: list[dict[str, Any]] = []
            now = time.time()
            for p in batch:
                d = p.draft
                if p.op is not None:
                    if rows:  # keep insertion in id order around the savepoint
                        await conn.execute(events_table.insert(), rows)
                        rows = []
                    try:
                        async with conn.begin_nested():
                            await p.op(conn, d)
                    except Exception as exc:
                        failed.append((p, exc))
                        continue
                ev = Event(next_id, now, d.type, d.subject, d.actor, d.grid, d.data)
                next_id += 1
                rows.append(
                    {
                        "id": ev.id,
                        "ts": ev.ts,
                        "type": ev.type,
                        "subject": ev.subject,
                        "actor": ev.actor,
                        "grid": ev.grid,
                        "data": json.dumps(ev.data, separators=(",", ":"), ensure_ascii=False),
                    }
                )
                done.append((p, ev))
            if rows:
                await conn.execute(events_table.insert(), rows)
        # Committed: only now do callers and the bus learn of it.
        for p, error in failed:
            self.stats.failed_ops += 1
            if not p.future.done():
                p.future.set_exception(error)
        for p, ev in done:
            if not p.future.done():
                p.future.set_result(ev)
        return [ev for _, ev in done]


async def _max_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.coalesce(sa.func.max(events_table.c.id), 0)))).scalar_one())


def _row_event(r: sa.Row[Any]) -> Event:
    return Event(r.id, r.ts, r.type, r.subject, r.actor, r.grid, json.loads(r.data))


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_tuning(engine: AsyncEngine, begin: str | None) -> None:
    """WAL, durable commits, and transactions that SQLAlchemy controls (so savepoints work)."""

    @sa_event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    if begin is None:
        return

    @sa_event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)
