"""Staff ask a worker to go live: the phone gets it on the worker channel; 409 when it is not connected."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from hub.routers import worker
from tests.conftest import wait_until
from tests.hub.conftest import RunningHub
from tests.hub.test_instructions import next_msg, worker_ws


async def test_a_go_live_request_reaches_the_workers_phone_and_is_logged(running: RunningHub) -> None:
    async with await running.client("dispatcher") as d:
        inc = await d.post("/api/incidents", json={"category": "x", "severity": "P2", "title": "smoke", "node": "g1"})
        iid = inc.json()["incident"]["id"]
        # worker1's phone is not connected: refused, with what to do instead.
        r = await d.post("/api/workers/worker1/go-live", json={"note": "show me the smoke"})
        assert r.status_code == 409 and "not connected" in r.json()["detail"]
        phone = await worker_ws(running, "worker1")
        other = await worker_ws(running, "worker2")
        try:
            await next_msg(phone, lambda m: m["type"] == "live")
            await next_msg(other, lambda m: m["type"] == "live")
            r = await d.post("/api/workers/worker1/go-live", json={"note": "show me the smoke", "incident": iid})
            assert r.status_code == 201, r.text
            assert r.json()["whip"] == "/whip/field-worker1"
            msg = await next_msg(phone, lambda m: m["type"] == "go_live")
            req = msg["request"]
            assert (req["by"], req["by_name"], req["note"], req["incident"]) == (
                "dispatcher",
                "Dispatcher",
                "show me the smoke",
                iid,
            )
            assert req["whip"] == "/whip/field-worker1" and req["expires_at"] > req["at"]
            # Only to that worker.
            with pytest.raises(TimeoutError):
                await next_msg(other, lambda m: m["type"] == "go_live", within_s=1)
        finally:
            await phone.close()
            await other.close()
        # Unknown context is refused; not a worker, 404; workers cannot ask.
        assert (await d.post("/api/workers/worker1/go-live", json={"incident": 999_999})).status_code == 404
        assert (await d.post("/api/workers/worker1/go-live", json={"camera": "no-such"})).status_code == 422
        assert (await d.post("/api/workers/dispatcher/go-live")).status_code == 404
        async with await running.client("worker2") as w2:
            assert (await w2.post("/api/workers/worker1/go-live")).status_code == 403
        # Once the phone has gone, it is not reachable any more.
        await wait_until(lambda: not running.hub.worker_channels.get("worker1"), 10, "the channel to close")
        assert (await d.post("/api/workers/worker1/go-live")).status_code == 409
        async with await running.client("admin") as admin:
            logged = (await admin.get("/api/events", params={"type": "worker.go_live_requested"})).json()["events"]
    assert [(e["actor"], e["subject"], e["data"]["incident"]) for e in logged] == [("dispatcher", "user:worker1", iid)]


async def test_a_phone_reconnecting_gets_a_fresh_request_but_not_an_expired_one(
    running: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = await worker_ws(running, "worker1")
    await next_msg(phone, lambda m: m["type"] == "live")
    cursor = running.hub.log.last_id
    async with await running.client("dispatcher") as d:
        assert (await d.post("/api/workers/worker1/go-live")).status_code == 201
    await phone.close()
    again = await worker_ws(running, "worker1", since=cursor)
    try:
        msg = await next_msg(again, lambda m: m["type"] in ("go_live", "live"))
        assert msg["type"] == "go_live"
    finally:
        await again.close()
    # Reconnecting after the request's time is up: it is not replayed.
    later = time.time() + worker.GO_LIVE_TTL_S + 1
    monkeypatch.setattr(worker, "time", SimpleNamespace(time=lambda: later))
    late = await worker_ws(running, "worker1", since=cursor)
    try:
        msg = await next_msg(late, lambda m: m["type"] in ("go_live", "live"))
        assert msg["type"] == "live", json.dumps(msg)
    finally:
        await late.close()
