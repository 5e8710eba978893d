"""The append-only event log, the system of record.

Appends go through one writer task that commits them in batches (one durable
transaction for many appends), assigns ids under a write lock so they become visible in
order, and only then answers the callers and wakes the bus. An append may carry an
``op``: SQL run in the same transaction (inside its own savepoint), so state tables and
the event that explains them change together or not at all.

Several hub nodes may share one PostgreSQL store. Each node then delivers to its own bus
strictly in id order: its own commits go out at once when they follow what it delivered
last, and anything other nodes appended in between is read from the log first. A follow
task reads other nodes' appends when nudged (by Redis, see ``hub.store.redislink``) or every
``poll_s``. The log is the only copy: a lost nudge only delays, never loses.

The SQL itself runs in threads, never on the event loop: a whole batch — every op and the
event inserts — is one call into the writer thread, and each read is one call into a
small reader pool. (Driving the database statement by statement from the loop made each
statement wait for a busy loop; a batch of a few hundred receipts took seconds.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine

from hub.store.bus import EventBus
from hub.store.events import AUDIENCE_KEY, Event, EventFilter
from hub.store.migrate import migrate

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

event_audience_table = sa.Table(
    "event_audience",
    metadata,
    # (token, event_id) is the key: a narrowed reader's tokens find their events in id order.
    sa.Column("token", sa.String(160), primary_key=True),
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
)
"""The ``data["audience"]`` tokens of each event (see :func:`hub.store.events.audience`), written with it."""


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


Op = Callable[[Connection, EventDraft], None]
"""SQL run in the append's transaction (its own savepoint, in the writer thread); raising refuses the append."""

T = TypeVar("T")


def chain(*ops: Op | None) -> Op | None:
    """One op running ``ops`` in order (the ``None`` ones left out); None when none is left."""
    todo = [o for o in ops if o is not None]
    if len(todo) <= 1:
        return todo[0] if todo else None

    def run(conn: Connection, draft: EventDraft) -> None:
        for o in todo:
            o(conn, draft)

    return run


PG_APPEND_LOCK = 0x5C7_0B5
"""Advisory lock id that serialises appends across hub nodes sharing one PostgreSQL."""

WRITE_QUEUE_MAX = 10_000
"""Appends waiting for the writer; beyond this, callers wait (back-pressure, never a drop)."""

READ_THREADS = 4
"""Threads that run reads (each holds one pooled connection)."""
NO_EVENT_AFTER = 2**62
"""An event id above every real one: ``read(..., before=NO_EVENT_AFTER)`` reads back from the newest."""
LAST_COMMIT_WAIT_S = 5.0
"""At shutdown, how long the commit under way may still take before its callers are told it is unknown."""
WRITER_IDLE_S = 1.0
"""The writer keeps its connection between batches closer together than this."""

PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    # A server that vanished (a cut cable, a dead machine) is noticed in about 20 s, not the
    # kernel's two hours of keepalive or fifteen minutes of retransmission.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
    "tcp_user_timeout": 20_000,
}
"""libpq connection settings of every PostgreSQL connection."""
PG_WRITER_OPTIONS = "-c lock_timeout=10000 -c idle_in_transaction_session_timeout=4000"
"""The writer's session: an append waits at most 10 s for the append lock, and a node that stops
mid-transaction (frozen, or cut off) holds the lock at most 4 s before the server ends its
transaction, so the other nodes keep appending. A batch's statements follow each other at once."""
PG_READER_OPTIONS = "-c statement_timeout=30000"
"""Readers: no query runs longer than 30 s."""
CHECK_COMMIT_S = 15.0
"""How long the writer tries to learn whether a commit cut off mid-way was stored."""

FOLLOW_PAGE = 256
"""Events read (and handed to the bus) at a time when catching up: no bigger than a commit batch,
so a catch-up is no harder on live subscribers' bounded queues than this node's own bursts."""

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}


def sync_url(url: str) -> str:
    """The URL with a synchronous driver (the log runs its SQL in threads)."""
    scheme, rest = url.split("://", 1)
    return f"{_SYNC_DRIVERS.get(scheme, scheme)}://{rest}"


class LogClosed(RuntimeError):
    """The log is shutting down and takes no more appends."""


class StoreUnavailable(RuntimeError):
    """The store could not be reached or failed: this append was not stored. Safe to send again."""


class CommitUnknown(StoreUnavailable):
    """The connection broke during this append's commit and the store could not be asked since:
    it may or may not be stored. Look (or send it again with an ``Idempotency-Key``) before
    repeating it."""


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
    followed: int = 0
    """Events delivered by reading them back from the store: other nodes' appends, and this
    node's own when they had to wait behind those."""
    cut_commits_stored: int = 0
    """Commits whose answer was lost, found stored when the store was asked."""
    cut_commits_lost: int = 0
    """Commits whose answer was lost, found not stored (their callers were told so)."""


