"""Wrong passwords: throttled per user name and per address, and never at the cost of alert evidence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from hub.access.loginguard import ADDRESS_FREE_FAILURES, USER_FREE_FAILURES
from tests.hub.conftest import PASSWORD, RunningHub, make_settings, real_cost_hash, serve

LOGIN = "/api/auth/login"


async def _login(c: httpx.AsyncClient, user: str, password: str, **headers: str) -> httpx.Response:
    return await c.post(LOGIN, json={"username": user, "password": password}, headers=headers)


async def test_wrong_passwords_for_one_user_end_in_429_with_retry_after(tmp_path: Path) -> None:
    # A first lockout of 3 s: longer than a refusal is held (1 s) and than a loaded machine's
    # argon2 check, so the steps below see the lock whatever the machine is doing.
    settings = make_settings(tmp_path, auth={"lockout_first_s": 3.0})
    async with serve(settings) as running, httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        for _ in range(USER_FREE_FAILURES + 1):
            assert (await _login(c, "admin", "wrong")).status_code == 401
        r = await _login(c, "admin", "wrong")
        assert r.status_code == 429, r.text
        retry_s = int(r.headers["retry-after"])
        assert retry_s >= 1 and "try again later" in r.json()["detail"]
        # While locked, even the right password is not checked: a guesser learns nothing.
        assert (await _login(c, "admin", PASSWORD)).status_code == 429
        # Another user on the same address is not locked out by it.
        assert (await _login(c, "dispatcher", PASSWORD)).status_code == 200
        # Once the time has passed, the right password works and clears the count.
        await asyncio.sleep(retry_s)
        assert (await _login(c, "admin", PASSWORD)).status_code == 200
        assert (await _login(c, "admin", "wrong")).status_code == 401
        assert running.hub.auth.throttle.refused == 2


async def test_an_address_guessing_many_names_is_throttled_and_forwarded_for_does_not_help(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auth={"lockout_first_s": 5.0})  # outlasts the held answers
    async with serve(settings) as running, httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        codes = [(await _login(c, f"user{i}", "wrong")).status_code for i in range(ADDRESS_FREE_FAILURES + 1)]
        assert codes == [401] * (ADDRESS_FREE_FAILURES + 1)
        r = await _login(c, "someone-else", "wrong")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # The hub is not behind a proxy (server.trusted_proxies is empty): a forged header is not believed.
        r = await _login(c, "yet-another", "wrong", **{"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 429


async def test_a_flood_from_one_address_leaves_a_user_elsewhere_able_to_log_in(tmp_path: Path) -> None:
    elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with (
        serve(make_settings(tmp_path, password_hash=real_cost_hash())) as running,  # checks that take their time
        httpx.AsyncClient(base_url=running.url, timeout=60) as flood,
        httpx.AsyncClient(base_url=running.url, timeout=60, transport=elsewhere) as user,
    ):
        guesses = [_login(flood, f"guess{i}", "wrong") for i in range(100)]
        answers = await asyncio.gather(*guesses, _login(user, "dispatcher", PASSWORD))
    assert answers[-1].status_code == 200, answers[-1].text
    codes = [r.status_code for r in answers[:-1]]
    assert set(codes) <= {401, 429, 503} and codes.count(401) <= ADDRESS_FREE_FAILURES + 1
    # Refusals are held for a moment before they are answered: a flood gets few answers a second.
    assert running.hub.auth.held == 0


async def test_unrepresentable_values_get_422_not_500(running: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as c:
        for body in (
            b'{"username": "admin", "password": 1e400}',
            b'{"username": "admin", "password": "\\ud800"}',
            b'{"username": "\\ud800", "password": "x"}',
            b'{"username": "admin", "password": -1e400}',
        ):
            r = await c.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (body, r.status_code, r.text)
            assert r.json()["detail"][0]["loc"][0] == "body"
        assert (await c.get("/healthz")).status_code == 200


FLOOD = 100
CAMERA = {
    "id": "cam-street",
    "url": "synthetic://street",
    "grid": "g1",
    "preroll_s": 1.0,
    "postroll_s": 1.0,
    "analysis": {"fps": 4, "width": 160, "height": 90, "cooldown_s": 1.0},
}


async def _events(c: httpx.AsyncClient, prefix: str) -> list[dict[str, Any]]:
    r = await c.get("/api/events", params={"since": 0, "limit": 1000, "type": prefix})
    r.raise_for_status()
    return list(r.json()["events"])


async def test_a_login_flood_is_throttled_and_every_alert_keeps_its_snapshot_and_clip(tmp_path: Path) -> None:
    # The first lockout outlasts the flood: the address's free tries and the one that locks it are
    # all the guesses argon2 sees (with 1 s, each lockout's end would let one more through).
    settings = make_settings(tmp_path, password_hash=real_cost_hash(), cameras=[CAMERA], auth={"lockout_first_s": 60.0})
    async with serve(settings) as running:
        async with (
            await running.client("dispatcher") as staff,
            httpx.AsyncClient(base_url=running.url, timeout=60) as anon,
        ):
            # Wait for the scene's first alert, so the flood overlaps alerts as they start.
            async with asyncio.timeout(60):
                while not await _events(staff, "alert.started"):  # noqa: ASYNC110  (polling the hub over HTTP)
                    await asyncio.sleep(0.2)
            before = (await staff.get("/api/events", params={"since": 0, "limit": 1})).json()["head_id"]
            answers = await asyncio.gather(*(_login(anon, f"guess{i}", "wrong") for i in range(FLOOD)))
            codes = [r.status_code for r in answers]
            # Keep the flood going for a while, as an attacker would, while the scene raises alerts.
            for _ in range(5):
                more = await asyncio.gather(*(_login(anon, f"again{i}", "wrong") for i in range(FLOOD // 5)))
                codes += [r.status_code for r in more]
                await asyncio.sleep(1.0)
            assert set(codes) <= {401, 429, 503}, codes
            # Only the address's free tries (and the one that locked it) reached argon2.
            assert codes.count(401) <= ADDRESS_FREE_FAILURES + 1, codes
            assert codes.count(429) >= len(codes) - ADDRESS_FREE_FAILURES - 1 - codes.count(503)
            assert all("retry-after" in r.headers for r in answers if r.status_code in (429, 503))
            # Every alert that started during or after the flood has its snapshot, and its clip
            # is written once the post-roll has passed.
            async with asyncio.timeout(60):
                while True:
                    started = [e for e in await _events(staff, "alert.started") if e["id"] > before]
                    clips = {
                        e["data"]["alert_id"]: e["data"]
                        for e in await _events(staff, "alert.updated")
                        if "clip_ready" in e["data"] or "clip_error" in e["data"]
                    }
                    if started and all(e["data"]["alert_id"] in clips for e in started):
                        break
                    await asyncio.sleep(0.5)
            for e in started:
                assert e["data"]["snapshot"], e
                clip = clips[e["data"]["alert_id"]]
                assert clip.get("clip_ready") is True, clip
            snapshot = await staff.get("/api/cameras/cam-street/snapshot.jpg")
            assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
