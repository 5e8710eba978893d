"""Idempotency-Key: a phone's outbox may send an action twice; the hub does it once.

A request that carries ``Idempotency-Key: K`` is done once per user and key. The key is stored in
the *same transaction* as the change it makes (the first event the request appends: its op
claims the key, see :class:`KeyedEventLog`), so a SIGKILL can never leave a change without its
key, nor a key without its change. The answer (status and body) is stored beside the key once it
is known; a repeat gets that answer again. A repeat that finds the key but no answer (the hub died
between the change and the answer) gets the answer rebuilt from the change (the route's
``recover``), and whatever the first request had left undone (photos not yet linked) is finished.

The same key with another body (another route, other fields, other photos): 422, nothing done.
Two requests with one key at once: the second waits for the first and answers what it answered.
On two hub nodes, the store's key check refuses the second's change; it answers 409 (send again)
while the first may still be at work, and the first's answer after. Requests that were refused
(4xx) changed nothing and keep no key: sending them again asks again. Keys are forgotten after
``field.idempotency_ttl_s`` (24 h).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from hub.store.eventlog import EventDraft, EventLog, Op, metadata
from hub.store.events import Event

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
"""A key: 1–128 visible ASCII characters (a UUID made on the phone)."""
IN_PROGRESS_S = 30.0
"""A key another hub process claimed less than this ago, without an answer yet, is taken to be still
in progress there (409, send again) rather than abandoned by a crash (answer rebuilt)."""
PRUNE_EVERY_S = 60.0
"""Expired keys are deleted at most this often, inside a claiming transaction."""
REPLAYED_HEADER = "Idempotent-Replayed"

keys_table = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("route", sa.String(256), nullable=False),
    sa.Column("node", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(128)),
    sa.Column("first", sa.Text),
    sa.Column("status", sa.Integer),
    sa.Column("body", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)
"""One row per user and key: what the request was (its fingerprint), the first change it made
(the subject and data of its first event) and, once answered, the answer."""

Answer = tuple[int, Any]
"""A status code and a JSON-able body."""
Recover = Callable[[str, dict[str, Any]], Awaitable[Answer]]
"""Rebuilds (and finishes) a request's answer from its first event's subject and data."""


class KeyRepeated(Exception):
    """The key was claimed by another request meanwhile (another hub node)."""


@dataclass
class Claim:
    """The key of the request being handled; the first append it makes stores it."""

    username: str
    key: str
    fingerprint: str
    route: str
    ttl_s: float
    keeper: Idempotency
    taken: bool = False
    """Whether an append of this request has stored the key (with its change)."""


_current: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("idempotency_claim", default=None)


def _pk(username: str, key: str) -> sa.ColumnElement[bool]:
    t = keys_table
    return sa.and_(t.c.username == username, t.c.key == key)


def _claiming(claim: Claim, inner: Op | None) -> Op:
    """``inner`` and the key's row, in one savepoint of the append's transaction."""

    def op(conn: Connection, draft: EventDraft) -> None:
        t = keys_table
        now = time.time()
        cutoff = now - claim.ttl_s
        row = conn.execute(sa.select(t.c.created_at).where(_pk(claim.username, claim.key))).first()
        if row is not None:
            if float(row.created_at) >= cutoff:
                raise KeyRepeated(claim.key)
            conn.execute(sa.delete(t).where(_pk(claim.username, claim.key)))
        if inner is not None:
            inner(conn, draft)
        if now - claim.keeper.pruned_at > PRUNE_EVERY_S:
            claim.keeper.pruned_at = now
            conn.execute(sa.delete(t).where(t.c.created_at < cutoff))
        conn.execute(
            sa.insert(t).values(
                username=claim.username,
                key=claim.key,
                fingerprint=claim.fingerprint,
                route=claim.route,
                node=claim.keeper.node,
                subject=draft.subject,
                first=json.dumps(draft.data, default=str, ensure_ascii=False),
                created_at=now,
            )
        )

    return op


class KeyedEventLog(EventLog):
    """The event log, with the first append of a keyed request also storing its key."""

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
        """See :meth:`EventLog.append`; inside a keyed request, the first append claims the key."""
        claim = _current.get()
        if claim is None or claim.taken:
            return await super().append(type, subject, actor, data, grid=grid, op=op)
        ev = await super().append(type, subject, actor, data, grid=grid, op=_claiming(claim, op))
        claim.taken = True
        return ev


def fingerprint(method: str, path: str, body: Any) -> str:
    """What identifies a request's content: the route and its body (photos by their SHA-256)."""
    text = json.dumps([method, path, jsonable_encoder(body)], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def photo_digest(data: bytes) -> str:
    """A photo's part of a fingerprint."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class Idempotency:
    """Runs keyed requests once per user and key (see the module's docstring)."""

    log: EventLog
    ttl_s: float
    pruned_at: float = 0.0
    """When the claiming transactions last deleted expired keys."""
    _inflight: dict[tuple[str, str], asyncio.Future[None]] = field(default_factory=dict)
    replays: int = 0
    """Requests answered from a stored answer (or rebuilt one): for /metrics and tests."""
    reused: int = 0
    """Keys sent again with another request (422): for /metrics."""
    node: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    """This hub process: whose claims without an answer are known not to be in progress any more."""

    async def run(
        self,
        request: Request,
        username: str,
        body: Any,
        work: Callable[[], Awaitable[Answer]],
        recover: Recover,
    ) -> JSONResponse:
        """Do ``work`` once for the request's key (or every time, without one); its answer as JSON."""
        key = request.headers.get(HEADER)
        if key is None:
            code, out = await work()
            return JSONResponse(jsonable_encoder(out), code)
        if not KEY_PATTERN.match(key):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{HEADER} must be 1 to 128 visible ASCII characters"
            )
        fp = fingerprint(request.method, request.url.path, body)
        slot = (username, key)
        while (pending := self._inflight.get(slot)) is not None:
            await asyncio.shield(pending)  # the first request with this key is under way: its answer is ours
        # No await between the look above and this: one request per key and user at a time here.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = done
        try:
            row = await self._find(username, key)
            if row is not None:
                return await self._repeat(row, fp, recover)
            claim = Claim(username, key, fp, f"{request.method} {request.url.path}", self.ttl_s, self)
            token = _current.set(claim)
            try:
                code, out = await work()
                elsewhere = False
            except KeyRepeated:  # another node took the key between our look and our change
                elsewhere = True
            finally:
                _current.reset(token)
            if elsewhere:
                row = await self._find(username, key)
                if row is None:
                    busy = "this request is being handled; send it again"
                    raise HTTPException(status.HTTP_409_CONFLICT, busy)
                return await self._repeat(row, fp, recover)
            encoded = jsonable_encoder(out)
            try:
                await self._keep(claim, code, encoded)
            except Exception:  # the change is made and answered; a repeat rebuilds the answer from it
                logger.warning("idempotency %s/%s: the answer could not be kept", username, key, exc_info=True)
            return JSONResponse(encoded, code)
        finally:
            del self._inflight[slot]
            done.set_result(None)

    async def _repeat(self, row: dict[str, Any], fp: str, recover: Recover) -> JSONResponse:
        if row["fingerprint"] != fp:
            self.reused += 1
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"this {HEADER} was used for another request ({row['route']}); use a new key for a new request",
            )
        if row["status"] is None and row["node"] != self.node and time.time() - row["created_at"] < IN_PROGRESS_S:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "this request is being handled by another hub node; send it again shortly",
                headers={"Retry-After": "2"},
            )
        self.replays += 1
        headers = {REPLAYED_HEADER: "true"}
        if row["status"] is not None:
            return JSONResponse(json.loads(row["body"]), row["status"], headers=headers)
        # Changed, then never answered (a crash, or a later step refused): answer from the change,
        # finishing what it left undone.
        logger.info("idempotency %s/%s: answer rebuilt from %s", row["username"], row["key"], row["subject"])
        code, out = await recover(row["subject"] or "", json.loads(row["first"] or "{}"))
        encoded = jsonable_encoder(out)
        try:
            await self._write(self._answered(row["username"], row["key"], code, encoded))
        except Exception:  # rebuilt again next time
            logger.warning("idempotency %s/%s: the rebuilt answer could not be kept", row["username"], row["key"])
        return JSONResponse(encoded, code, headers=headers)

    async def _find(self, username: str, key: str) -> dict[str, Any] | None:
        cutoff = time.time() - self.ttl_s

        def read(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(keys_table).where(_pk(username, key))).first()
            return dict(row._mapping) if row is not None and row.created_at >= cutoff else None

        return await self.log.query(read)

    async def _keep(self, claim: Claim, code: int, body: Any) -> None:
        """Store the answer beside the key (the row the change wrote; a new one when nothing changed)."""
        if claim.taken:
            await self._write(self._answered(claim.username, claim.key, code, body))
            return
        t = keys_table
        values = {
            "username": claim.username,
            "key": claim.key,
            "fingerprint": claim.fingerprint,
            "route": claim.route,
            "node": self.node,
            "status": code,
            "body": json.dumps(body, ensure_ascii=False),
            "created_at": time.time(),
        }

        def insert(conn: Connection) -> None:
            if conn.execute(sa.select(t.c.key).where(_pk(claim.username, claim.key))).first() is None:
                conn.execute(sa.insert(t).values(**values))

        try:
            await self._write(insert)
        except sa.exc.IntegrityError:  # another node stored it first: the same nothing-changed answer
            pass

    @staticmethod
    def _answered(username: str, key: str, code: int, body: Any) -> Callable[[Connection], None]:
        def update(conn: Connection) -> None:
            text = json.dumps(body, ensure_ascii=False)
            conn.execute(sa.update(keys_table).where(_pk(username, key)).values(status=code, body=text))

        return update

    async def _write(self, fn: Callable[[Connection], None]) -> None:
        # The answer is a copy of what a committed change already holds, so it goes outside the
        # log's transaction, on a reader connection (autocommit); lost, it is rebuilt by ``recover``.
        def run(conn: Connection) -> None:
            fn(conn)
            conn.commit()

        await self.log.query(run)
