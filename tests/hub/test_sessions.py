"""Sessions that can end: logout, an admin's revocation, a changed password, a time limit."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import jwt
import websockets

from hub.config import Settings
from tests.hub.conftest import SECRET, TEST_HASHER, RunningHub, make_settings, serve


async def closed_with(ws: websockets.ClientConnection, within_s: float = 5.0) -> tuple[int | None, str]:
    """Read until the hub closes ``ws``; its close code and reason."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), within_s)
    except websockets.ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "")


def with_password(tmp_path: Path, username: str, password: str | None) -> Settings:
    """The test settings with ``username``'s password changed (``None``: removed)."""
    users = [u.model_dump() for u in make_settings(tmp_path).users]
    for u in users:
        if u["username"] == username:
            u["password_hash"] = TEST_HASHER.hash(password) if password else None
    return make_settings(tmp_path, users=users)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_ends_that_session_and_its_feed_only(running: RunningHub) -> None:
    first, second = await running.token("dispatcher"), await running.token("dispatcher")
    ws = await websockets.connect(f"ws://127.0.0.1:{running.port}/ws/events?token={first}")
    assert json.loads(await ws.recv())["control"] == "live"
    async with await running.client() as c:
        assert (await c.post("/api/auth/logout", headers=bearer(first))).status_code == 204
        # Its live feed is closed at once, saying why; the page then finds it must log in.
        code, reason = await closed_with(ws)
        assert code == 1008 and "logged out" in reason
        r = await c.get("/api/auth/me", headers=bearer(first))
        assert r.status_code == 401 and "logged out" in r.json()["detail"]
        assert (await c.post("/api/auth/refresh", headers=bearer(first))).status_code == 401
        assert (await c.post("/api/auth/logout", headers=bearer(first))).status_code == 401
        # The same user's other session (another device) goes on, and so does a new login.
        assert (await c.get("/api/auth/me", headers=bearer(second))).status_code == 200
        third = await running.token("dispatcher")
        assert (await c.get("/api/auth/me", headers=bearer(third))).status_code == 200
        # The logout is in the log, and nothing in it is a secret.
        events = (await c.get("/api/events", params={"type": "auth.logged_out"}, headers=bearer(third))).json()
        assert [e["data"]["user"] for e in events["events"]] == ["dispatcher"]
        assert first not in json.dumps(events)


async def test_a_refreshed_session_still_ends_at_its_time_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth={"token_ttl_s": 600, "session_max_s": 900})
    async with serve(settings) as rh:
        token = await rh.token("worker1")
        async with await rh.client() as c:
            r = await c.post("/api/auth/refresh", headers=bearer(token))
            assert r.status_code == 200
            claims = jwt.decode(r.json()["access_token"], SECRET, algorithms=["HS256"])
            first = jwt.decode(token, SECRET, algorithms=["HS256"])
            # The same session, with no more time than the login left it.
            assert claims["sid"] == first["sid"] and claims["at"] == first["at"]
            assert claims["exp"] <= first["at"] + 900
            # A session that began 15 minutes ago (its token still signed and unexpired) cannot be refreshed.
            old = dict(first, at=time.time() - 901, iat=int(time.time()) - 60, exp=int(time.time()) + 60)
            stale = jwt.encode(old, SECRET, algorithm="HS256")
            r = await c.post("/api/auth/refresh", headers=bearer(stale))
            assert r.status_code == 401 and "time limit" in r.json()["detail"]


async def test_a_changed_or_removed_password_ends_the_sessions_made_with_it(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path)) as rh:
        token = await rh.token("worker1")
        logged_out = await rh.token("worker2")
        async with await rh.client() as c:
            assert (await c.post("/api/auth/logout", headers=bearer(logged_out))).status_code == 204
    # The admin gives worker1 a new password and restarts the hub.
    async with serve(with_password(tmp_path, "worker1", "a new password for worker1")) as rh, await rh.client() as c:
        r = await c.get("/api/auth/me", headers=bearer(token))
        assert r.status_code == 401 and "password has changed" in r.json()["detail"]
        # A logout outlives a restart: the token it ended stays refused.
        r = await c.get("/api/auth/me", headers=bearer(logged_out))
        assert r.status_code == 401 and "logged out" in r.json()["detail"]
        fresh = await rh.token("worker2")
        assert (await c.get("/api/auth/me", headers=bearer(fresh))).status_code == 200
        token = await rh.token("worker1", "a new password for worker1")
    # Then removes it: the user can no longer log in, and the session made before is refused too.
    async with serve(with_password(tmp_path, "worker1", None)) as rh, await rh.client() as c:
        assert (await c.get("/api/auth/me", headers=bearer(token))).status_code == 401


async def test_an_admin_revokes_a_user_on_every_node_feeds_and_calls_included(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": f"t{uuid.uuid4().hex[:8]}", "follow_poll_s": 30}
    async with (
        serve(make_settings(tmp_path / "a", storage=storage)) as a,
        serve(make_settings(tmp_path / "b", storage=storage)) as b,
    ):
        on_a, on_b = await a.token("worker1"), await b.token("worker1")
        calls = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/calls?token={on_b}")
        inbox = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/worker?token={on_b}")
        assert json.loads(await calls.recv())["op"] == "calls"
        async with await b.client("dispatcher") as disp, await a.client("admin") as admin:
            call = await disp.post("/api/calls", json={"to": "worker1"})
            assert call.status_code == 201, call.text
            # Only admins may revoke; an unknown user is a 404.
            assert (await disp.post("/api/auth/users/worker1/revoke")).status_code == 403
            assert (await admin.post("/api/auth/users/nobody/revoke")).status_code == 404
            r = await admin.post("/api/auth/users/worker1/revoke")
            assert r.status_code == 200 and r.json()["user"] == "worker1"
            # Node B heard it from A: worker1's channels there close, and their call ends.
            for ws in (calls, inbox):
                code, reason = await closed_with(ws)
                assert code == 1008 and "administrator" in reason
            got = await disp.get(f"/api/calls/{call.json()['id']}")
            assert got.status_code == 404 or got.json()["state"] == "ended"
            for node, token in ((a, on_a), (b, on_b), (b, on_a), (a, on_b)):
                async with await node.client() as c:
                    r = await c.get("/api/auth/me", headers=bearer(token))
                    assert r.status_code == 401 and "administrator" in r.json()["detail"]
            # Their next login works (keeping them out is removing their password).
            again = await a.token("worker1")
            async with await b.client() as c:
                assert (await c.get("/api/auth/me", headers=bearer(again))).status_code == 200
            # The other users noticed nothing.
            assert (await disp.get("/api/auth/me")).status_code == 200
