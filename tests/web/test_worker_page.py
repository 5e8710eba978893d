"""The worker's inbox page in a real browser: instructions arrive, are shown and acknowledged, and
none is lost to a reload, a closed tab, a new device or a token running out."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher

from alerts.clock import ManualClock
from hub.events import EventFilter
from tests.calls.conftest import poll
from tests.conftest import free_port
from tests.hub.conftest import BASE_CONFIG, PASSWORD, SECRET, RunningHub, make_settings, serve
from tests.hub.test_instructions import leaders_settings
from tests.web.conftest import log_in

RECORD_ALARMS = """
window.alarms = [];
Object.defineProperty(navigator, "vibrate", { value: (pattern) => { window.alarms.push(pattern); return true; } });
"""
"""Init script: the page's emergency vibrations are counted instead of felt."""

OUTBOX = "localStorage.getItem('skyhub.worker.outbox.worker1')"
"""The receipts the page still holds for worker1 (``null`` when every one was answered)."""


async def log_in_worker(page: Any, url: str, user: str = "worker1") -> None:
    await log_in(page, url + "/web/worker.html", user, "#link-state:has-text('online')")


async def send(rh: RunningHub, text: str, **body: Any) -> int:
    async with await rh.client("coordinator") as c:
        r = await c.post("/api/instructions", json={"text": text, "targets": {"people": ["worker1"]}, **body})
        assert r.status_code == 201, r.text
        return int(r.json()["instruction"]["id"])


async def receipt(rh: RunningHub, iid: int) -> dict[str, Any]:
    async with await rh.client("coordinator") as c:
        return dict((await c.get(f"/api/instructions/{iid}")).json()["receipts"][0])


def card(iid: int) -> str:
    return f"li[data-id='{iid}']"


async def test_instruction_arrives_is_acknowledged_and_survives_a_reload(running: RunningHub, browser: Any) -> None:
    context = await browser.new_context()
    await context.add_init_script(RECORD_ALARMS)
    page = await context.new_page()
    await log_in_worker(page, running.url)
    gas = await send(running, "Gas leak: clear block 4", priority="emergency")
    await page.wait_for_selector(f"{card(gas)}.priority-emergency:has-text('Gas leak: clear block 4')")
    await page.wait_for_selector(f"{card(gas)} .state:has-text('read')")
    assert await page.evaluate("window.alarms.length") == 1
    await page.click(f"{card(gas)} button.ack")
    await page.wait_for_selector(f"{card(gas)} .state:has-text('acknowledged')")
    rec = await receipt(running, gas)
    assert rec["state"] == "acknowledged" and rec["read_at"] is not None
    hydrant = await send(running, "Check hydrant 12", priority="emergency")
    await page.wait_for_selector(f"{card(hydrant)} .state:has-text('read')")

    # After a reload the inbox is as it was: the unacknowledged instruction is still there with
    # its button, the acknowledged one shows as such, nothing twice, and no alarm sounds again
    # for an emergency already confirmed.
    await page.reload()
    await page.wait_for_selector("#link-state:has-text('online')")
    await page.wait_for_selector(f"{card(hydrant)} button.ack")
    await page.wait_for_selector(f"{card(gas)} .state:has-text('acknowledged')")
    assert await page.locator(f"{card(gas)} button.ack").count() == 0
    assert await page.locator("li.instruction").count() == 2
    assert await page.evaluate("window.alarms.length") == 1  # the hydrant, still unconfirmed
    await page.click(f"{card(hydrant)} button.ack")
    await page.wait_for_selector(f"{card(hydrant)} .state:has-text('acknowledged')")
    assert (await receipt(running, hydrant))["state"] == "acknowledged"
    later = await send(running, "second")
    await page.wait_for_selector(f"{card(later)}:has-text('second')")
    assert await page.locator("li.instruction").count() == 3
    await context.close()


async def test_a_new_device_shows_the_current_state_not_the_history(running: RunningHub, browser: Any) -> None:
    confirmed = await send(running, "Close the floodgate", priority="emergency")
    cancelled = await send(running, "Evacuate the school", priority="emergency")
    pending = await send(running, "Block the bridge", priority="emergency")
    async with await running.client("worker1") as w1, await running.client("coordinator") as c:
        assert (await w1.post(f"/api/instructions/{confirmed}/ack")).status_code == 200
        assert (await c.post(f"/api/instructions/{cancelled}/cancel")).status_code == 200
    context = await browser.new_context()
    await context.add_init_script(RECORD_ALARMS)
    page = await context.new_page()
    await log_in_worker(page, running.url)
    await page.wait_for_selector(f"{card(pending)} button.ack")
    await page.wait_for_selector(f"{card(confirmed)} .state:has-text('acknowledged')")
    await page.wait_for_selector(f"{card(cancelled)}.cancelled .state:has-text('cancelled')")
    for old in (confirmed, cancelled):
        assert await page.locator(f"{card(old)} button").count() == 0
    assert await page.locator("li.instruction").count() == 3
    await page.wait_for_selector(f"{card(pending)} .state:has-text('read')")
    assert await page.evaluate("window.alarms.length") == 1  # only the one still to confirm
    await context.close()


