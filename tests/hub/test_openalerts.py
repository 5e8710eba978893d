"""The alerts open now: what a page that opens mid-alert starts from."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.incidents.openalerts import OpenAlerts
from tests.hub.conftest import make_settings, serve
from tests.hub.test_eventlog import closed, opened


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("pg_url"))


async def _alert(book: OpenAlerts, type: str, camera: str, alert_id: str, **more: Any) -> None:
    data = {"camera": camera, "kind": "intrusion", "zone": "gate", "alert_id": alert_id, **more}
    await book.log.append(type, camera, "system", data, grid="g1", op=book.op_for(type, data))


async def test_open_alerts_follow_their_events_and_leftovers_end_when_analysis_restarts(url: str) -> None:
    log, tg = await opened(url)
    try:
        book = OpenAlerts(log)
        await _alert(book, "alert.started", "cam-a", "a1", score=0.4, snapshot="alerts/cam-a/a1.jpg")
        await _alert(book, "alert.started", "cam-a", "a2", score=0.5)
        await _alert(book, "alert.started", "cam-b", "b1", score=0.9)
        await _alert(book, "alert.updated", "cam-a", "a1", clip="alerts/cam-a/a1.mp4", clip_ready=True)
        await _alert(book, "alert.ended", "cam-a", "a2")
        await log.append("journal.entry", "desk", "dispatcher", {"alert_id": "a1"})  # not an alert event
        now = await book.list()
        assert [(a["camera"], a["alert_id"]) for a in now] == [("cam-a", "a1"), ("cam-b", "b1")]
        assert now[0]["snapshot"] == "alerts/cam-a/a1.jpg" and now[0]["clip_ready"] is True
        assert await book.list(frozenset({"g2"})) == []
        # cam-a's analysis died without ending a1; when it starts again, a1 ends as stale.
        assert await book.end_stale("cam-a", "g1") == 1
        assert [a["alert_id"] for a in await book.list()] == ["b1"]
        (ended,) = [e for e in await log.read(0, 100) if e.type == "alert.ended" and e.data.get("stale")]
        assert ended.data["alert_id"] == "a1" and ended.subject == "cam-a"
    finally:
        await closed(log, tg)


async def test_a_camera_alert_is_listed_while_open(tmp_path: Path) -> None:
    camera = {
        "id": "cam-street",
        "url": "synthetic://street",
        "grid": "g1",
        "preroll_s": 1.0,
        "postroll_s": 1.0,
        "analysis": {"fps": 4, "width": 160, "height": 90},
    }
    async with serve(make_settings(tmp_path, cameras=[camera])) as hub:
        async with await hub.client("dispatcher") as desk, await hub.client("worker2") as other:
            async with asyncio.timeout(60):
                while not (found := (await desk.get("/api/alerts/open")).json()):  # noqa: ASYNC110  (polling over HTTP)
                    await asyncio.sleep(0.2)
            assert found[0]["camera"] == "cam-street" and found[0]["kind"] and found[0]["snapshot"]
            started = await _events(desk, "alert.started")
            assert found[0]["alert_id"] in {e["data"]["alert_id"] for e in started}
            assert (await other.get("/api/alerts/open")).json() == []  # grid 2's worker: not their camera
            # When it ends, it leaves the list.
            alert_id = found[0]["alert_id"]
            async with asyncio.timeout(60):
                while alert_id not in {e["data"]["alert_id"] for e in await _events(desk, "alert.ended")}:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            assert alert_id not in {a["alert_id"] for a in (await desk.get("/api/alerts/open")).json()}


async def _events(c: httpx.AsyncClient, type: str) -> list[dict[str, Any]]:
    r = await c.get("/api/events", params={"since": 0, "limit": 1000, "type": type})
    return list(r.json()["events"])
