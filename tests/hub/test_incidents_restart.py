"""Deadlines live in the store: armed before a restart, they fire after it, each exactly once (SQLite)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from alerts.clock import ManualClock
from tests.hub.conftest import RunningHub, make_settings, serve


async def escalations(c: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every ``incident.escalated`` event in the log."""
    page = (await c.get("/api/events", params={"since": 0, "limit": 1000, "type": "incident.escalated"})).json()
    return list(page["events"])


async def wait_escalations(rh: RunningHub, count: int) -> list[dict[str, Any]]:
    """The escalations once there are ``count`` of them (fails after 20 s)."""
    async with await rh.client("dispatcher") as c, asyncio.timeout(20):
        while len(found := await escalations(c)) < count:  # noqa: ASYNC110  (polling the hub over HTTP)
            await asyncio.sleep(0.05)
        return found


async def deadlines(rh: RunningHub, ids: list[int]) -> list[dict[str, Any]]:
    """Every deadline row of these incidents."""
    async with await rh.client("dispatcher") as c:
        return [d for iid in ids for d in (await c.get(f"/api/incidents/{iid}")).json()["deadlines"]]


async def test_deadlines_armed_before_a_restart_fire_after_it_exactly_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # the default store: SQLite under the data dir
    dl = settings.incidents.deadlines["P1"]
    clock = ManualClock()
    async with serve(settings, clock) as rh, await rh.client("dispatcher") as c:
        ids = []
        for i in range(3):
            r = await c.post("/api/incidents", json={"category": "c", "severity": "P1", "title": f"t{i}", "node": "g1"})
            ids.append(r.json()["incident"]["id"])
            r = await c.post(
                f"/api/incidents/{ids[-1]}/transitions",
                json={"to": "assigned", "version": 1, "assignee": {"person": "worker1"}},
            )
            assert r.status_code == 200
        async with await rh.client("worker1") as w:  # the third is acknowledged: it must arrive instead
            r = await w.post(f"/api/incidents/{ids[2]}/transitions", json={"to": "acknowledged", "version": 2})
            assert r.status_code == 200
        armed = {(d["incident_id"], d["kind"]): d["id"] for d in await deadlines(rh, ids) if d["cancelled_at"] is None}
        assert set(armed) == {(i, k) for i in ids for k in ("ack", "resolve")} - {(ids[2], "ack")} | {
            (ids[2], "arrive")
        }

    # Restarted on the same data dir; then the acknowledge deadlines pass.
    async with serve(settings, clock) as rh:
        clock.advance(dl.ack_s + 1)
        fired = await wait_escalations(rh, 2)
        assert sorted(e["data"]["deadline_id"] for e in fired) == sorted([armed[ids[0], "ack"], armed[ids[1], "ack"]])
        assert {e["data"]["to"] for e in fired} == {"c1"}

    # Once more: what fired before the restart does not fire again; the arrive deadline fires now.
    async with serve(settings, clock) as rh:
        clock.advance(dl.arrive_s - dl.ack_s)  # past the arrive deadline; the climbed acks are due again too
        fired = await wait_escalations(rh, 5)
        rows = await deadlines(rh, ids)
        async with await rh.client("dispatcher") as c:
            await asyncio.sleep(0.5)  # a late duplicate would show up here
            fired = await escalations(c)
    counts = Counter(e["data"]["deadline_id"] for e in fired)
    assert set(counts.values()) == {1}, counts
    assert set(counts) == {d["id"] for d in rows if d["fired_at"] is not None}
    assert {armed[ids[0], "ack"], armed[ids[1], "ack"], armed[ids[2], "arrive"]} <= set(counts)
    assert armed[ids[0], "resolve"] not in counts  # not due yet
