"""The incident desk over HTTP, as the console, a worker's phone and a resident's browser use it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from alerts.clock import ManualClock
from tests.hub.conftest import BASE_CONFIG, PASSWORD, TEST_HASHER, RunningHub, make_settings, serve
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
        pending = {d["kind"] for d in body["deadlines"] if d["fired_at"] is None and d["cancelled_at"] is None}
        assert pending == {"ack", "resolve"}
        # The deadline to dispatch it ran from its creation and stopped when it was assigned.
        (dispatch,) = [d for d in body["deadlines"] if d["kind"] == "assign"]
        assert dispatch["cancelled_at"] is not None and dispatch["fired_at"] is None
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
        await c.post("/api/incidents", json={"category": "lamp", "title": "dark corner", "node": "g1"})
        assert titles(await c.get("/api/incidents", params={"category": "lamp"})) == ["dark corner"]
        assert titles(await c.get("/api/incidents", params={"source": "resident"})) == []
        assert len((await c.get("/api/incidents", params={"source": ["manual", "camera"]})).json()) == 4
        assert (await c.get("/api/incidents", params={"source": "pigeon"})).status_code == 422
        # The desk's state tabs: every state named, under the same filters as the list.
        counts = (await c.get("/api/incidents/counts")).json()
        assert counts["new"] == 4 and counts["closed"] == 0 and set(counts) >= {"reopened", "merged"}
        (fire,) = (await c.get("/api/incidents", params={"q": "fire at"})).json()
        await c.post(f"/api/incidents/{fire['id']}/transitions", json={"to": "verified", "version": 1})
        counts = (await c.get("/api/incidents/counts", params={"node": "c1"})).json()
        assert (counts["new"], counts["verified"]) == (2, 1)
        assert (await c.get("/api/incidents/counts", params={"node": "nowhere"})).status_code == 422
    async with await running.client("worker2") as w2:
        counts = (await w2.get("/api/incidents/counts")).json()
        assert sum(counts.values()) == 1 and counts["new"] == 1  # only grid 2's fire drill


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
        # Served as what it is, never sniffed, and inert when opened on its own.
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("inline; filename=")
        assert "sandbox" in got.headers["content-security-policy"]
        # A "JPEG" that carries a page is kept as the image it claims to be, and served so.
        polyglot = b"\xff\xd8\xff\xe0<html><script>alert(document.cookie)</script></html>"
        r = await w.post(f"/api/incidents/{inc['id']}/evidence", files=[("photos", ("x.html", polyglot, "text/html"))])
        assert r.status_code == 201, r.text
        got = await w.get(f"/api/incidents/{inc['id']}/evidence/{r.json()[0]['evidence']}")
        assert got.headers["content-type"] == "image/jpeg" and got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"].startswith("default-src 'none'")
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


def noisy_jpeg(side: int) -> bytes:
    """A photo that does not compress: about ``side * side`` bytes."""
    rng = np.random.default_rng(7)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 256, (side, side, 3), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    return buf.tobytes()


async def test_photos_from_the_public_have_a_budget_and_leave_the_disk_to_evidence(tmp_path: Path) -> None:
    photo = noisy_jpeg(240)
    assert 20_000 < len(photo) < 60_000
    room = len(photo) * 3 // 2  # one photo, not two
    budget = {"photo_max_bytes": room, "public_photo_bytes_per_day": room}
    async with serve(make_settings(tmp_path, incidents=budget)) as rh, httpx.AsyncClient(base_url=rh.url) as anon:

        def report(text: str, with_photo: bool = True) -> Any:
            files = {"photo": ("p.jpg", io.BytesIO(photo), "image/jpeg")} if with_photo else None
            return anon.post("/api/public/reports", data={"text": text}, files=files)

        assert (await report("bench broken in the park")).status_code == 201
        # The day's budget for anonymous photos is spent: refused, with when to try again.
        r = await report("graffiti on the wall")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 60
        assert "without it" in r.json()["detail"]
        # The same report without the photo is taken.
        assert (await report("graffiti on the wall", with_photo=False)).status_code == 201
        async with await rh.client("dispatcher") as c:
            found = (await c.get("/api/incidents", params={"q": "graffiti"})).json()
            assert len(found) == 1  # the refused one opened nothing
            assert (await c.get(f"/api/incidents/{found[0]['id']}")).json()["evidence"] == []
    # A disk short of room keeps it for alert evidence: anonymous photos are refused, nothing is written.
    low = {"public_min_free_bytes": 2**62}
    async with serve(make_settings(tmp_path / "low", incidents=low)) as rh, httpx.AsyncClient(base_url=rh.url) as anon:
        files = {"photo": ("p.jpg", io.BytesIO(photo), "image/jpeg")}
        r = await anon.post("/api/public/reports", data={"text": "pothole"}, files=files)
        assert r.status_code == 507 and "disk space" in r.json()["detail"]
        async with await rh.client("dispatcher") as c:
            assert (await c.get("/api/incidents", params={"q": "pothole"})).json() == []
        assert not list((tmp_path / "low" / "data").glob("evidence/**/*.jpg"))


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


async def events_of(c: httpx.AsyncClient, subject: str) -> list[dict[str, Any]]:
    """Every event of ``subject`` the client may read from ``GET /api/events``."""
    out: list[dict[str, Any]] = []
    since = 0
    while True:
        page = (await c.get("/api/events", params={"since": since, "limit": 1000})).json()
        out += [e for e in page["events"] if e["subject"] == subject]
        if not page["events"]:
            return out
        since = page["last_id"]


async def test_assignee_from_another_grid_follows_the_incident_live(running: RunningHub) -> None:
    # The incident is in g3; worker2 (g2, a neighbouring grid's worker, say) is sent to it.
    ws = await ws_connect(running, "worker2")
    try:
        await recv_until(ws, lambda m: m.get("control") == "live")
        async with await running.client("dispatcher") as c:
            inc = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g3"})).json()
            iid, subject = inc["incident"]["id"], f"incident:{inc['incident']['id']}"
            # Text that merely looks like worker2's audience token reaches nobody outside g3.
            r = await c.post("/api/journal", json={"text": "person:worker2", "grid": "g3", "subject": "s"})
            assert r.status_code == 201
            url = f"/api/incidents/{iid}/transitions"
            r = await c.post(url, json={"to": "assigned", "version": 1, "assignee": {"person": "worker2"}})
            assert r.status_code == 200
        got = await recv_until(ws, lambda m: m.get("type") == "incident.assigned")
        assert [m["type"] for m in got if "id" in m] == ["incident.assigned"]
        assert got[-1]["subject"] == subject and got[-1]["grid"] == "g3"
        async with await running.client("worker2") as w2:
            assert (await w2.post(url, json={"to": "acknowledged", "version": 2})).status_code == 200
            got = await recv_until(ws, lambda m: m.get("type") == "incident.acknowledged")
            assert [m["type"] for m in got] == ["incident.acknowledged"]
            assert [e["type"] for e in await events_of(w2, subject)] == ["incident.assigned", "incident.acknowledged"]
            page = (await w2.get("/api/events", params={"since": 0})).json()["events"]
            assert [e["type"] for e in page if not e["subject"].startswith("incident:")] == []
    finally:
        await ws.close()
    async with await running.client("worker1") as w1:  # neither their grid nor theirs
        assert await events_of(w1, subject) == []


async def test_leader_made_responsible_sees_the_incident_its_evidence_and_events(tmp_path: Path) -> None:
    hashed = TEST_HASHER.hash(PASSWORD)
    users = [
        {**u, "password_hash": hashed} for u in [*BASE_CONFIG["users"], {"username": "comm-lead", "roles": ["worker"]}]
    ]
    clock = ManualClock()
    async with serve(make_settings(tmp_path, users=users), clock) as rh:
        async with await rh.client("dispatcher") as c, await rh.client("comm-lead") as lead:
            r = await c.post("/api/incidents", json={"category": "c", "severity": "P1", "title": "t", "node": "g1"})
            iid = r.json()["incident"]["id"]
            files = [("photos", ("a.jpg", jpeg(), "image/jpeg"))]
            eid = (await c.post(f"/api/incidents/{iid}/evidence", files=files)).json()[0]["evidence"]
            r = await c.post(
                f"/api/incidents/{iid}/transitions",
                json={"to": "assigned", "version": 1, "assignee": {"person": "worker1"}},
            )
            assert r.status_code == 200
            assert (await lead.get(f"/api/incidents/{iid}")).status_code == 404
            ws = await ws_connect(rh, "comm-lead")
            try:
                await recv_until(ws, lambda m: m.get("control") == "live")
                clock.advance(rh.hub.settings.incidents.deadlines["P1"].ack_s + 1)  # worker1 does not acknowledge
                got = await recv_until(ws, lambda m: m.get("type") == "incident.escalated")
                assert got[-1]["data"]["to"] == "c1" and got[-1]["data"]["notify"] == ["comm-lead"]
            finally:
                await ws.close()
            r = await lead.get(f"/api/incidents/{iid}")
            assert r.status_code == 200 and r.json()["incident"]["responsible"] == "c1"
            assert [i["id"] for i in (await lead.get("/api/incidents")).json()] == [iid]
            got_file = await lead.get(f"/api/incidents/{iid}/evidence/{eid}")
            assert got_file.status_code == 200 and got_file.content == jpeg()
            assert "incident.escalated" in [e["type"] for e in await events_of(lead, f"incident:{iid}")]


async def test_clip_not_written_yet_is_a_404_that_says_so(tmp_path: Path) -> None:
    clock = ManualClock()
    async with serve(make_settings(tmp_path), clock) as rh:
        desk, data_dir = rh.hub.desk, Path(rh.hub.settings.data_dir)
        async with await rh.client("dispatcher") as c:
            iid = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()[
                "incident"
            ]["id"]
            # As the camera does: the clip is linked when the alert starts, written after its post-roll.
            ev = await desk.add_evidence(iid, "clip", "camera", path="alerts/cam/a1.mp4", content_type="video/mp4")
            url = f"/api/incidents/{iid}/evidence/{ev.data['evidence']}"
            r = await c.get(url)
            assert r.status_code == 404 and "not written yet" in r.json()["detail"]
            assert int(r.headers["retry-after"]) >= 1
            (data_dir / "alerts" / "cam").mkdir(parents=True)
            (data_dir / "alerts" / "cam" / "a1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
            r = await c.get(url)
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
            # A clip that never came, once its time is long past, and a photo whose file went away.
            ev = await desk.add_evidence(iid, "clip", "camera", path="alerts/cam/a2.mp4", content_type="video/mp4")
            clock.advance(3600)
            r = await c.get(f"/api/incidents/{iid}/evidence/{ev.data['evidence']}")
            assert r.status_code == 404 and "missing" in r.json()["detail"]
            ev = await desk.add_evidence(iid, "photo", "worker1", path="evidence/gone.jpg", content_type="image/jpeg")
            r = await c.get(f"/api/incidents/{iid}/evidence/{ev.data['evidence']}")
            assert r.status_code == 404 and "missing" in r.json()["detail"]


async def test_evidence_of_an_incident_is_paged(running: RunningHub) -> None:
    desk = running.hub.desk
    async with await running.client("dispatcher") as c:
        iid = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()["incident"][
            "id"
        ]
        # An alert storm folded into one incident links a snapshot and a clip per alert.
        added = [
            (await desk.add_evidence(iid, "snapshot", "camera", path=f"alerts/cam/{i}.jpg")).data["evidence"]
            for i in range(120)
        ]
        body = (await c.get(f"/api/incidents/{iid}")).json()
        assert [e["id"] for e in body["evidence"]] == added[-50:]  # the newest, oldest first
        seen: list[int] = []
        params: dict[str, int] = {"evidence_limit": 30}
        while True:
            page = (await c.get(f"/api/incidents/{iid}", params=params)).json()["evidence"]
            if not page:
                break
            seen = [e["id"] for e in page] + seen
            params["evidence_before"] = page[0]["id"]
        assert seen == added
        assert (await c.get(f"/api/incidents/{iid}", params={"evidence_limit": 501})).status_code == 422


async def test_history_of_an_incident_is_paged(running: RunningHub) -> None:
    desk = running.hub.desk
    async with await running.client("dispatcher") as c:
        iid = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()["incident"][
            "id"
        ]
        other = (await c.post("/api/incidents", json={"category": "c", "title": "u", "node": "g1"})).json()["incident"]
        for i in range(260):  # each linked item is an event of its incident; the other's go between
            await desk.add_evidence(iid if i % 3 else other["id"], "snapshot", "camera", path=f"alerts/cam/{i}.jpg")
        everything = [e.id for e in await desk.history(iid)]
        assert len(everything) == 1 + 173
        body = (await c.get(f"/api/incidents/{iid}")).json()
        assert [e["id"] for e in body["history"]] == everything[-200:]  # the newest, oldest first
        assert all(e["subject"] == f"incident:{iid}" for e in body["history"])
        seen: list[int] = []
        params: dict[str, int] = {"history_limit": 70}
        while True:
            page = (await c.get(f"/api/incidents/{iid}", params=params)).json()["history"]
            seen = [e["id"] for e in page] + seen
            if len(page) < 70:
                break
            params["history_before"] = page[0]["id"]
        assert seen == everything and seen[0] == everything[0]  # back to incident.created
        for bad in ({"history_limit": 1001}, {"history_limit": 0}, {"history_before": 0}):
            assert (await c.get(f"/api/incidents/{iid}", params=bad)).status_code == 422


async def test_numbers_no_table_can_hold_are_refused_not_crashed_on(running: RunningHub) -> None:
    # SQLite's driver cannot even bind such a number; it must be a 422, never a 500.
    huge = 10**20
    async with await running.client("dispatcher") as c:
        iid = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()["incident"][
            "id"
        ]
        for method, url, kw in [
            ("GET", f"/api/incidents/{huge}", {}),
            ("GET", f"/api/incidents/{huge}/suggestions", {}),
            ("GET", f"/api/incidents/{iid}/evidence/{huge}", {}),
            ("GET", "/api/incidents", {"params": {"offset": huge}}),
            ("GET", f"/api/incidents/{iid}", {"params": {"history_before": huge}}),
            ("GET", f"/api/incidents/{iid}", {"params": {"evidence_before": huge}}),
            ("POST", f"/api/incidents/{huge}/transitions", {"json": {"to": "verified", "version": 1}}),
            ("POST", f"/api/incidents/{iid}/transitions", {"json": {"to": "verified", "version": huge}}),
            ("POST", f"/api/incidents/{iid}/transitions", {"json": {"to": "merged", "version": 1, "merge_into": huge}}),
            ("GET", f"/api/instructions/{huge}", {}),
            ("GET", "/api/instructions", {"params": {"limit": huge}}),
        ]:
            r = await c.request(method, url, **kw)
            assert r.status_code == 422, (method, url, kw, r.status_code, r.text)
        # And the incident is untouched.
        assert (await c.get(f"/api/incidents/{iid}")).json()["incident"]["version"] == 1


async def test_text_with_a_nul_character_is_refused_before_it_reaches_a_table(running: RunningHub) -> None:
    # PostgreSQL cannot store NUL in a text column: it must be a 422 naming the field on every store.
    async with httpx.AsyncClient(base_url=running.url) as anon:
        r = await anon.post("/api/public/reports", data={"text": "pothole\x00here", "location": "Pier Rd"})
        assert r.status_code == 422 and "text" in r.text and "NUL" in r.text
    async with await running.client("dispatcher") as c:
        r = await c.post("/api/incidents", json={"category": "c", "title": "t\x00", "node": "g1"})
        assert r.status_code == 422 and "title" in r.text
        iid = (await c.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()["incident"][
            "id"
        ]
        r = await c.post(f"/api/incidents/{iid}/transitions", json={"to": "verified", "version": 1, "note": "a\x00"})
        assert r.status_code == 422 and "note" in r.text
        assert (await c.get(f"/api/incidents/{iid}")).json()["incident"]["version"] == 1
    async with await running.client("coordinator") as c:
        ok = {"text": "go", "priority": "urgent", "targets": {"people": ["worker1"]}}
        assert (await c.post("/api/instructions", json=ok)).status_code == 201
        r = await c.post("/api/instructions", json={**ok, "text": "go\x00"})
        assert r.status_code == 422 and "NUL" in r.text, r.text
