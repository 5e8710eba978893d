"""SIGKILL in the middle of 1,000 concurrent transitions against a real hub process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.hub.conftest import PASSWORD, TEST_HASHER
from tests.hub.desk_fixtures import replay_incidents
from tests.hub.test_crash import HubProcess

INCIDENTS = 500


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_process(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubProcess]:
    if request.param == "postgresql":
        monkeypatch.setenv("SKYHUB_STORAGE_URL", request.getfixturevalue("pg_url"))
    cfg = {
        "users": [{"username": "dispatcher", "roles": ["dispatcher"], "password_hash": TEST_HASHER.hash(PASSWORD)}],
        "directory": {
            "root": {
                "id": "d",
                "name": "D",
                "children": [
                    {
                        "id": "s",
                        "name": "S",
                        "children": [{"id": "c", "name": "C", "children": [{"id": "g", "name": "G"}]}],
                    }
                ],
            }
        },
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg))
    hp = HubProcess(path, tmp_path / "data")
    yield hp
    hp.kill()


@pytest.mark.timeout(300)
async def test_sigkill_mid_transitions(hub_process: HubProcess) -> None:
    hub_process.start()
    await hub_process.wait_ready()
    async with httpx.AsyncClient(base_url=hub_process.url, timeout=30) as c:
        token = (await c.post("/api/auth/login", json={"username": "dispatcher", "password": PASSWORD})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=hub_process.url, headers=headers, timeout=30, limits=limits) as c:
        sem = asyncio.Semaphore(32)

        async def create(i: int) -> int:
            async with sem:
                r = await c.post("/api/incidents", json={"category": "c", "title": f"t{i}", "node": "g"})
                assert r.status_code == 201
                return int(r.json()["incident"]["id"])

        ids = await asyncio.gather(*(create(i) for i in range(INCIDENTS)))

    # Two racing transitions from version 1 per incident: at most one may win. Assigning arms the
    # acknowledge and resolve deadlines and stops the one to dispatch it, in the same transaction.
    outcomes: dict[tuple[int, str], int] = {}
    enough = asyncio.Event()
    async with httpx.AsyncClient(base_url=hub_process.url, headers=headers, timeout=30, limits=limits) as c:

        async def move(iid: int, to: str) -> None:
            try:
                body: dict[str, Any] = {"to": to, "version": 1}
                if to == "assigned":
                    body["assignee"] = {"grid": "g"}
                r = await c.post(f"/api/incidents/{iid}/transitions", json=body)
            except httpx.TransportError:
                return  # never answered: either outcome is allowed
            outcomes[(iid, to)] = r.status_code
            if len(outcomes) >= 300:
                enough.set()

        tasks = [asyncio.create_task(move(iid, to)) for iid in ids for to in ("assigned", "dismissed")]
        await asyncio.wait_for(enough.wait(), 120)
        hub_process.kill_now()
        await asyncio.to_thread(hub_process.kill)  # reap it
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    assert any(code == 200 for code in outcomes.values()) and any(code == 409 for code in outcomes.values())
    assert len(outcomes) < 2 * INCIDENTS, "the kill came too late to land mid-burst"

    hub_process.start()
    await hub_process.wait_ready()
    async with httpx.AsyncClient(base_url=hub_process.url, headers=headers, timeout=30) as c:
        events: list[dict[str, Any]] = []
        since = 0
        while True:
            page = (await c.get("/api/events", params={"since": since, "limit": 1000})).json()
            if not page["events"]:
                break
            events += page["events"]
            since = page["last_id"]
        moved = {
            (int(e["subject"].split(":")[1]), e["data"]["to"])
            for e in events
            if e["type"] in ("incident.assigned", "incident.dismissed")
        }
        for (iid, to), code in outcomes.items():
            if code == 200:
                assert (iid, to) in moved, f"answered 200 but lost: {iid} -> {to}"
            else:
                assert (iid, to) not in moved, f"answered {code} but happened: {iid} -> {to}"
        # Each incident moved at most once from version 1, and its row equals the replay of its log.
        per: dict[int, list[str]] = {}
        for iid, to in moved:
            per.setdefault(iid, []).append(to)
        assert all(len(v) == 1 for v in per.values())
        rows = {i["id"]: i for i in (await c.get("/api/incidents", params={"limit": 500})).json()}
        for iid in ids:
            want = (per[iid][0], 2) if iid in per else ("new", 1)
            assert (rows[iid]["state"], rows[iid]["version"]) == want, iid
        # Every column of every row, not just state and version, is what the log replays to.
        replay = replay_incidents(events)
        assert set(rows) == set(replay) == set(ids)
        for iid in ids:
            assert rows[iid] == replay[iid], iid
        # And the deadlines follow what the log says happened: none lost, none left over.
        for iid in ids:
            deadlines = (await c.get(f"/api/incidents/{iid}")).json()["deadlines"]
            pending = sorted(d["kind"] for d in deadlines if d["fired_at"] is None and d["cancelled_at"] is None)
            state = per[iid][0] if iid in per else "new"
            want = {"assigned": ["ack", "resolve"], "dismissed": [], "new": ["assign"]}[state]
            assert pending == want, (iid, state, deadlines)
