"""The live event feed (`/ws/events`) and `/api/events`: replay, live, filters, resync, shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.hub.conftest import RunningHub, make_settings, serve


async def ws_connect(rh: RunningHub, user: str, query: str = "", **kw: Any) -> websockets.ClientConnection:
    token = await rh.token(user)
    sep = "&" if query else ""
    return await websockets.connect(f"ws://127.0.0.1:{rh.port}/ws/events?{query}{sep}token={token}", **kw)


async def recv_until(ws: websockets.ClientConnection, pred: Any, within_s: float = 20) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(within_s):
        while True:
            msg = json.loads(await ws.recv())
            for item in msg if isinstance(msg, list) else [msg]:
                out.append(item)
                if pred(item):
                    return out


async def journal(c: httpx.AsyncClient, text: str, grid: str | None = None, subject: str = "duty") -> int:
    r = await c.post("/api/journal", json={"text": text, "grid": grid, "subject": subject})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_replay_then_live(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        ids = [await journal(c, f"entry {i}") for i in range(5)]
        ws = await ws_connect(running, "dispatcher", "since=0")
        try:
            got = await recv_until(ws, lambda m: m.get("control") == "live")
            events = [m for m in got if "control" not in m]
            assert [e["id"] for e in events] == list(range(1, ids[-1] + 1))
            assert events[0]["type"] == "hub.started"
            assert [e["data"]["text"] for e in events[1:]] == [f"entry {i}" for i in range(5)]
            assert set(events[1]) == {"id", "ts", "type", "subject", "actor", "grid", "data"}
            new_id = await journal(c, "live one")
            live = await recv_until(ws, lambda m: m.get("id") == new_id)
            assert [m["data"]["text"] for m in live] == ["live one"] and live[0]["actor"] == "dispatcher"
        finally:
            await ws.close()


async def test_filters_by_type_and_subject(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        await journal(c, "a", subject="pier")
        await journal(c, "b", subject="market")
        ws = await ws_connect(running, "dispatcher", "since=0&type=journal.&subject=market")
        try:
            got = await recv_until(ws, lambda m: m.get("control") == "live")
            assert [m["data"]["text"] for m in got if "id" in m] == ["b"]
            await journal(c, "c", subject="pier")
            last = await journal(c, "d", subject="market")
            got = await recv_until(ws, lambda m: m.get("id") == last)
            assert [m["data"]["text"] for m in got] == ["d"]
        finally:
            await ws.close()


async def test_worker_sees_only_their_grids(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        await journal(c, "in g1", grid="g1")
        await journal(c, "in g3", grid="g3")
        await journal(c, "district-wide")
    async with await running.client("worker1") as w:
        page = (await w.get("/api/events", params={"since": 0})).json()
        assert [e["data"]["text"] for e in page["events"]] == ["in g1"]
    ws = await ws_connect(running, "worker1", "since=0")
    try:
        got = await recv_until(ws, lambda m: m.get("control") == "live")
        assert [m["data"]["text"] for m in got if "id" in m] == ["in g1"]
    finally:
        await ws.close()


async def test_since_beyond_the_end_is_a_400(running: RunningHub) -> None:
    token = await running.token("admin")
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(f"ws://127.0.0.1:{running.port}/ws/events?since=999999&token={token}")
    assert info.value.response.status_code == 400
    async with await running.client("admin") as c:
        r = await c.get("/api/events", params={"since": 999999})
        assert r.status_code == 400 and "beyond the end" in r.json()["detail"]
        assert (await c.get("/api/events", params={"since": -1})).status_code == 422


async def test_http_paging_continues_from_last_id(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        for i in range(25):
            await journal(c, str(i))
        seen: list[int] = []
        since = 0
        while True:
            page = (await c.get("/api/events", params={"since": since, "limit": 10})).json()
            seen += [e["id"] for e in page["events"]]
            if not page["events"]:
                break
            since = page["last_id"]
        assert seen == list(range(1, 27))


async def test_slow_client_gets_resync_and_loses_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, server={"ws_queue_events": 8})
    async with serve(settings) as rh:
        head = rh.hub.log.last_id
        # A client that does not read: its socket fills, its queue overflows.
        ws = await ws_connect(rh, "admin", f"since={head}", max_queue=4)
        await recv_until(ws, lambda m: m.get("control") == "live")
        payload = "x" * 2000
        burst = await asyncio.gather(*(rh.hub.log.append("load.burst", "s", data={"p": payload}) for _ in range(4000)))
        want = sorted(e.id for e in burst)
        got: list[int] = []
        resync_at = None
        try:
            async with asyncio.timeout(60):
                async for raw in ws:
                    msg = json.loads(raw)
                    if isinstance(msg, list):
                        got += [e["id"] for e in msg]
                    elif msg.get("control") == "resync":
                        resync_at = msg["last_id"]
                        break
        except websockets.ConnectionClosed:
            pass
        assert resync_at is not None, "a client that fell behind must be told to resync"
        assert ws.close_code == 4000 or ws.close_code is None
        assert resync_at == (got[-1] if got else head)
        assert rh.hub.feeds.resyncs >= 1
        # Resume from the id it was given: the rest arrives, no gaps, no repeats.
        ws2 = await ws_connect(rh, "admin", f"since={resync_at}")
        rest = await recv_until(ws2, lambda m: m.get("id") == want[-1], within_s=60)
        await ws2.close()
        got += [m["id"] for m in rest if "id" in m]
        assert got == want


async def test_shutdown_closes_feeds_promptly(tmp_path: Path) -> None:
    t0 = 0.0
    async with serve(make_settings(tmp_path)) as rh:
        ws = await ws_connect(rh, "admin", "since=0")
        await recv_until(ws, lambda m: m.get("control") == "live")
        async with await rh.client("admin") as c:
            metrics = (await c.get("/metrics")).text
        assert "skyhub_ws_clients 1.0" in metrics
        assert "skyhub_calls 0.0" in metrics and "skyhub_events_appended_total" in metrics
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 10
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code in (1001, 1012)


async def test_a_malformed_cursor_is_a_422_naming_it_on_every_feed(running: RunningHub) -> None:
    # As over HTTP: not a bare 403, which would read as "your role may not use this route".
    token = await running.token("worker1")
    for route in ("/ws/events", "/ws/worker"):
        for bad in ("abc", "", "-1", str(2**64)):
            with pytest.raises(websockets.InvalidStatus) as info:
                await websockets.connect(f"ws://127.0.0.1:{running.port}{route}?since={bad}&token={token}")
            response = info.value.response
            assert response.status_code == 422, (route, bad)
            assert b"since" in response.body, (route, bad)
    async with await running.client("worker1") as c:
        assert (await c.get("/api/events", params={"since": 2**64})).status_code == 422
