"""The caller's own preferences and position, and the district map built from them and the config."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hub.people.prefs import KEYS_MAX, VALUE_MAX_BYTES
from tests.hub.conftest import BASE_CONFIG, RunningHub, make_settings, serve

LAYOUTS = {"current": "night", "saved": {"night": {"size": 9, "cameras": ["cam-a", None, "cam-b"]}}}


async def test_prefs_follow_the_user_to_any_session_and_stay_their_own(running: RunningHub) -> None:
    async with await running.client("dispatcher") as first:
        assert (await first.get("/api/me/prefs")).json() == {}
        assert (await first.put("/api/me/prefs/wall.layouts", json=LAYOUTS)).status_code == 204
        assert (await first.put("/api/me/prefs/lang", json="zh")).status_code == 204
        assert (await first.put("/api/me/prefs/lang", json="en")).status_code == 204
    # Another login (another machine) gets the same wall; another user does not.
    async with await running.client("dispatcher") as again:
        assert (await again.get("/api/me/prefs")).json() == {"wall.layouts": LAYOUTS, "lang": "en"}
    async with await running.client("worker1") as other:
        assert (await other.get("/api/me/prefs")).json() == {}
    async with await running.client("admin") as admin:
        saved = (await admin.get("/api/events", params={"type": "user.prefs_saved"})).json()["events"]
    assert [(e["actor"], e["data"]["key"]) for e in saved] == [
        ("dispatcher", "wall.layouts"),
        ("dispatcher", "lang"),
        ("dispatcher", "lang"),
    ]
    assert all("saved" not in str(e["data"]) for e in saved)  # the value itself is not in the log


async def test_bad_prefs_are_refused_with_the_reason_and_lose_nothing(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        await c.put("/api/me/prefs/lang", json="zh")
        r = await c.put("/api/me/prefs/Bad Key", json=1)
        assert r.status_code == 422
        r = await c.put("/api/me/prefs/big", json="x" * VALUE_MAX_BYTES)
        assert r.status_code == 413 and "KiB" in r.json()["detail"]
        # Stored as JSON text, where NUL is escaped: it comes back as it went in (PostgreSQL too).
        assert (await c.put("/api/me/prefs/nul", json="a\u0000b")).status_code == 204
        for bad in (b"1e400", b'"\\ud800"', b"[1, -1e400]", b"not json", b"\xff\xfe"):
            r = await c.put("/api/me/prefs/bad", content=bad, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (bad, r.status_code)
        for i in range(KEYS_MAX - 2):
            assert (await c.put(f"/api/me/prefs/k{i}", json=i)).status_code == 204
        r = await c.put("/api/me/prefs/one-too-many", json=1)
        assert r.status_code == 409 and str(KEYS_MAX) in r.json()["detail"]
        assert (await c.put("/api/me/prefs/lang", json="en")).status_code == 204  # replacing still works
        prefs = (await c.get("/api/me/prefs")).json()
    assert prefs["lang"] == "en" and prefs["nul"] == "a\u0000b"
    assert len(prefs) == KEYS_MAX and "one-too-many" not in prefs


def _map_config() -> dict[str, Any]:
    directory = copy.deepcopy(BASE_CONFIG["directory"])
    root = directory["root"]
    root["area"] = [[121.40, 31.20], [121.50, 31.20], [121.50, 31.30], [121.40, 31.30]]
    g1 = root["children"][0]["children"][0]["children"][0]
    g1["area"] = [[121.41, 31.21], [121.43, 31.21], [121.43, 31.23], [121.41, 31.23]]
    g3 = root["children"][1]["children"][0]["children"][0]
    g3["area"] = [[121.45, 31.25], [121.47, 31.25], [121.47, 31.27], [121.45, 31.27], [121.45, 31.25]]
    cameras = [
        {"id": "cam-exact", "url": "synthetic://street", "grid": "g1", "enabled": False},
        {"id": "cam-by-area", "url": "synthetic://street", "grid": "g3", "enabled": False},
        {"id": "cam-nowhere", "url": "synthetic://street", "grid": "g2", "enabled": False},
    ]
    cameras[0]["location"] = {"lat": 31.22, "lon": 121.42}
    cameras[0]["zones"] = [{"id": "gate", "kind": "intrusion", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}]
    return {"directory": directory, "cameras": cameras}


async def test_the_map_draws_outlines_cameras_and_people_each_caller_may_see(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path, **_map_config())) as hub:
        async with await hub.client("worker1") as w1:
            r = await w1.post("/api/me/position", json={"lat": 31.222, "lon": 121.421, "accuracy_m": 8})
            assert r.status_code == 204
            assert (await w1.post("/api/me/position", json={"lat": 95, "lon": 0})).status_code == 422
            mine = (await w1.get("/api/map")).json()
        async with await hub.client("dispatcher") as desk:
            full = (await desk.get("/api/map")).json()
            cams = {c["id"]: c for c in (await desk.get("/api/cameras")).json()}

    assert full["tiles"] is None
    outlines = {f["id"]: f for f in full["nodes"]["features"]}
    assert set(outlines) == {"d", "g1", "g3"}
    assert outlines["g1"]["properties"] == {"id": "g1", "name": "Grid 1", "level": "grid", "parent": "c1"}
    ring = outlines["g1"]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5  # closed, as GeoJSON wants
    assert len(outlines["g3"]["geometry"]["coordinates"][0]) == 5  # already closed: not closed twice
    placed = {f["id"]: f for f in full["cameras"]["features"]}
    assert placed["cam-exact"]["geometry"]["coordinates"] == [121.42, 31.22]
    assert placed["cam-exact"]["properties"]["placed"] == "exact"
    assert placed["cam-by-area"]["properties"]["placed"] == "area"  # the middle of grid 3
    assert placed["cam-by-area"]["geometry"]["coordinates"] == pytest.approx([121.46, 31.26])
    assert "cam-nowhere" not in placed
    assert [(p["person"], p["name"], p["lat"]) for p in full["people"]] == [("worker1", "Worker One", 31.222)]

    # A worker's map holds their grid's branch only.
    assert {f["id"] for f in mine["nodes"]["features"]} == {"d", "g1"}
    assert {f["id"] for f in mine["cameras"]["features"]} == {"cam-exact"}

    # The camera list gives what the wall draws over the picture.
    assert cams["cam-exact"]["location"] == {"lat": 31.22, "lon": 121.42}
    assert cams["cam-exact"]["zones"] == [
        {"id": "gate", "kind": "intrusion", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}
    ]
    assert cams["cam-nowhere"]["location"] is None and cams["cam-nowhere"]["zones"] == []


async def test_a_district_tile_server_is_passed_to_the_map(tmp_path: Path) -> None:
    tiles = {"tile_url": "https://tiles.district.example/{z}/{x}/{y}.png", "attribution": "District GIS"}
    async with serve(make_settings(tmp_path, map=tiles)) as hub, await hub.client("dispatcher") as c:
        got = (await c.get("/api/map")).json()
    assert got["tiles"] == {"url": tiles["tile_url"], "attribution": "District GIS", "max_zoom": 19}
