"""Instructions: targets frozen at send, receipts per recipient, the worker channel, follow-up."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from alerts.clock import ManualClock
from hub.config import Settings
from hub.instructions.service import InstructionDesk
from tests.hub.conftest import BASE_CONFIG, PASSWORD, TEST_HASHER, RunningHub, make_settings, serve
from tests.hub.test_feed import recv_until, ws_connect
from tests.hub.test_reports import raw_upload

LEAD_HASH = TEST_HASHER.hash(PASSWORD)


def leaders_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The test district, but grids g1 and g2 are led by lead1 and lead2: leaders who are not the
    workers they lead, so a notice that reaches the wrong one of them shows."""
    cfg = copy.deepcopy(BASE_CONFIG)
    users = cfg["users"] + [{"username": u, "roles": ["worker"]} for u in ("lead1", "lead2")]
    for u in users:
        u["password_hash"] = LEAD_HASH
    people = cfg["directory"]["people"] + [{"id": u, "name": u, "roles": ["worker"]} for u in ("lead1", "lead2")]

    def lead(node: dict[str, Any]) -> None:
        node.update({"g1": {"leader": "lead1"}, "g2": {"leader": "lead2"}}.get(node["id"], {}))
        for child in node.get("children", []):
            lead(child)

    lead(cfg["directory"]["root"])
    return make_settings(tmp_path, users=users, directory={**cfg["directory"], "people": people}, **overrides)


@pytest.fixture
async def clocked(tmp_path: Path) -> AsyncIterator[tuple[RunningHub, ManualClock]]:
    clock = ManualClock()
    settings = leaders_settings(tmp_path, instructions={"escalate_after_s": 60, "progress_interval_ms": 50})
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


async def send_id(rh: RunningHub, **body: Any) -> int:
    return int((await send(rh, **body))["instruction"]["id"])


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
    w1, w2, lead1, lead2 = [await worker_ws(rh, u) for u in ("worker1", "worker2", "lead1", "lead2")]
    feed = await ws_connect(rh, "coordinator", "type=instruction.")
    try:
        for ws in (w1, w2, lead1, lead2):
            await next_msg(ws, lambda m: m["type"] == "live")
        await recv_until(feed, lambda m: m.get("control") == "live")
        out = await send(rh, text="Report your position", targets={"people": ["worker1", "worker2"]}, deadline_s=120)
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
        notice = await next_msg(lead2, lambda m: m["type"] == "notice")  # lead2 leads worker2's grid
        assert notice["persons"] == ["worker2"] and notice["id"] == iid
        esc = await recv_until(feed, lambda m: m.get("type") == "instruction.escalated")
        assert esc[-1]["data"]["notices"] == [{"leader": "lead2", "persons": ["worker2"]}]
        # The notice is for the leader only: not for the person it is about, nor for the leader of
        # a grid whose worker confirmed.
        for ws in (w2, lead1, w1):
            with pytest.raises(TimeoutError):
                await next_msg(ws, lambda m: m["type"] == "notice", within_s=0.5)
        # A leader's inbox snapshot (a reload, a new device) has the notice too, as the channel sent it.
        for user, want in (("lead2", [notice]), ("lead1", []), ("worker2", [])):
            async with await rh.client(user) as c:
                assert (await c.get("/api/worker/instructions")).json()["notices"] == want, user
    finally:
        for ws in (w1, w2, lead1, lead2, feed):
            await ws.close()


async def test_escalation_tells_every_leader_in_one_event(tmp_path: Path) -> None:
    settings = leaders_settings(tmp_path, instructions={"escalate_after_s": 60, "progress_interval_ms": 50})
    clock = ManualClock()
    async with serve(settings, clock) as rh:
        iid = await send_id(rh, text="Sandbags", targets={"people": ["worker1", "worker2"]}, deadline_s=60)
        async with await rh.client("coordinator") as c:
            for step in ("instruction.renotified", "instruction.escalated"):
                clock.advance(61)
                await wait_for_event(c, step)
    # A restart (a crash right after the escalation looks the same) neither loses a leader's
    # notice nor repeats one: both are in the one event, which is in the log or not at all.
    async with serve(settings, ManualClock(clock.now() + 600)) as rh:
        async with await rh.client("coordinator") as c:
            await asyncio.sleep(0.5)  # a follow-up pass has run on the restarted hub
            events = await wait_for_event(c, "instruction.escalated")
        assert len(events) == 1
        assert events[0]["data"]["notices"] == [
            {"leader": "lead1", "persons": ["worker1"]},
            {"leader": "lead2", "persons": ["worker2"]},
        ]
        for leader, person in (("lead1", "worker1"), ("lead2", "worker2")):
            ws = await worker_ws(rh, leader, since=0)
            try:
                msgs = []
                while (m := await next_msg(ws, lambda m: True))["type"] != "live":
                    msgs.append(m)
            finally:
                await ws.close()
            assert [(m["type"], m["id"], m["persons"]) for m in msgs] == [("notice", iid, [person])]


async def wait_for_event(c: httpx.AsyncClient, type: str, within_s: float = 15) -> list[dict[str, Any]]:
    """Every event of ``type`` in the log, once there is at least one."""
    async with asyncio.timeout(within_s):
        while True:
            events = (await c.get("/api/events", params={"since": 0, "type": type})).json()["events"]
            if events:
                return events  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


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


