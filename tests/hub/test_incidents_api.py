"""The incident desk over HTTP, as the console, a worker's phone and a resident's browser use it."""

from __future__ import annotations

import io

import cv2
import numpy as np

from tests.hub.conftest import RunningHub
from tests.hub.test_feed import recv_until, ws_connect


def jpeg(size: int = 64) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((size, size, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


async def test_open_move_and_refusals(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        r = await c.post(
            "/api/incidents", json={"category": "flood", "severity": "P2", "title": "water on road", "node": "g1"}
        )
        assert r.status_code == 201, r.text
        inc = r.json()["incident"]
        assert r.json()["allowed"] == ["assigned", "dismissed", "merged", "verified"]
        url = f"/api/incidents/{inc['id']}/transitions"
        r = await c.post(url, json={"to": "closed", "version": 1})
        assert r.status_code == 409 and r.json()["allowed"] == ["assigned", "dismissed", "merged", "verified"]
        r = await c.post(url, json={"to": "assigned", "version": 1, "assignee": {"grid": "g1"}})
        assert r.status_code == 200 and r.json()["incident"]["version"] == 2
        r = await c.post(url, json={"to": "dismissed", "version": 1})
        assert r.status_code == 409 and r.json()["current_version"] == 2
        r = await c.post(url, json={"to": "teleported", "version": 2})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "to"]
        assert (
            await c.post("/api/incidents/99999/transitions", json={"to": "verified", "version": 1})
        ).status_code == 404
        r = await c.get(f"/api/incidents/{inc['id']}")
        body = r.json()
        assert [h["type"] for h in body["history"]] == ["incident.created", "incident.assigned"]
        assert {d["kind"] for d in body["deadlines"]} == {"ack", "resolve"}
    async with await running.client("worker1") as w:
        r = await w.post(url, json={"to": "acknowledged", "version": 2})
        assert r.status_code == 200
        r = await w.post(url, json={"to": "resolved", "version": 3})
        assert r.status_code == 422 and r.json()["field"] == "note"
        r = await w.post(url, json={"to": "resolved", "version": 3, "note": "pumped out"})
        assert r.json()["incident"]["state"] == "resolved"
    async with await running.client("worker2") as w2:
        assert (await w2.get(f"/api/incidents/{inc['id']}")).status_code == 404
        assert (await w2.get("/api/incidents")).json() == []


async def test_list_filters(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        for title, sev, node in (
            ("fire at school", "P1", "g1"),
            ("broken lamp", "P4", "g3"),
            ("fire drill", "P3", "g2"),
        ):
            await c.post("/api/incidents", json={"category": "x", "severity": sev, "title": title, "node": node})
        titles = lambda r: sorted(i["title"] for i in r.json())  # noqa: E731
        assert titles(await c.get("/api/incidents", params={"q": "fire"})) == ["fire at school", "fire drill"]
        assert titles(await c.get("/api/incidents", params={"node": "c1"})) == ["fire at school", "fire drill"]
        assert titles(await c.get("/api/incidents", params={"severity": ["P1", "P4"]})) == [
            "broken lamp",
            "fire at school",
        ]
        assert titles(await c.get("/api/incidents", params={"state": "closed"})) == []
        assert (await c.get("/api/incidents", params={"node": "nowhere"})).status_code == 422


async def test_worker_report_with_photos_and_evidence_access(running: RunningHub) -> None:
    async with await running.client("worker1") as w:
        files = [("photos", ("a.jpg", jpeg(), "image/jpeg")), ("photos", ("b.jpg", jpeg(80), "image/jpeg"))]
        r = await w.post(
            "/api/reports", data={"text": "fallen tree blocks lane\nnear the gate", "category": "road"}, files=files
        )
        assert r.status_code == 201, r.text
        inc = r.json()["incident"]
        assert (inc["state"], inc["grid"], inc["source"], inc["title"]) == (
            "verified",
            "g1",
            "worker",
            "fallen tree blocks lane",
        )
        detail = (await w.get(f"/api/incidents/{inc['id']}")).json()
        ev = detail["evidence"]
        assert [e["content_type"] for e in ev] == ["image/jpeg", "image/jpeg"]
        got = await w.get(f"/api/incidents/{inc['id']}/evidence/{ev[0]['id']}")
        assert got.status_code == 200 and got.content == jpeg()
        r = await w.post(
            "/api/reports",
            data={"text": "x", "category": "road"},
            files=[("photos", ("t.txt", b"hello, not an image", "image/jpeg"))],
        )
        assert r.status_code == 415
        big = b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024)
        r = await w.post("/api/reports", data={"text": "x", "category": "road"}, files=[("photos", ("big.jpg", big))])
        assert r.status_code == 413
        six = [("photos", (f"{i}.jpg", jpeg(), "image/jpeg")) for i in range(6)]
        assert (await w.post("/api/reports", data={"text": "x", "category": "road"}, files=six)).status_code == 422
        # Refused reports opened nothing.
        assert len((await w.get("/api/incidents")).json()) == 1
    async with await running.client("worker2") as w2:
        assert (await w2.get(f"/api/incidents/{inc['id']}/evidence/{ev[0]['id']}")).status_code == 404
    async with await running.client("viewer") as v:
        assert (await v.get(f"/api/incidents/{inc['id']}/evidence/{ev[0]['id']}")).status_code == 200


async def test_public_report_receipt_and_limits(running: RunningHub) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=running.url) as anon:
        r = await anon.post(
            "/api/public/reports",
            data={"text": "streetlight out on Pier Road", "location": "Pier Rd"},
            files={"photo": ("p.jpg", io.BytesIO(jpeg()), "image/jpeg")},
        )
        assert r.status_code == 201, r.text
        receipt = r.json()["receipt"]
        assert receipt.startswith("R-") and r.json()["status"] == "received"
        st = await anon.get(f"/api/public/reports/{receipt}")
        assert st.json()["status"] == "received"
        assert (await anon.get("/api/public/reports/R-NOPE0-NOPE0")).status_code == 404
        r = await anon.post("/api/public/reports", data={"text": "x" * 2001})
        assert r.status_code == 413
        codes = [(await anon.post("/api/public/reports", data={"text": f"report {i}"})).status_code for i in range(5)]
        assert codes.count(201) == 3 and codes[-1] == 429  # 5 per minute, two already used
        r = await anon.post("/api/public/reports", data={"text": "again"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    async with await running.client("dispatcher") as c:
        found = (await c.get("/api/incidents", params={"q": "streetlight"})).json()
        assert len(found) == 1 and found[0]["source"] == "resident" and found[0]["state"] == "new"


async def test_incident_events_reach_the_feed(running: RunningHub) -> None:
    ws = await ws_connect(running, "dispatcher", "type=incident.")
    try:
        await recv_until(ws, lambda m: m.get("control") == "live")
        async with await running.client("dispatcher") as c:
            r = await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g3"})
            iid = r.json()["incident"]["id"]
        got = await recv_until(ws, lambda m: m.get("type") == "incident.created")
        assert got[-1]["subject"] == f"incident:{iid}" and got[-1]["grid"] == "g3"
    finally:
        await ws.close()
