"""The viewing record a public camera network owes: who watched which camera, when, from where,
for how long; and who took which picture, clip or piece of evidence away.

Every record is an event of the log (so it is as durable as the rest, and survives a SIGKILL):

- ``view.started``: a live view's offer was answered, or a login began fetching a camera's
  snapshots (one record for a run of snapshots, however many: a wall's overview refreshes 48 of
  them every few seconds, and the log must not fill with them);
- ``view.ended``: that view ended: the viewer left, the session was lost, or no snapshot was
  fetched for :data:`SNAPSHOT_IDLE_S`; with how long it lasted;
- ``view.downloaded``: an evidence file (snapshot, clip, photo) was fetched.

A view started before a node was killed has no end; :meth:`ViewingRecord.query` shows it open.
The records carry no grid, so workers never read them in the log; admins read them at
``GET /api/audit``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.eventlog import EventLog, events_table

logger = logging.getLogger(__name__)

STARTED = "view.started"
ENDED = "view.ended"
DOWNLOADED = "view.downloaded"
TYPES = (STARTED, ENDED, DOWNLOADED)
SNAPSHOT_IDLE_S = 60.0
"""A run of snapshots of one camera by one login from one address ends this long after the last."""
PENDING_MAX = 10_000
"""Ends waiting to be written (a wall of viewers leaving at once); past it they are counted as lost."""
QUERY_MAX = 1000
"""Most records one audit query returns."""


@dataclass
class _Run:
    view: str
    started_at: float
    last_at: float
    requests: int = 1


@dataclass
class ViewingRecord:
    """Writes the viewing record; one per hub node."""

    log: EventLog
    idle_s: float = SNAPSHOT_IDLE_S
    clock: Callable[[], float] = time.time
    _runs: dict[tuple[str, str, str], _Run] = field(default_factory=dict)
    _ends: asyncio.Queue[tuple[str, str, dict[str, Any]]] = field(default_factory=lambda: asyncio.Queue(PENDING_MAX))
    lost: int = 0
    """Ends that could not be queued (the record shows those views as open)."""

    @staticmethod
    def new_view() -> str:
        """An id for a view about to start (its end may be noted before its start is written)."""
        return secrets.token_hex(8)

    async def live_started(self, user: str, camera: str, address: str, view: str) -> None:
        """A live view began (its offer answered); durable before the viewer gets the answer."""
        await self._append(STARTED, user, camera, {"view": view, "kind": "live", "address": address})

    def live_ended(self, user: str, camera: str, view: str, started_at: float, reason: str) -> None:
        """A live view ended (called from the session's close, which cannot wait)."""
        now = self.clock()
        data = {"view": view, "kind": "live", "duration_s": round(now - started_at, 1), "reason": reason}
        self._queue_end(user, camera, data)

    async def snapshot(self, user: str, camera: str, address: str) -> None:
        """A snapshot was fetched: the first of a run starts a view, later ones extend it."""
        now = self.clock()
        key = (user, camera, address)
        run = self._runs.get(key)
        if run is not None and now - run.last_at <= self.idle_s:
            run.last_at, run.requests = now, run.requests + 1
            return
        if run is not None:
            self._end_run(key, run)
        view = secrets.token_hex(8)
        self._runs[key] = _Run(view, now, now)
        await self._append(STARTED, user, camera, {"view": view, "kind": "snapshot", "address": address})

    async def downloaded(self, user: str, camera: str | None, address: str, what: dict[str, Any]) -> None:
        """An evidence file was fetched (``what``: incident, evidence id, kind)."""
        await self._append(DOWNLOADED, user, camera, {"address": address, **what})

    def _end_run(self, key: tuple[str, str, str], run: _Run) -> None:
        del self._runs[key]
        data = {
            "view": run.view,
            "kind": "snapshot",
            "duration_s": round(run.last_at - run.started_at, 1),
            "requests": run.requests,
            "reason": "no more snapshots",
        }
        self._queue_end(key[0], key[1], data)

    def _queue_end(self, user: str, camera: str, data: dict[str, Any]) -> None:
        try:
            self._ends.put_nowait((user, camera, data))
        except asyncio.QueueFull:
            self.lost += 1

    async def _append(self, type_: str, user: str, camera: str | None, data: dict[str, Any]) -> None:
        subject = f"camera:{camera}" if camera else "evidence"
        await self.log.append(type_, subject, user, {"camera": camera, **data})

    async def run(self) -> None:
        """Write ends as they come, and end snapshot runs that went quiet."""
        while True:
            try:
                user, camera, data = await asyncio.wait_for(self._ends.get(), self.idle_s / 4)
            except TimeoutError:
                now = self.clock()
                for key, run in [(k, r) for k, r in self._runs.items() if now - r.last_at > self.idle_s]:
                    self._end_run(key, run)
                continue
            try:
                await self._append(ENDED, user, camera, data)
            except Exception:  # the store is down: that view shows as open
                self.lost += 1
                logger.warning("viewing record: could not write the end of a view of %s by %s", camera, user)

    async def close(self) -> None:
        """At shutdown: end every run and write what is queued (bounded by the caller)."""
        for key, run in list(self._runs.items()):
            self._end_run(key, run)
        while not self._ends.empty():
            user, camera, data = self._ends.get_nowait()
            await self._append(ENDED, user, camera, data)

    async def query(
        self, camera: str | None, user: str | None, since: float | None, until: float | None, limit: int
    ) -> list[dict[str, Any]]:
        """Views and downloads, oldest first: each view once, with its end when there is one."""
        t = events_table
        q = sa.select(t.c.id, t.c.ts, t.c.type, t.c.actor, t.c.data).where(t.c.type.in_(TYPES))
        if camera is not None:
            q = q.where(t.c.subject == f"camera:{camera}")
        if user is not None:
            q = q.where(t.c.actor == user)
        if since is not None:
            q = q.where(t.c.ts >= since)
        if until is not None:
            q = q.where(t.c.ts < until)
        q = q.order_by(t.c.id).limit(limit * 2)

        def read(conn: Connection) -> list[Any]:
            return list(conn.execute(q))

        out: list[dict[str, Any]] = []
        views: dict[str, dict[str, Any]] = {}
        for row in await self.log.query(read):
            data = json.loads(row.data)
            if row.type == DOWNLOADED:
                out.append({"what": "download", "user": row.actor, "at": row.ts, **data})
                continue
            view = str(data.get("view", ""))
            rec = views.get(view)
            if rec is None:
                rec = {"what": "view", "view": view, "user": row.actor, "camera": data.get("camera")}
                rec.update(kind=data.get("kind"), started_at=None, ended_at=None, duration_s=None, address=None)
                views[view] = rec
                out.append(rec)
            if row.type == STARTED:
                rec.update(started_at=row.ts, address=data.get("address"))
            else:
                rec.update(ended_at=row.ts, duration_s=data.get("duration_s"), end_reason=data.get("reason"))
                if "requests" in data:
                    rec["requests"] = data["requests"]
        return out[:limit]
