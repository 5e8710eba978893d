"""Calls across hub nodes: a dispatcher on node A calls a worker whose phone is connected to node B;
"busy" holds for the whole cluster; a call whose node dies is ended in the log by a survivor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from hub.calls.cluster import NODE_LOST
from tests.calls.conftest import api, calls_settings, poll
from tests.calls.test_calls import call_slots
from tests.conftest import free_port
from tests.hub.conftest import PASSWORD, serve, write_config
from tests.hub.test_lease_failures import NodeProcess


def node(tmp: Path, storage: dict[str, Any]) -> tuple[Any, int]:
    """A node's settings (no cameras: these nodes only host calls) on a port chosen now."""
    port = free_port()
    server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
    return calls_settings(tmp, storage=storage, server=server, cameras=[]), port


@pytest.fixture
def storage(pg_url: str, redis_url: str, redis_prefix: str) -> dict[str, Any]:
    return {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}


async def call_events(pg_url: str, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT type, data FROM events WHERE subject = %s ORDER BY id", (call_id,))
        return [(t, json.loads(d)) for t, d in await cur.fetchall()]


async def test_a_dispatcher_on_one_node_calls_a_worker_connected_to_another(
    tmp_path: Path, storage: dict[str, Any], pg_url: str, peers: Any, call_page: Any
) -> None:
    settings_a, port_a = node(tmp_path / "a", storage)
    settings_b, port_b = node(tmp_path / "b", storage)
    async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:
        worker_page = await call_page(b, "worker1")  # the phone is connected to B
        token = {"Authorization": f"Bearer {await b.token('worker1')}"}
        async with (
            await api(a, "dispatcher") as d,
            httpx.AsyncClient(base_url=a.url, headers=token, timeout=30) as w_on_a,
        ):
            r = await d.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 201, r.text
            call = r.json()
            assert call["url"] == a.url
            # B rings the phone, and tells it where the call lives.
            await poll(lambda: (worker_page.last(call["id"]) or {}).get("state") == "ringing", 10, "the ring on B")
            assert worker_page.last(call["id"])["url"] == a.url  # type: ignore[index]

            # The page served by B may send the call's requests to A; a page from elsewhere may not.
            preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
            async with httpx.AsyncClient(base_url=a.url) as anon:
                r = await anon.options(f"/api/calls/{call['id']}/accept", headers={"Origin": b.url, **preflight})
                assert r.status_code == 204 and r.headers["access-control-allow-origin"] == b.url
                assert "POST" in r.headers["access-control-allow-methods"]
                r = await anon.options(
                    f"/api/calls/{call['id']}/accept", headers={"Origin": "http://evil.example", **preflight}
                )
                assert "access-control-allow-origin" not in r.headers

            # Busy for the whole cluster: the worker rings on A, so B refuses another call to them.
            async with await api(b, "admin") as admin_on_b:
                r = await admin_on_b.post("/api/calls", json={"to": "worker1"})
                assert r.status_code == 409 and r.json()["reason"] == "busy", r.text

            caller = peers(call_slots(440))
            assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
            callee = peers(call_slots(880))
            r = await callee.connect(w_on_a, f"/api/calls/{call['id']}/media")
            assert r.status_code == 201, r.text
            await poll(lambda: (worker_page.last(call["id"]) or {}).get("state") == "active", 10, "active, told on B")
            # Media both ways, through the node hosting the call.
            await poll(lambda: caller.frames.get(1, 0) >= 10 and callee.frames.get(1, 0) >= 10, 40, "video both ways")
            await poll(lambda: abs(caller.heard_hz(0) - 880) < 30, 20, "the caller hearing the worker")
            await poll(lambda: abs(callee.heard_hz(0) - 440) < 30, 20, "the worker hearing the caller")

            # A page that reconnects to B gets the call in its first snapshot.
            again = await call_page(b, "worker1")
            assert [c["id"] for c in again.messages[0]["calls"]] == [call["id"]]

            r = await w_on_a.post(f"/api/calls/{call['id']}/hangup")
            assert r.json()["state"] == "ended"
            await poll(lambda: (worker_page.last(call["id"]) or {}).get("state") == "ended", 10, "the end, told on B")
            assert b.hub.calls.cluster is not None and b.hub.calls.cluster.relayed == {}
            # Free again everywhere: B can ring the worker now.
            await poll(lambda: not a.hub.calls.busy("worker1"), 10, "the worker free on A")
            async with await api(b, "admin") as admin_on_b:
                await b.hub.calls.look_around()
                r = await admin_on_b.post("/api/calls", json={"to": "worker1"})
                assert r.status_code == 201, r.text
                assert r.json()["url"] == b.url
                await admin_on_b.post(f"/api/calls/{r.json()['id']}/hangup")
        types = [t for t, _ in await call_events(pg_url, call["id"])]
        assert types == ["call.started", "call.joined", "call.accepted", "call.joined", "call.ended"]


async def test_the_calls_of_a_node_that_dies_are_ended_once_by_a_survivor(
    tmp_path: Path, storage: dict[str, Any], pg_url: str, call_page: Any
) -> None:
    # The node hosting the call is a process of its own, to be killed.
    port_a = free_port()
    config_a = write_config(
        tmp_path / "a" / "hub.yaml",
        storage=storage,
        cameras=[],
        server={"public_url": f"http://127.0.0.1:{port_a}", "ice_addresses": ["127.0.0.1"]},
    )
    a = NodeProcess(config_a, tmp_path / "a" / "data", port_a)
    a.start()
    try:
        await a.wait_ready()
        settings_b, port_b = node(tmp_path / "b", storage)
        settings_c, port_c = node(tmp_path / "c", storage)
        async with serve(settings_b, port=port_b) as b, serve(settings_c, port=port_c) as c:
            worker_page = await call_page(b, "worker1")
            async with httpx.AsyncClient(base_url=a.url, timeout=30) as d:
                r = await d.post("/api/auth/login", json={"username": "dispatcher", "password": PASSWORD})
                d.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                r = await d.post("/api/calls", json={"to": "worker1"})
                assert r.status_code == 201, r.text
                call_id = r.json()["id"]
            await poll(lambda: (worker_page.last(call_id) or {}).get("state") == "ringing", 10, "the ring on B")
            a.kill()
            # Both survivors notice; the log gets one end, and the phone on B is told.
            await poll(
                lambda: (worker_page.last(call_id) or {}).get("state") == "ended", 40, "the end of the dead node's call"
            )
            assert worker_page.last(call_id)["ended_reason"] == NODE_LOST  # type: ignore[index]
            # The other survivor has noticed too, and tried.
            await poll(lambda: b.hub.redis.stats.gone and c.hub.redis.stats.gone, 15, "both survivors noticing")
            ends = [d for t, d in await call_events(pg_url, call_id) if t == "call.ended"]
            assert len(ends) == 1 and ends[0]["reason"] == NODE_LOST, ends
            stats = [n.hub.calls.cluster.stats.orphans_ended for n in (b, c)]  # type: ignore[union-attr]
            assert sorted(stats) == [0, 1]
    finally:
        a.kill()


async def test_a_camera_another_node_ingests_is_piped_into_a_call_and_followed_when_it_moves(
    tmp_path: Path, storage: dict[str, Any], peers: Any, call_page: Any
) -> None:
    cameras = [
        {"id": f"cam{i}", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}} for i in range(2)
    ]
    leases = {**storage, "camera_lease_ttl_s": 3.0, "camera_lease_renew_s": 0.5}
    nodes = []
    for name in ("a", "b"):
        port = free_port()
        server = {"public_url": f"http://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
        nodes.append((calls_settings(tmp_path / name, storage=leases, server=server, cameras=cameras), port))
    (settings_a, port_a), (settings_b, port_b) = nodes
    async with serve(settings_a, port=port_a) as a:
        async with serve(settings_b, port=port_b) as b:
            await poll(
                lambda: len(a.hub.cameras.running()) == 1 and len(b.hub.cameras.running()) == 1,
                40,
                "each node to ingest one camera",
            )
            (cam_b,) = b.hub.cameras.running()
            await poll(lambda: a.hub.cameras.owner(cam_b) == b.hub.redis.node, 10, "A to know where it runs")
            await call_page(a, "worker1")
            async with await api(a, "dispatcher") as d, await api(a, "worker1") as w:
                r = await d.post("/api/calls", json={"to": "worker1"})
                assert r.status_code == 201, r.text
                call_id = r.json()["id"]
                caller = peers(call_slots(440))
                assert (await caller.connect(d, f"/api/calls/{call_id}/media")).status_code == 201
                callee = peers(call_slots(880))
                assert (await callee.connect(w, f"/api/calls/{call_id}/media")).status_code == 201
                await poll(lambda: callee.frames.get(1, 0) >= 10, 40, "the caller's video at the worker")
                # B's camera into A's call: piped from B, its own packets, no re-encode.
                r = await d.post(f"/api/calls/{call_id}/camera", json={"camera": cam_b})
                assert r.status_code == 200, r.text
                assert a.hub.calls.pipes is not None
                pipe = a.hub.calls.pipes.pipes[cam_b]
                member = a.hub.calls.calls[call_id].members["worker1"]
                assert member.video_out is not None and member.video_out.source is pipe.relay
                n = callee.frames[1]
                await poll(
                    lambda: pipe.units >= 20 and callee.frames[1] >= n + 20, 40, "the piped camera at the worker"
                )
                assert pipe.connects == 1
                # The viewing record (one store for all nodes) names who put the camera in.
                async with await psycopg.AsyncConnection.connect(storage["url"], autocommit=True) as conn:
                    cur = await conn.execute(
                        "SELECT type, actor FROM events WHERE subject = %s ORDER BY id", (f"camera:{cam_b}",)
                    )
                    assert await cur.fetchall() == [("view.started", "dispatcher")]
        # B stopped: A takes its camera; the call follows it to A's own ingest, and the pipe closes.
        await poll(lambda: cam_b in a.hub.cameras.running(), 30, "A to take B's camera")
        live_here = a.hub.cameras.get(cam_b)
        await poll(
            lambda: member.video_out is not None and member.video_out.source is live_here.relay,
            10,
            "the call switched to the camera on A",
        )
        await poll(lambda: not a.hub.calls.pipes.pipes, 10, "the pipe closed")  # type: ignore[union-attr]
        n = callee.frames[1]
        await poll(lambda: callee.frames[1] >= n + 20, 40, "the camera at the worker, from A")
