"""Login, tokens and what each answer looks like to a client."""

from __future__ import annotations

import statistics
import time

import httpx
import jwt
import websockets

from tests.hub.conftest import SECRET, RunningHub


async def test_login_and_me(running: RunningHub) -> None:
    async with await running.client("worker1") as c:
        me = (await c.get("/api/auth/me")).json()
    assert me == {"username": "worker1", "roles": ["worker"], "person": "worker1", "grids": ["g1"]}


async def test_wrong_password_and_unknown_user_look_the_same(running: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as c:
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