async def test_inbox_snapshot_carries_each_instruction_with_my_receipt(running: RunningHub) -> None:
    done = await send_id(running, text="Count the sandbags", targets={"people": ["worker1"]})
    pending = await send_id(running, text="Evacuate", priority="emergency", targets={"people": ["worker1"]})
    dropped = await send_id(running, text="Stand by", targets={"people": ["worker1", "worker2"]})
    await send(running, text="not for worker1", targets={"people": ["worker2"]})
    async with await running.client("worker1") as w1, await running.client("coordinator") as c:
        await w1.post(f"/api/instructions/{done}/ack")
        await c.post(f"/api/instructions/{dropped}/cancel")
        inbox = (await w1.get("/api/worker/instructions")).json()
        assert (await c.get("/api/worker/instructions")).json()["instructions"] == []
    got = {i["instruction"]["id"]: (i["state"], i["instruction"]["cancelled"]) for i in inbox["instructions"]}
    assert got == {done: ("acknowledged", False), pending: ("queued", False), dropped: ("queued", True)}
    # Following from the snapshot's cursor replays nothing it already carried; what comes next
    # arrives, and a receipt the hub refuses says which one and why.
    ws = await worker_ws(running, "worker1", since=inbox["cursor"])
    try:
        assert (await next_msg(ws, lambda m: True))["type"] == "live"
        new = await send_id(running, text="Next", targets={"people": ["worker1"]})
        assert (await next_msg(ws, lambda m: True))["id"] == new
        await ws.send(json.dumps({"type": "ack", "id": dropped}))
        err = await next_msg(ws, lambda m: m["type"] == "error")
        assert (err["id"], err["request"], err["status"]) == (dropped, "ack", 409)
    finally:
        await ws.close()


async def test_bad_messages_get_an_error_and_the_channel_stays_open(running: RunningHub) -> None:
    ws = await worker_ws(running, "worker1")
    try:
        await next_msg(ws, lambda m: m["type"] == "live")
        iid = await send_id(running, text="Hold", targets={"people": ["worker1"]}, reply_options=["ok"])
        await next_msg(ws, lambda m: m["type"] == "instruction")
        bad: list[str | bytes] = [
            json.dumps({"type": "reply", "id": iid, "reply": 5}),
            json.dumps({"type": "reply", "reply": 5}),
            b"\x00\x01 a binary frame",
            "not json",
            "[1, 2]",
            json.dumps({"type": ["ack"], "id": iid}),
            json.dumps({"type": "ack", "id": 10**30}),
            json.dumps({"type": "ack", "id": True}),
            json.dumps({"type": "reply", "id": iid, "reply": "  "}),
        ]
        for frame in bad:
            await ws.send(frame)
            err = await next_msg(ws, lambda m: m["type"] != "renotify")
            assert (err["type"], err["status"]) == ("error", 422), (frame, err)
        # Still open, both ways: a good receipt is taken and the next instruction arrives.
        await ws.send(json.dumps({"type": "reply", "id": iid, "reply": "ok"}))
        assert (await next_msg(ws, lambda m: True)) == {"type": "receipt", "id": iid, "state": "replied"}
        nxt = await send_id(running, text="Next", targets={"people": ["worker1"]})
        assert (await next_msg(ws, lambda m: m["type"] == "instruction"))["id"] == nxt
    finally:
        await ws.close()


async def test_a_cold_node_looks_up_recipients_once_for_all_its_connections(running: RunningHub) -> None:
    iid = await send_id(running, text="x", targets={"people": ["worker1", "worker2"]})
    hub = running.hub
    cold = InstructionDesk(hub.log, hub.directory, hub.settings)  # as on a node that did not send it
    lookups: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT instruction_recipients.person"):  # not the hub's follow-up scans
            lookups.append(statement)

    sa.event.listen(hub.log.read_engine, "before_cursor_execute", count)
    try:
        callers = [asyncio.create_task(cold.members(iid)) for _ in range(50)]
        await asyncio.sleep(0)
        callers[0].cancel()  # one connection closing does not fail the others' lookup
        results = await asyncio.gather(*callers[1:])
        assert await cold.members(iid) == {"worker1", "worker2"}  # cached now
    finally:
        sa.event.remove(hub.log.read_engine, "before_cursor_execute", count)
    assert all(r == {"worker1", "worker2"} for r in results)
    assert len(lookups) == 1, lookups


async def test_oversized_attachments_are_refused_before_they_are_read(tmp_path: Path) -> None:
    limit = 64 * 1024
    async with serve(make_settings(tmp_path, instructions={"attachment_max_bytes": limit})) as rh:
        token = await rh.token("coordinator")
        # Declared too large: refused at once, without waiting for (or reading) the body.
        status, sent, body = await raw_upload(rh, "/api/attachments", token, declared=10 * 1024**3)
        assert status == 413 and b"bytes allowed" in body and sent < 1024 * 1024, sent
        # Streamed without a length: refused once it has grown past what one attachment could be.
        status, sent, _ = await raw_upload(rh, "/api/attachments", token, declared=None)
        assert status == 413 and sent < 4 * 1024 * 1024, sent
        async with await rh.client("coordinator") as c:
            r = await c.post("/api/attachments", files={"file": ("a.jpg", b"\xff\xd8\xff" + b"0" * (limit - 3))})
            assert r.status_code == 201, r.text
            r = await c.post("/api/attachments", files={"file": ("b.jpg", b"\xff\xd8\xff" + b"0" * limit)})
            assert r.status_code == 413, r.text
