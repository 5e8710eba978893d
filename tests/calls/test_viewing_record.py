"""The viewing record: who watched which camera, when, from where, for how long; and it survives a SIGKILL."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.calls.conftest import CAMERAS, api, calls_settings, poll
from tests.hub.conftest import PASSWORD, TEST_HASHER, serve
from tests.hub.test_crash import HubProcess
from tests.hub.test_incidents_api import jpeg


async def records(c: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await c.get("/api/audit", params=params)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = r.json()["records"]
    return body


async def test_live_views_snapshot_runs_and_evidence_downloads_are_recorded(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        rh.hub.viewing.idle_s = 0.5  # a run of snapshots ends half a second after the last
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        t0 = time.time()
        async with await api(rh, "dispatcher") as d, await api(rh, "admin") as admin, await api(rh, "viewer") as v:
            viewer = peers([("video", "recvonly", None)])
            r = await viewer.connect(d, "/whep/cam-street")
            assert r.status_code == 201, r.text
            await poll(lambda: viewer.frames.get(0, 0) >= 10, 30, "frames")
            # Started at the offer: on the record while it is going on.
            (live,) = [x for x in await records(admin, camera="cam-street") if x["kind"] == "live"]
            assert (live["user"], live["address"], live["ended_at"]) == ("dispatcher", "127.0.0.1", None)
            await asyncio.sleep(1.0)
            assert (await d.delete(r.headers["location"])).status_code == 204
            # Three snapshots in a row are one run of viewing, not three records.
            for _ in range(3):
                assert (await v.get("/api/cameras/cam-street/snapshot.jpg")).status_code == 200
            inc = (await d.post("/api/incidents", json={"category": "c", "title": "t", "node": "g1"})).json()
            iid = inc["incident"]["id"]
            photo = {"photos": ("a.jpg", io.BytesIO(jpeg()), "image/jpeg")}
            eid = (await d.post(f"/api/incidents/{iid}/evidence", files=photo)).json()[0]["evidence"]
            assert (await v.get(f"/api/incidents/{iid}/evidence/{eid}")).status_code == 200

            async def ended() -> bool:
                got = await records(admin, camera="cam-street")
                return len(got) == 2 and all(x["ended_at"] is not None for x in got)

            await poll(ended, 10, "both views ended on the record")
            live, snaps = await records(admin, camera="cam-street")
            assert live["kind"] == "live" and live["user"] == "dispatcher" and live["end_reason"]
            assert 1.0 <= live["duration_s"] < 60 and t0 <= live["started_at"] <= live["ended_at"]
            assert (snaps["kind"], snaps["user"], snaps["requests"]) == ("snapshot", "viewer", 3)
            # Filters: by login, by time; downloads name the incident and the file.
            assert [x["kind"] for x in await records(admin, user="viewer")] == ["snapshot", "photo"]
            (download,) = [x for x in await records(admin, user="viewer") if x["what"] == "download"]
            assert (download["incident"], download["evidence"], download["address"]) == (iid, eid, "127.0.0.1")
            assert await records(admin, since=time.time() + 60) == []
            # Only administrators read it; workers never see it in the log either.
            assert (await d.get("/api/audit")).status_code == 403
        async with await api(rh, "worker1") as w:
            page = (await w.get("/api/events", params={"type": "view."})).json()
            assert page["events"] == []


async def test_the_record_of_a_view_survives_a_sigkill(tmp_path: Path) -> None:
    cfg = {
        "users": [
            {"username": u, "roles": [r], "password_hash": TEST_HASHER.hash(PASSWORD)}
            for u, r in (("admin", "admin"), ("viewer", "viewer"))
        ],
        "cameras": [{k: v for k, v in cam.items() if k != "grid"} for cam in CAMERAS],
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hp = HubProcess(path, tmp_path / "data")
    hp.start()
    try:
        await hp.wait_ready()
        async with httpx.AsyncClient(base_url=hp.url, timeout=30) as c:
            token = (await c.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}

            async def snapshot() -> bool:
                r = await c.get("/api/cameras/cam-street/snapshot.jpg", headers=headers)
                return r.status_code == 200

            await poll(snapshot, 60, "a snapshot")
        # Answered, so on the record: the kill cannot take it away.
        hp.kill()
        hp.start()
        await hp.wait_ready()
        async with httpx.AsyncClient(base_url=hp.url, timeout=30) as c:
            token = (await c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})).json()
            c.headers["Authorization"] = f"Bearer {token['access_token']}"
            (view,) = await records(c, camera="cam-street")
            # Cut off by the kill: it shows as started and never ended.
            assert (view["user"], view["kind"], view["ended_at"]) == ("viewer", "snapshot", None)
    finally:
        hp.kill()
