"""Instructions: targets frozen at send, receipts per recipient, the worker channel, follow-up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from alerts.clock import ManualClock
from tests.hub.conftest import RunningHub, make_settings, serve
from tests.hub.test_feed import recv_until, ws_connect


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[RunningHub, ManualClock]]:
    clock = ManualClock()
    settings = make_settings(tmp_path, instructions={"escalate_after_s": 60, "progress_interval_ms": 50})
    async with serve(settings, clock) as rh:
        yield rh, clock


async def worker_ws(rh: RunningHub, user: str, since: int | None = None) -> websockets.ClientConnection:
    token = await rh.token(user)
    q = f"since={since}&" if since is not None else ""
    return await websockets.connect(f"ws://127.0.0.1:{rh.port}/ws/worker?{q}token={token}")


async def next_msg(ws: websockets.ClientConnection, pred: Any, within_s: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within_s):
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return msg  # type: ignore[no-any-return]


async def send(rh: RunningHub, **body: Any) -> dict[str, Any]:
    async with await rh.client("coordinator") as c:
        r = await c.post("/api/instructions", json={"priority": "urgent", **body})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


async def test_targets_are_resolved_and_frozen(running: RunningHub) -> None:
    out = await send(running, text="Close the market gates", targets={"nodes": ["c1"], "people": ["dispatcher"]})
    assert out["instruction"]["recipients"] == 3 and out["unreachable"] == ["comm-lead"]
    iid = out["instruction"]["id"]
    async with await running.client("coordinator") as c:
        body = (await c.get(f"/api/instructions/{iid}")).json()
    assert [r["person"] for r in body["receipts"]] == ["dispatcher", "worker1", "worker2"]
    assert body["per_state"]["queued"] == 3 and body["per_node"]["c1"]["queued"] == 2
    assert body["unacknowledged"] == ["dispatcher", "worker1", "worker2"]
    on_duty = await send(running, text="x", targets={"nodes": ["c1"], "on_duty_only": True})
    assert on_duty["instruction"]["recipients"] == 1
    roles = await send(running, text="x", targets={"roles": ["worker"]})
    assert roles["instruction"]["recipients"] == 2  # worker3 has no login


async def test_bad_input_answers(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        post = lambda **b: c.post("/api/instructions", json=b)  # noqa: E731
        r = await post(text="", targets={"people": ["worker1"]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]
        for targets, name in (
            ({"people": ["ghost"]}, "ghost"),
            ({"roles": ["pilot"]}, "pilot"),
            ({"nodes": ["atlantis"]}, "atlantis"),
        ):
            r = await post(text="x", targets=targets)
            assert r.status_code == 422 and name in r.json()["detail"], r.text
        r = await post(text="x", targets={"nodes": ["g3"]})  # only worker3, who cannot log in
        assert r.status_code == 422 and "nobody" in r.json()["detail"]
        r = await post(text="x" * 2001, targets={"people": ["worker1"]})
        assert r.status_code == 413
        r = await c.post("/api/attachments", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * 3_000_000)})
        assert r.status_code == 413
        r = await c.post("/api/attachments", files={"file": ("x.exe", b"MZ\x90\x00 not an image")})
        assert r.status_code == 415
    out = await send(running, text="only worker1", targets={"people": ["worker1"]})
    iid = out["instruction"]["id"]
    async with await running.client("worker2") as w2:
        assert (await w2.post(f"/api/instructions/{iid}/ack")).status_code == 403
    async with await running.client("worker1") as w1:
        first = await w1.post(f"/api/instructions/{iid}/ack")
        again = await w1.post(f"/api/instructions/{iid}/ack")
        assert first.json()["state"] == again.json()["state"] == "acknowledged"
    async with await running.client("coordinator") as c:
        assert (await c.post(f"/api/instructions/{iid}/cancel")).status_code == 200
        assert (await c.post(f"/api/instructions/{iid}/amend", json={"text": "y"})).status_code == 409
        hist = (await c.get("/api/events", params={"since": 0, "type": "instruction.acknowledged"})).json()
        assert len(hist["events"]) == 1  # the repeated ack added nothing
    async with await running.client("worker1") as w1:
        assert (await w1.post(f"/api/instructions/{iid}/ack")).status_code == 409


async def test_worker_channel_live_receipts_and_devices(running: RunningHub) -> None:
    phone, tablet = await worker_ws(running, "worker1"), await worker_ws(running, "worker1")
    other = await worker_ws(running, "worker2")
    try:
        for ws in (phone, tablet, other):
            await next_msg(ws, lambda m: m["type"] == "live")
        out = await send(running, text="Evacuate pier 7", targets={"people": ["worker1"]}, reply_options=["on my way"])
        iid = out["instruction"]["id"]
        got = [await next_msg(ws, lambda m: m["type"] == "instruction") for ws in (phone, tablet)]
        assert all(
            m["instruction"]["text"] == "Evacuate pier 7" and m["instruction"]["priority"] == "urgent" for m in got
        )
        for step in ("delivered", "read"):
            await phone.send(json.dumps({"type": step, "id": iid}))
            assert (await next_msg(phone, lambda m: m["type"] == "receipt"))["state"] == step
        await tablet.send(json.dumps({"type": "reply", "id": iid, "reply": "on my way"}))
        assert (await next_msg(tablet, lambda m: m["type"] == "receipt"))["state"] == "replied"
        await phone.send(json.dumps({"type": "ack", "id": iid}))  # already confirmed on the tablet
        assert (await next_msg(phone, lambda m: m["type"] == "receipt"))["state"] == "replied"
        await other.send(json.dumps({"type": "ack", "id": iid}))
        assert (await next_msg(other, lambda m: m["type"] == "error"))["status"] == 403
        with pytest.raises(TimeoutError):  # worker2 never got worker1's instruction
            await next_msg(other, lambda m: m["type"] == "instruction", within_s=1)
    finally:
        for ws in (phone, tablet, other):
            await ws.close()
    async with await running.client("coordinator") as c:
        rec = (await c.get(f"/api/instructions/{iid}")).json()["receipts"][0]
    assert (rec["state"], rec["reply"]) == ("replied", "on my way")
    assert rec["delivered_at"] and rec["read_at"] and rec["done_at"]


async def test_offline_worker_gets_everything_once_on_resume(running: RunningHub) -> None:
    ids = [
        (await send(running, text=f"order {i}", targets={"people": ["worker2"]}))["instruction"]["id"] for i in range(3)
    ]
    await send(running, text="not for worker2", targets={"people": ["worker1"]})
    ws = await worker_ws(running, "worker2", since=0)
    msgs: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(15):
            while (m := json.loads(await ws.recv()))["type"] != "live":
                msgs.append(m)
        cursor = m["cursor"]
    finally:
        await ws.close()
    assert [(m["type"], m["id"]) for m in msgs] == [("instruction", i) for i in ids]
    ws = await worker_ws(running, "worker2", since=cursor)
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "live"  # nothing replayed twice
    finally:
        await ws.close()


async def test_deadline_renotifies_then_tells_the_leader(clocked: tuple[RunningHub, ManualClock]) -> None:
    rh, clock = clocked
    w1, w2 = await worker_ws(rh, "worker1"), await worker_ws(rh, "worker2")
    feed = await ws_connect(rh, "coordinator", "type=instruction.")
    try:
        for ws in (w1, w2):
            await next_msg(ws, lambda m: m["type"] == "live")
        await recv_until(feed, lambda m: m.get("control") == "live")
        out = await send(rh, text="Report your position", targets={"nodes": ["c1"]}, deadline_s=120)
        iid = out["instruction"]["id"]
        await next_msg(w1, lambda m: m["type"] == "instruction")
        await w1.send(json.dumps({"type": "ack", "id": iid}))
        await next_msg(w1, lambda m: m["type"] == "receipt")
        progress = await recv_until(feed, lambda m: m.get("type") == "instruction.progress")
        assert progress[-1]["data"]["per_state"]["acknowledged"] == 1
        clock.advance(121)
        renotify = await next_msg(w2, lambda m: m["type"] == "renotify")
        assert renotify["id"] == iid
        with pytest.raises(TimeoutError):  # worker1 confirmed: not bothered again
            await next_msg(w1, lambda m: m["type"] == "renotify", within_s=1)
        clock.advance(61)
        notice = await next_msg(w2, lambda m: m["type"] == "notice")  # worker2 leads g2
        assert notice["persons"] == ["worker2"] and notice["id"] == iid
        esc = await recv_until(feed, lambda m: m.get("type") == "instruction.escalated")
        assert esc[-1]["data"]["leader"] == "worker2"
    finally:
        for ws in (w1, w2, feed):
            await ws.close()


async def test_amend_cancel_and_resend_reach_those_who_had_it(running: RunningHub) -> None:
    w1 = await worker_ws(running, "worker1")
    try:
        await next_msg(w1, lambda m: m["type"] == "live")
        iid = (await send(running, text="Hold position", targets={"people": ["worker1", "worker2"]}))["instruction"][
            "id"
        ]
        await next_msg(w1, lambda m: m["type"] == "instruction")
        async with await running.client("coordinator") as c:
            assert (await c.post(f"/api/instructions/{iid}/amend", json={"text": "Move to gate B"})).status_code == 200
            amended = await next_msg(w1, lambda m: m["type"] == "amended")
            assert (amended["text"], amended["amendments"]) == ("Move to gate B", 1)
            r = await c.post(f"/api/instructions/{iid}/resend")
            assert r.json()["renotified"] == ["worker1", "worker2"]
            await next_msg(w1, lambda m: m["type"] == "renotify")
            await c.post(f"/api/instructions/{iid}/cancel")
            assert (await next_msg(w1, lambda m: m["type"] == "cancelled"))["id"] == iid
    finally:
        await w1.close()