async def test_a_closed_tab_loses_no_instruction_and_no_receipt(running: RunningHub, browser: Any) -> None:
    context = await browser.new_context()
    tab = await context.new_page()

    def drop_what_the_page_sends(route: Any) -> None:
        # The hub's messages reach the page; the page's receipts never reach the hub (a phone
        # whose uplink is gone, or a tab closed before they went out).
        route.connect_to_server()
        route.on_message(lambda message: None)

    await tab.route_web_socket(re.compile(r"/ws/worker"), drop_what_the_page_sends)
    await log_in_worker(tab, running.url)
    kept = await send(running, "Close the market gates")
    refused = await send(running, "Stand by at gate B")
    for iid in (kept, refused):
        await tab.wait_for_selector(f"{card(iid)} button.ack")
        await tab.click(f"{card(iid)} button.ack")
        await tab.wait_for_selector(f"{card(iid)} .state:has-text('sending your confirmation')")
    assert (await receipt(running, kept))["state"] == "queued"  # the hub has heard nothing yet
    await tab.close()
    async with await running.client("coordinator") as c:
        assert (await c.post(f"/api/instructions/{refused}/cancel")).status_code == 200

    # A new tab shows both instructions, delivers the receipts the closed one kept, and drops the
    # one the hub refuses (the instruction was cancelled meanwhile) with a note instead of
    # sending it forever.
    page = await context.new_page()
    await log_in_worker(page, running.url)
    await page.wait_for_selector(f"{card(kept)} .state:has-text('acknowledged')")
    rec = await receipt(running, kept)
    assert rec["state"] == "acknowledged" and rec["delivered_at"] is not None
    await page.wait_for_selector(f"{card(refused)}.cancelled .note:has-text('was cancelled')")
    assert await page.evaluate(OUTBOX) is None
    await page.reload()
    await page.wait_for_selector("#link-state:has-text('online')")
    await page.wait_for_selector(f"{card(refused)}.cancelled")
    assert await page.locator(f"{card(refused)} .note").inner_text() == ""  # not sent again
    await context.close()


def short_token(user: str, ttl_s: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl_s}, SECRET, algorithm="HS256")


async def test_the_token_is_refreshed_before_it_runs_out(tmp_path: Path, browser: Any) -> None:
    settings, port = make_settings(tmp_path), free_port()
    page = await browser.new_page()
    async with serve(settings, port=port) as rh:
        await page.goto(rh.url + "/web/worker.html")
        # A login whose token runs out in 4 s (a real one lasts hours: same page, shorter wait).
        await page.evaluate(f"sessionStorage.setItem('skyhub.token', '{short_token('worker1', 4)}')")
        await page.reload()
        await page.wait_for_selector("#link-state:has-text('online')")
        await page.wait_for_timeout(6000)  # the first token has run out
    # The hub restarts; the page reconnects with the token it refreshed and gets what is sent.
    async with serve(settings, port=port) as rh:
        iid = await send(rh, "Still with us after the token ran out")
        await page.wait_for_selector(f"{card(iid)} button.ack", timeout=30_000)
        assert await page.evaluate("document.querySelector('#login').hidden")  # never asked to log in again
    await page.close()


async def test_a_refused_session_goes_back_to_the_login_form(tmp_path: Path, browser: Any) -> None:
    port = free_port()
    page = await browser.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    async with serve(make_settings(tmp_path), port=port) as rh:
        await log_in_worker(page, rh.url)
    # The hub comes back without worker1's login: their token is refused (401). The page asks
    # them to log in again instead of reconnecting with a dead token forever.
    users = [u for u in copy.deepcopy(BASE_CONFIG)["users"] if u["username"] != "worker1"]
    for u in users:
        u["password_hash"] = PasswordHasher().hash(PASSWORD)
    async with serve(make_settings(tmp_path, users=users), port=port):
        await page.wait_for_selector("#login:not([hidden])", timeout=30_000)
        await page.wait_for_selector("#login-error:has-text('session has ended')")
        assert await page.locator("#link-state").inner_text() == "logged out"
        attempts = len(sockets)
        await page.wait_for_timeout(3000)
        assert len(sockets) == attempts
    await page.close()


async def test_a_leader_opening_the_page_later_sees_the_notice_once(tmp_path: Path, browser: Any) -> None:
    # The notice came while the leader's page was closed: a new device shows it from the inbox
    # snapshot, and a reload (snapshot and channel both bring it) still shows it once.
    clock = ManualClock()
    settings = leaders_settings(tmp_path, instructions={"escalate_after_s": 60, "progress_interval_ms": 50})
    async with serve(settings, clock) as rh:
        async with await rh.client("coordinator") as c:
            r = await c.post(
                "/api/instructions",
                json={"text": "Report your position", "targets": {"people": ["worker2"]}, "deadline_s": 120},
            )
            assert r.status_code == 201, r.text

        async def logged(kind: str) -> bool:
            return bool(await rh.hub.log.read(0, 10, EventFilter(type_prefixes=(kind,))))

        clock.advance(121)
        await poll(lambda: logged("instruction.renotified"), 20, "the renotification")
        clock.advance(61)
        await poll(lambda: logged("instruction.escalated"), 20, "the escalation")
        page = await browser.new_page()
        notice = "li.notice:has-text('Not yet confirmed by worker2')"
        await log_in(page, rh.url + "/web/worker.html", "lead2", "#link-state:has-text('online')")
        await page.wait_for_selector(notice)
        await page.reload()
        await page.wait_for_selector("#link-state:has-text('online')")
        await page.wait_for_selector(notice)
        assert await page.locator("li.notice").count() == 1
        await page.close()
