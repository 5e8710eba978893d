"""The alerts open now, kept beside the log so a page that opens mid-alert sees it at once.

The wall's alarm lane needs "which cameras have an open alert", not the history of every alert.
Each ``alert.started`` inserts a row, ``alert.updated`` refreshes it (its clip, its score) and
``alert.ended`` deletes it, in the same transaction as the event. An analysis that stopped without
ending its alerts (a node killed) leaves rows behind: when a camera's analysis starts again on any
node, what is left of that camera is ended with ``stale: true``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.eventlog import EventDraft, EventLog, Op, chain, metadata

logger = logging.getLogger(__name__)

open_alerts_table = sa.Table(
    "open_alerts",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("camera", sa.String(64), nullable=False, index=True),
    sa.Column("grid", sa.String(64)),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
)


class OpenAlerts:
    """Keeps :data:`open_alerts_table` in step with the alert events of the log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    def op_for(self, type: str, data: dict[str, Any]) -> Op | None:
        """The table change that goes with an alert event (``None`` for other events)."""
        alert_id = data.get("alert_id")
        if not isinstance(alert_id, str) or not type.startswith("alert."):
            return None
        t = open_alerts_table
        if type == "alert.ended":

            def end(conn: Connection, draft: EventDraft) -> None:
                conn.execute(sa.delete(t).where(t.c.alert_id == alert_id))

            return end

        def keep(conn: Connection, draft: EventDraft) -> None:
            row = conn.execute(sa.select(t.c.data).where(t.c.alert_id == alert_id)).first()
            if type == "alert.started" and row is None:
                conn.execute(
                    sa.insert(t).values(
                        alert_id=alert_id,
                        camera=draft.subject,
                        grid=draft.grid,
                        started_at=time.time(),
                        data=json.dumps(draft.data, default=str),
                    )
                )
            elif row is not None:  # an update: its clip, a new score
                merged = {**json.loads(row.data), **draft.data}
                conn.execute(sa.update(t).where(t.c.alert_id == alert_id).values(data=json.dumps(merged, default=str)))

        return keep

    async def list(self, grids: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """The alerts open now, oldest first (with ``grids``, only those of these grids' cameras)."""

        def read(conn: Connection) -> list[tuple[Any, ...]]:
            t = open_alerts_table
            q = sa.select(t.c.camera, t.c.grid, t.c.started_at, t.c.data).order_by(t.c.started_at)
            if grids is not None:
                q = q.where(t.c.grid.in_(sorted(grids)))
            return [tuple(r) for r in conn.execute(q).all()]

        return [
            {**json.loads(data), "camera": camera, "grid": grid, "started_at": started_at}
            for camera, grid, started_at, data in await self.log.query(read)
        ]

    async def end_stale(self, camera_id: str, grid: str | None, fence: Op | None = None) -> int:
        """End what an earlier analysis of this camera left open; how many were ended. ``fence``
        goes with each append (the camera's lease, when several nodes share the cameras)."""

        def read(conn: Connection) -> list[str]:
            t = open_alerts_table
            return [str(r[0]) for r in conn.execute(sa.select(t.c.data).where(t.c.camera == camera_id)).all()]

        left = [json.loads(d) for d in await self.log.query(read)]
        for data in left:
            ended = {k: data.get(k) for k in ("camera", "kind", "zone", "alert_id")}
            ended.update(stale=True, reason="the analysis that raised it stopped without ending it", ts=time.time())
            await self.log.append(
                "alert.ended", camera_id, "system", ended, grid=grid, op=chain(fence, self.op_for("alert.ended", ended))
            )
        if left:
            logger.info("camera %s: %d alerts left open by an earlier analysis ended", camera_id, len(left))
        return len(left)