class EventLog:
    """The log: ``append`` to write, ``read`` to replay, ``query`` for state tables, a bus to follow live."""

    def __init__(self, url: str, bus: EventBus, batch_max: int = 256, poll_s: float = 1.0) -> None:
        self.url = sync_url(url)
        self.bus = bus
        self.batch_max = batch_max
        self.poll_s = poll_s
        self.stats = LogStats()
        self.on_commit: list[Callable[[int], None]] = []
        """Called with the newest id after each of this node's commits (e.g. to tell other nodes)."""
        self._nudge = asyncio.Event()
        self._deliver_lock = asyncio.Lock()
        self._follow_task: asyncio.Task[None] | None = None
        self.engine: Engine | None = None
        self._wconn: Connection | None = None
        self._wconn_m = 0.0
        self.read_engine: Engine | None = None
        self._last_id = 0
        self._last_ts = 0.0
        """Time of the newest event this node wrote or found at start (event times never go back)."""
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(WRITE_QUEUE_MAX)
        self._accepting = False
        self._task: asyncio.Task[None] | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is the embedded SQLite file."""
        return self.url.startswith("sqlite")

    @property
    def shared(self) -> bool:
        """Whether other hub nodes may append to the same store (PostgreSQL)."""
        return not self.is_sqlite

    @property
    def last_id(self) -> int:
        """The newest id delivered to this node's bus (every id up to it has been)."""
        return self._last_id

    async def head(self) -> int:
        """The newest committed id, including other nodes' appends not delivered here yet."""
        if not self.shared:
            return self._last_id
        return max(self._last_id, (await self.query(_head))[0])

    async def head_for(self, cursor: int | None) -> int:
        """The head a client's cursor is checked against: this node's, unless the cursor is past
        it (written on another node, not delivered here yet) — then the store's."""
        if cursor is None or cursor <= self._last_id:
            return self._last_id
        return await self.head()

    def nudge(self) -> None:
        """Another node committed: look for its events now instead of at the next poll."""
        self._nudge.set()

    async def open(self) -> None:
        """Connect, create tables, and learn the newest id."""
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="eventlog-writer")
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="eventlog-reader")
        await self._in(self._writer_thread, self._open_sync)
        logger.info("event log %s: open, last id %d", _safe_url(self.url), self._last_id)

    def _open_sync(self) -> None:
        if self.is_sqlite:
            db_path = self.url.split("///", 1)[-1]
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            args = {"check_same_thread": False}
            self.engine = sa.create_engine(self.url, connect_args=args, pool_size=1, max_overflow=0)
            _sqlite_tuning(self.engine, begin="BEGIN IMMEDIATE")
            # Reads run in the driver's autocommit mode: each SELECT sees the latest commit.
            self.read_engine = sa.create_engine(
                self.url, connect_args=args, pool_size=READ_THREADS, pool_reset_on_return=None
            )
            _sqlite_tuning(self.read_engine, begin=None)
        else:
            # READ COMMITTED whatever the server's default: under the append lock, max(id) must see
            # the previous holder's commit.
            self.engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=2,
                isolation_level="READ COMMITTED",
                connect_args={**PG_CONNECT_ARGS, "options": PG_WRITER_OPTIONS},
            )
            self.read_engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=READ_THREADS,
                isolation_level="AUTOCOMMIT",
                connect_args={**PG_CONNECT_ARGS, "options": PG_READER_OPTIONS},
            )
        with self.engine.begin() as conn:
            if not self.is_sqlite:  # nodes starting together must not race to create the tables
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_APPEND_LOCK})
            migrate(conn)
            self._last_id, self._last_ts = _head(conn)

    async def _in(self, pool: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any) -> T:
        if pool is None:
            raise LogClosed("the event log is not open")
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def start(self, tg: asyncio.TaskGroup) -> None:
        """Run the writer as a task of the lifespan's task group."""
        self._accepting = True
        self._task = tg.create_task(self._writer(), name="eventlog-writer")
        if self.shared:
            self._follow_task = tg.create_task(self._follow(), name="eventlog-follow")

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop taking appends, commit what is queued (bounded), then close the engines."""
        self._accepting = False
        if self._follow_task is not None:
            self._follow_task.cancel()
            await asyncio.wait([self._follow_task])
            self._follow_task = None
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
        writer, readers = self._writer_thread, self._readers
        self._writer_thread = self._readers = None
        if writer is not None:  # after any commit still running there
            await asyncio.get_running_loop().run_in_executor(writer, self._close_writer_connection)
        for engine in (self.read_engine, self.engine):
            if engine is not None:
                await asyncio.to_thread(engine.dispose)
        self.engine = self.read_engine = None
        for pool in (writer, readers):
            if pool is not None:
                pool.shutdown(wait=False)

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

        ``op(conn, draft)`` runs first, in the writer thread inside a savepoint of the batch's
        transaction: it may change tables and fill in the draft (e.g. the id of a row it
        inserted as the subject); if it raises, neither its changes nor the event are written
        and the caller gets the error.
        """
        if not self._accepting:
            raise LogClosed("the event log is not accepting appends")
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(EventDraft(type, subject, actor, grid, dict(data or {})), op, fut))
        if self._task is None and not fut.done():
            # The queue was full and the log shut down meanwhile: nobody will take this one.
            fut.set_exception(LogClosed("the event log shut down before this append was taken"))
        return await fut

    async def query(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` on a read connection in a reader thread; its result."""

        def run() -> T:
            assert self.read_engine is not None, "log not open"
            with self.read_engine.connect() as conn:
                return fn(conn)

        return await self._in(self._readers, run)

    async def read(
        self, since: int, limit: int = 500, flt: EventFilter | None = None, before: int | None = None
    ) -> list[Event]:
        """Events with id > ``since`` in id order, at most ``limit``, filtered.

        With ``before``, the *newest* ``limit`` of those with id < ``before`` (still in id order):
        paging back from the end.
        """
        t = events_table
        q = sa.select(t).where(t.c.id > since)
        if before is not None:
            q = q.where(t.c.id < before).order_by(t.c.id.desc())
        else:
            q = q.order_by(t.c.id)
        q = q.limit(limit)
        reader = _read_events if before is None else _read_events_reversed
        if flt is None:
            return await self.query(partial(reader, q))
        if flt.type_prefixes:
            q = q.where(sa.or_(*(t.c.type.startswith(p, autoescape=True) for p in flt.type_prefixes)))
        if flt.subject is not None:
            q = q.where(t.c.subject == flt.subject)
        if flt.grids is None:
            return await self.query(partial(reader, q))
        by_grid = q.where(t.c.grid.in_(sorted(flt.grids)))
        if not flt.audience:
            return await self.query(partial(reader, by_grid))
        a = event_audience_table
        named_ids = sa.select(a.c.event_id).where(a.c.token.in_(sorted(flt.audience)), a.c.event_id > since)
        if before is not None:
            named_ids = named_ids.where(a.c.event_id < before)
        named = q.where(t.c.id.in_(named_ids))
        if not flt.grids:  # only what names the reader (a leader's notices, say)
            return await self.query(partial(reader, named))
        # Events of the reader's grids, and events whose audience names them: each query walks its
        # own index, and the first ``limit`` of their union is among the first ``limit`` of each.

        def both(conn: Connection) -> list[Event]:
            merged = {ev.id: ev for ev in _read_events(by_grid, conn)}
            merged.update((ev.id, ev) for ev in _read_events(named, conn))
            ids = sorted(merged)
            return [merged[i] for i in (ids[:limit] if before is None else ids[-limit:])]

        return await self.query(both)

    async def _writer(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            outcomes: list[Event | BaseException] = []
            committing = asyncio.ensure_future(self._in(self._writer_thread, self._commit, batch))
            try:
                outcomes = await asyncio.shield(committing)
            except asyncio.CancelledError:
                # Shut down mid-commit: the commit runs on in its thread; its callers learn how it
                # ended (bounded), and are never left waiting.
                self._settle(batch, await self._last_commit(committing, len(batch)))
                raise
            except Exception as exc:  # the store itself failed: every caller learns it
                logger.warning("event log: batch of %d not stored: %s", len(batch), _reason(exc))
                failed = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(_reason(exc))
                outcomes = [failed] * len(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
            committed = self._settle(batch, outcomes)
            if committed:
                self.stats.appended += len(committed)
                self.stats.batches += 1
                if not self.shared or (committed[0].id == self._last_id + 1 and not self._deliver_lock.locked()):
                    self._publish(committed)  # nothing can come between: out at once
                else:
                    # Another node's events come first, or the follower is busy: it delivers these
                    # too, in order. The writer itself never waits on reads.
                    self.nudge()
                for hook in self.on_commit:
                    try:
                        hook(committed[-1].id)
                    except Exception:
                        logger.exception("event log: an on-commit hook failed")

    def _settle(self, batch: list[_Pending], outcomes: list[Event | BaseException]) -> list[Event]:
        """Answer each caller of ``batch`` (only now do they learn of a commit); the events committed."""
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.future.done():
                continue
            if isinstance(outcome, Event):
                p.future.set_result(outcome)
            else:
                self.stats.failed_ops += 1
                p.future.set_exception(outcome)
        return [o for o in outcomes if isinstance(o, Event)]

    @staticmethod
    async def _last_commit(
        committing: asyncio.Future[list[Event | BaseException]], n: int
    ) -> list[Event | BaseException]:
        try:
            async with asyncio.timeout(LAST_COMMIT_WAIT_S):
                return await committing
        except TimeoutError:
            unknown = LogClosed("the event log shut down during this append's commit; it may or may not be stored")
            return [unknown] * n
        except Exception as exc:  # the commit itself failed
            return [exc] * n

    def _publish(self, events: list[Event]) -> None:
        self._last_id = events[-1].id
        self.bus.publish(events)

    async def _catch_up(self, head: int) -> None:
        """Publish every event after the last delivered one up to ``head`` (deliver lock held)."""
        while self._last_id < head:
            page = await self.read(self._last_id, min(FOLLOW_PAGE, head - self._last_id))
            page = [ev for ev in page if ev.id <= head]
            if not page:
                # Appends are serialised and ids are gapless, so this means the store went away.
                raise RuntimeError(f"event log: ids {self._last_id + 1}..{head} are not readable")
            if page[0].id != self._last_id + 1:
                logger.warning("event log: ids %d..%d are missing from the store", self._last_id + 1, page[0].id - 1)
            self.stats.followed += len(page)
            self._publish(page)

    async def _follow(self) -> None:
        """Deliver what this node has not yet: when nudged, and every ``poll_s`` in any case."""
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._nudge.wait()
            self._nudge.clear()
            try:
                head, _ = await self.query(_head)
                if head > self._last_id:
                    async with self._deliver_lock:
                        await self._catch_up(head)
                if failing:
                    failing = False
                    logger.info("event log: reading the shared store again")
            except Exception as exc:  # the store is unreachable: the next round tries again
                if not failing:  # once per outage, not once per poll
                    failing = True
                    logger.warning("event log: cannot read the shared store (%s); retrying", type(exc).__name__)

    def _commit(self, batch: list[_Pending]) -> list[Event | BaseException]:
        """One transaction for the whole batch (writer thread)."""
        conn = self._writer_connection()
        trans = conn.begin()
        try:
            outcomes = self._commit_in(conn, batch)
        except _Refused as refused:  # the batch's only operation said no: nothing was written
            trans.rollback()
            return [refused.cause]
        except BaseException:
            # The connection may be broken (the server restarted): the next batch opens a new one.
            with contextlib.suppress(Exception):
                trans.rollback()
            self._close_writer_connection()
            raise
        try:
            trans.commit()
        except Exception as exc:
            # The answer to COMMIT was lost: the server may have stored the batch or not. Asking
            # it, rather than reporting a failure that a caller would send again as a duplicate.
            self._close_writer_connection()
            if self.is_sqlite:
                raise
            return self._outcome_of_lost_commit(outcomes, exc)
        return outcomes

    def _outcome_of_lost_commit(
        self, outcomes: list[Event | BaseException], cause: Exception
    ) -> list[Event | BaseException]:
        """After a lost answer to COMMIT: the batch's outcomes if it was stored, else its failure.

        Taking the append lock waits until the cut-off transaction has ended on the server (it held
        the lock to its end), so what the rows say then is final: our events under their ids means
        stored; no row, or another node's events under those ids, means not stored.
        """
        events = [o for o in outcomes if isinstance(o, Event)]
        if not events:
            return outcomes
        deadline = time.monotonic() + CHECK_COMMIT_S
        why = _reason(cause)
        while True:
            try:
                assert self.engine is not None
                with self.engine.connect() as check, check.begin():
                    check.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_APPEND_LOCK})
                    rows = check.execute(
                        sa.select(events_table.c.id, events_table.c.ts, events_table.c.type, events_table.c.subject)
                        .where(events_table.c.id.between(events[0].id, events[-1].id))
                        .order_by(events_table.c.id)
                    ).all()
                break
            except Exception as exc:
                why = _reason(exc)
                if time.monotonic() > deadline:
                    logger.error("event log: a commit of %d events was cut off and cannot be checked", len(events))
                    unknown = CommitUnknown(f"the store was cut off while saving this, and cannot be asked ({why})")
                    return [unknown] * len(outcomes)
                time.sleep(0.5)
        ours = [(e.id, e.ts, e.type, e.subject) for e in events]
        if [tuple(r) for r in rows] == ours:
            self.stats.cut_commits_stored += 1
            logger.warning(
                "event log: the answer to a commit was lost (%s); the %d events are stored", why, len(events)
            )
            return outcomes
        self.stats.cut_commits_lost += 1
        logger.warning("event log: a commit was cut off (%s); its %d events were not stored", why, len(events))
        failed = StoreUnavailable(f"the store was cut off while saving this; it was not stored ({why})")
        return [failed] * len(outcomes)

    def _writer_connection(self) -> Connection:
        """The writer thread's connection, kept from batch to batch.

        Checking one out of the pool for every batch would cost PostgreSQL two more round trips
        per transaction (the liveness ping and the reset on return). After a pause it goes back to
        the pool, and the checkout's ping finds out whether the server restarted meanwhile.
        """
        now = time.monotonic()
        if self._wconn is not None and now - self._wconn_m > WRITER_IDLE_S:
            self._close_writer_connection()
        if self._wconn is None:
            assert self.engine is not None
            self._wconn = self.engine.connect()
        self._wconn_m = now
        return self._wconn

    def _close_writer_connection(self) -> None:
        conn, self._wconn = self._wconn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _commit_in(self, conn: Connection, batch: list[_Pending]) -> list[Event | BaseException]:
        outcomes: list[Event | BaseException] = []
        if not self.is_sqlite:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_APPEND_LOCK})
            head_id, head_ts = _head(conn)
            next_id = head_id + 1
            # Nodes' clocks differ slightly; an event is never older than the one before it.
            self._last_ts = max(self._last_ts, head_ts)
        else:
            # One SQLite file has one writer (this one, under BEGIN IMMEDIATE): no need to ask.
            next_id = self._last_id + 1
        rows: list[dict[str, Any]] = []
        now = max(time.time(), self._last_ts)
        alone = len(batch) == 1
        for p in batch:
            d = p.draft
            if p.op is not None:
                if alone:
                    # No savepoint (two round trips less): a refusal rolls back the whole
                    # transaction, which holds nothing else.
                    try:
                        p.op(conn, d)
                    except Exception as exc:
                        if conn.invalidated:  # not the op's refusal: the store went away
                            raise
                        raise _Refused(exc) from exc
                else:
                    try:
                        with conn.begin_nested():
                            p.op(conn, d)
                    except Exception as exc:
                        if conn.invalidated:
                            # The connection broke under the op (the server restarted, say): the
                            # whole batch fails with this cause, not with the next statement's
                            # "invalid transaction" that would hide it.
                            raise
                        outcomes.append(exc)
                        continue
            data_json = json.dumps(d.data, separators=(",", ":"), ensure_ascii=False)
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
                    "data": data_json,
                }
            )
            outcomes.append(ev)
        if rows:
            conn.execute(events_table.insert(), rows)
            named = [
                {"token": tok, "event_id": ev.id}
                for ev in outcomes
                if isinstance(ev, Event)
                for tok in _audience_of(ev)
            ]
            if named:
                conn.execute(event_audience_table.insert(), named)
            self._last_ts = now
        return outcomes


class _Refused(Exception):
    """Carries the exception of a batch's only operation out of its transaction."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _head(conn: Connection) -> tuple[int, float]:
    """Id and time of the newest event (0, 0.0 when the log is empty)."""
    t = events_table
    row = conn.execute(sa.select(t.c.id, t.c.ts).order_by(t.c.id.desc()).limit(1)).first()
    return (0, 0.0) if row is None else (int(row.id), float(row.ts))


def _audience_of(ev: Event) -> set[str]:
    """The audience tokens an event names (none when its data has no well-formed list)."""
    named = ev.data.get(AUDIENCE_KEY)
    return {tok for tok in named if isinstance(tok, str)} if isinstance(named, list) else set()


def _read_events(query: Any, conn: Connection) -> list[Event]:
    return [_row_event(r) for r in conn.execute(query)]


def _read_events_reversed(query: Any, conn: Connection) -> list[Event]:
    return _read_events(query, conn)[::-1]


def _row_event(r: sa.Row[Any]) -> Event:
    return Event(r.id, r.ts, r.type, r.subject, r.actor, r.grid, json.loads(r.data))


def _reason(exc: BaseException) -> str:
    """A short, password-free reason for a store failure (the driver's first line)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_tuning(engine: Engine, begin: str | None) -> None:
    """WAL, durable commits, and transactions that SQLAlchemy controls (so savepoints work)."""

    @sa_event.listens_for(engine, "connect")
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

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)
