"""The on-duty track: points from the phone, the last one on the map, a worker's track for staff."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from hub.people.positions import track_table
from tests.hub.conftest import make_settings, serve
from tests.hub.test_me import _map_config

INSIDE = (31.22, 121.42)
"""(lat, lon) in grid 1, inside the district's outline."""
OUTSIDE = (31.40, 121.60)
"""(lat, lon) beyond the district's outline."""


async def test_points_make_the_track_the_last_is_on_the_map_and_staff_see_it_with_the_incidents(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, **_map_config())
    now = time.time()
    async with serve(settings) as rh, await rh.client("worker1") as w, await rh.client("dispatcher") as d:
        r = await w.post(
            "/api/me/location", json={"lat": INSIDE[0], "lon": INSIDE[1], "accuracy": 8, "time": now - 120}
        )
        assert r.status_code == 201, r.text
        assert r.json()["outside"] is False
        r = await w.post("/api/me/location", json={"lat": OUTSIDE[0], "lon": OUTSIDE[1], "time": now - 60})
        assert (r.status_code, r.json()["outside"]) == (201, True)  # kept, flagged
        # A point from the outbox after a dead spot, older than the last: in the track, not the map.
        k = {"Idempotency-Key": str(uuid.uuid4())}
        late = {"lat": 31.221, "lon": 121.421, "time": now - 90}
        assert (await w.post("/api/me/location", json=late, headers=k)).status_code == 201
        assert (await w.post("/api/me/location", json=late, headers=k)).status_code == 201  # replayed: once
        people = (await d.get("/api/map")).json()["people"]
        mine = [p for p in people if p["person"] == "worker1"]
        assert [(p["lat"], p["lon"]) for p in mine] == [OUTSIDE]

        # worker1 handles an incident along the way.
        inc = await d.post("/api/incidents", json={"category": "x", "severity": "P2", "title": "drain", "node": "g1"})
        iid = inc.json()["incident"]["id"]
        await d.post(f"/api/incidents/{iid}/transitions", json={"to": "verified", "version": 1})
        assigned = {"to": "assigned", "version": 2, "assignee": {"person": "worker1"}}
        await d.post(f"/api/incidents/{iid}/transitions", json=assigned)
        assert (await w.post(f"/api/incidents/{iid}/transitions", json={"to": "acknowledged", "version": 3})).is_success

        r = await d.get("/api/people/worker1/track", params={"since": now - 3600, "until": now + 60})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(p["at"], p["outside"]) for p in body["points"]] == [
            (now - 120, False),
            (now - 90, False),
            (now - 60, True),
        ]
        assert body["points"][0]["accuracy_m"] == 8
        [handled] = body["incidents"]
        assert handled["id"] == iid and handled["grid"] == "g1"
        assert [s["type"] for s in handled["steps"]] == ["incident.acknowledged"]
        # A range before the points: none.
        assert (await d.get("/api/people/worker1/track", params={"until": now - 3600})).json()["points"] == []
        # Not for workers; not for nobody.
        assert (await w.get("/api/people/worker1/track")).status_code == 403
        assert (await d.get("/api/people/nobody/track")).status_code == 404
        assert (await d.get("/api/people/worker1/track", params={"since": now, "until": now - 1})).status_code == 422


async def test_nothing_is_kept_off_duty_and_bad_points_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **_map_config())
    async with serve(settings) as rh, await rh.client("worker2") as off, await rh.client("worker1") as w:
        r = await off.post("/api/me/location", json={"lat": INSIDE[0], "lon": INSIDE[1]})
        assert r.status_code == 409 and "off duty" in r.json()["detail"]
        assert (await w.post("/api/me/location", json={"lat": 91, "lon": 0})).status_code == 422
        future = {"lat": INSIDE[0], "lon": INSIDE[1], "time": time.time() + 3600}
        assert (await w.post("/api/me/location", json=future)).status_code == 422
        ancient = {"lat": INSIDE[0], "lon": INSIDE[1], "time": time.time() - 7 * 86_400}
        assert (await w.post("/api/me/location", json=ancient)).status_code == 422
    engine = sa.create_engine(settings.storage_url())
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(track_table)).scalar_one() == 0
    engine.dispose()


async def test_points_past_their_retention_are_pruned(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, field={"track_retention_days": 1})
    now = time.time()
    async with serve(settings) as rh:
        engine = sa.create_engine(settings.storage_url())
        with engine.begin() as conn:  # what a worker left two days ago
            old = {"person": "worker1", "lat": 31.0, "lon": 121.0, "at": now - 2 * 86_400, "received_at": now}
            conn.execute(sa.insert(track_table).values(**old))
        async with await rh.client("worker1") as w:
            assert (await w.post("/api/me/location", json={"lat": 31.1, "lon": 121.1})).status_code == 201
        with engine.connect() as conn:
            left = conn.execute(sa.select(track_table.c.lat)).scalars().all()
        engine.dispose()
    assert left == [31.1]
