"""Login, tokens and what each answer looks like to a client."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx
import jwt
import websockets

from tests.hub.conftest import SECRET, RunningHub, make_settings, real_cost_hash, serve


async def test_login_and_me(running: RunningHub) -> None:
    async with await running.client("worker1") as c:
        me = (await c.get("/api/auth/me")).json()
    assert me == {"username": "worker1", "roles": ["worker"], "person": "worker1", "grids": ["g1"]}


async def test_wrong_password_and_unknown_user_look_the_same(tmp_path: Path) -> None:
    # Hashes of the cost `skyhub hash-password` gives: the hub must spend what they cost on everyone.
    settings = make_settings(tmp_path, password_hash=real_cost_hash())
    async with serve(settings) as running, httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(5):
            for kind, user in (("known", "admin"), ("unknown", "no-such-user")):
                t = time.perf_counter()
                r = await c.post("/api/auth/login", json={"username": user, "password": "wrong"})
                timings[kind].append(time.perf_counter() - t)
                assert r.status_code == 401
                assert r.json() == {"detail": "wrong username or password"}
    ratio = statistics.median(timings["unknown"]) / statistics.median(timings["known"])
    # Both paths run one argon2 verification; without the dummy hash this ratio is ~0.01.
    assert 0.3 < ratio < 3.0, timings


async def test_expired_forged_and_missing_tokens(running: RunningHub) -> None:
    now = int(time.time())
    expired = jwt.encode({"sub": "admin", "exp": now - 10, "iat": now - 100}, SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "admin", "exp": now + 100}, "another-secret-of-sufficient-length!!", algorithm="HS256")
    ghost = jwt.encode({"sub": "deleted-user", "exp": now + 100}, SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=running.url) as c:
        for token, detail in (
            (expired, "token expired"),
            (forged, "invalid token"),
            (ghost, "invalid token"),
            ("not-a-jwt", "invalid token"),
        ):
            r = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert (r.status_code, r.json()["detail"]) == (401, detail)
        r = await c.get("/api/events")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # The live feeds answer the same: 401 with the reason, so a client knows to log in again.
    for token, detail in ((expired, "token expired"), (forged, "invalid token"), (None, "login required")):
        query = f"?token={token}" if token else ""
        try:
            async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/events{query}", open_timeout=10):
                raise AssertionError("the feed accepted a bad token")
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 401
            assert detail.encode() in exc.response.body


async def test_malformed_bodies_name_the_field(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        r = await c.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422
        r = await c.post("/api/auth/login", json={"username": "x"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
        r = await c.post("/api/journal", json={"text": ""})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "text"]


async def test_health_needs_no_login(running: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running.url) as c:
        r = await c.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_refresh_extends_a_valid_token_and_refuses_a_dead_one(running: RunningHub) -> None:
    now = int(time.time())
    # Seven hours into an eight-hour token: the page swaps it for a new one before it runs out.
    old = jwt.encode({"sub": "worker1", "iat": now - 7 * 3600, "exp": now + 3600}, SECRET, algorithm="HS256")
    expired = jwt.encode({"sub": "worker1", "iat": now - 9 * 3600, "exp": now - 10}, SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=running.url) as c:
        r = await c.post("/api/auth/refresh", headers={"Authorization": f"Bearer {old}"})
        assert r.status_code == 200, r.text
        body = r.json()
        new = body["access_token"]
        assert body["expires_in"] == running.hub.settings.auth.token_ttl_s
        claims = jwt.decode(new, SECRET, algorithms=["HS256"])
        assert claims["sub"] == "worker1" and claims["exp"] >= now + body["expires_in"] - 5
        me = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {new}"})
        assert me.json()["username"] == "worker1"
        for token, detail in ((expired, "token expired"), (None, "login required")):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await c.post("/api/auth/refresh", headers=headers)
            assert (r.status_code, r.json()["detail"]) == (401, detail)
    # The worker channel takes the new token and refuses the dead one with a real 401, so a page
    # can tell "log in again" from a network error.
    async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/worker?token={new}", open_timeout=10) as ws:
        assert json.loads(await ws.recv())["type"] == "live"
    try:
        async with websockets.connect(f"ws://127.0.0.1:{running.port}/ws/worker?token={expired}", open_timeout=10):
            raise AssertionError("the worker channel accepted an expired token")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 401 and b"token expired" in exc.response.body


async def test_a_token_that_ran_out_is_refused_even_after_it_was_accepted(running: RunningHub) -> None:
    # Accepted tokens are remembered to save the signature check; running out must still count.
    now = int(time.time())
    token = jwt.encode({"sub": "admin", "iat": now, "exp": now + 2}, SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=running.url, headers={"Authorization": f"Bearer {token}"}) as c:
        for _ in range(3):
            assert (await c.get("/api/auth/me")).status_code == 200
        await asyncio.sleep(max(0.0, now + 2.2 - time.time()))
        r = await c.get("/api/auth/me")
        assert (r.status_code, r.json()["detail"]) == (401, "token expired")
