"""The desk's call panel in Chromium against a real hub: floor control in a briefing started from
the desk (who joined, who holds the floor and who asks for it, give and take back the floor, a
camera pulled in, the briefing ended), and a call that goes on after the desk is reloaded. The
workers' phones are aiortc peers on loopback (real WebRTC: their tones and pictures are what the
hub sends them), each with its own login."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.calls.conftest import (  # noqa: F401  (fixtures: aiortc peers and call channels)
    BoxVideoTrack,
    ToneTrack,
    api,
    call_page,
    calls_settings,
    peers,
    poll,
)
from tests.hub.conftest import BASE_CONFIG, RunningHub
from tests.web.conftest import PHONE, NewPage, axe_violations, hub_and_pages, require_axe, screenshot
from tests.web.test_desk_incidents import DESK_FRAMES_JS, DESKTOP, create, eventually, open_incidents

TONE_HZ = {"worker1": 500.0, "worker2": 900.0}


def briefing_settings(tmp_path: Path) -> Any:
    """Two workers on duty in grid 1 (the test district has worker2 off duty in grid 2)."""
    directory = copy.deepcopy(BASE_CONFIG["directory"])
    for person in directory["people"]:
        if person["id"] == "worker2":
            person.update(grids=["g1"], on_duty=True)
    return calls_settings(tmp_path, directory=directory)


def listener_slots(username: str) -> list[Any]:
    """A listener's phone: its microphone, the floor holder's voice, the speaker's picture."""
    return [
        ("audio", "sendrecv", ToneTrack(TONE_HZ[username])),
        ("audio", "recvonly", None),
        ("video", "recvonly", None),
    ]


def heard(peer: Any, want_hz: float) -> bool:
    """Whether the floor line (m-line 1) of a listener's phone carries ``want_hz`` (0: silence)."""
    hz = peer.heard_hz(1)
    return abs(hz - want_hz) < 30 if want_hz else hz == 0.0


async def hub_call(rh: RunningHub, call_id: str) -> dict[str, Any]:
    async with await api(rh, "dispatcher") as c:
        r = await c.get(f"/api/calls/{call_id}")
        r.raise_for_status()
        return dict(r.json())


async def my_calls(rh: RunningHub, username: str) -> list[dict[str, Any]]:
    async with await api(rh, username) as c:
        r = await c.get("/api/calls", params={"mine": "true"})
        r.raise_for_status()
        return list(r.json())


async def test_floor_control_in_the_desks_briefing_panel(
    tmp_path: Path,
    new_page: NewPage,
    peers: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    require_axe()
    async with hub_and_pages(briefing_settings(tmp_path), new_page) as (rh, new_page):
        async with await rh.client("dispatcher") as c:
            inc = await create(c, "Crowd gathering at the school gate", "g1")
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.open(inc["id"])
        panel = desk.call_panel

        # The briefing starts from the incident; both workers on duty in the grid are invited.
        await desk.reach.locator(".reach-briefing").click()
        await panel.filter(has_text="Briefing for Grid 1").wait_for()
        (call,) = await eventually(lambda: my_calls(rh, "dispatcher"), lambda cs: len(cs) == 1, "the briefing")
        cid = call["id"]
        assert {m["username"]: m["state"] for m in call["members"]} == {
            "dispatcher": "accepted",
            "worker1": "invited",
            "worker2": "invited",
        }
        await panel.locator("[data-member=worker2][data-state=invited]").wait_for()

        # Both join from their phones, and see the dispatcher.
        phones = {u: peers(listener_slots(u)) for u in TONE_HZ}
        clients = {u: await api(rh, u) for u in TONE_HZ}
        try:
            for u, phone in phones.items():
                r = await phone.connect(clients[u], f"/api/calls/{cid}/media")
                assert r.status_code == 201, r.text
            for u in TONE_HZ:
                await panel.locator(f"[data-member={u}][data-state=accepted]").wait_for(timeout=30_000)
            await panel.filter(has_text="Live: 2 listeners joined").wait_for(timeout=30_000)
            await panel.filter(has_text="Nobody has the floor").wait_for()
            await poll(lambda: all(p.frames.get(2, 0) >= 10 for p in phones.values()), 60, "the desk's video")

            # Worker One asks to speak (on the phone): the panel shows the request.
            r = await clients["worker1"].post(f"/api/calls/{cid}/floor", json={"action": "request"})
            assert r.status_code == 200, r.text
            await panel.locator("[data-member=worker1][data-floor=waiting]").wait_for()
            await panel.filter(has_text="1 asks to speak.").wait_for()

            # The dispatcher gives them the floor: the hub moves it and the group hears them.
            await panel.get_by_role("button", name="Give the floor to Worker One").click()
            await panel.locator("[data-member=worker1][data-floor=holder]").wait_for()
            await panel.locator(".call-floor").filter(has_text="Worker One has the floor").wait_for()
            assert (await hub_call(rh, cid))["floor"] == {"holder": "worker1", "waiting": {}}
            await poll(lambda: heard(phones["worker2"], TONE_HZ["worker1"]), 20, "worker2 hearing worker1")
            assert await axe_violations(desk.page) == []
            await screenshot(desk.page, "desk-briefing-en-desktop")
            await desk.page.set_viewport_size(PHONE)
            await screenshot(desk.page, "desk-briefing-en-phone")
            await desk.page.locator("select[name=lang]").select_option("zh")
            await panel.locator(".call-floor").filter(has_text="Worker One正在发言").wait_for()
            assert await axe_violations(desk.page) == []
            await screenshot(desk.page, "desk-briefing-zh-phone")
            await desk.page.set_viewport_size(DESKTOP)
            await screenshot(desk.page, "desk-briefing-zh-desktop")
            await desk.page.locator("select[name=lang]").select_option("en")

            # Then to Worker Two, who had not asked: Worker One now hears them on the floor line.
            await panel.get_by_role("button", name="Give the floor to Worker Two").click()
            await panel.locator("[data-member=worker2][data-floor=holder]").wait_for()
            assert (await hub_call(rh, cid))["floor"] == {"holder": "worker2", "waiting": {}}
            await panel.locator("[data-member=worker1][data-floor=none]").wait_for()
            await poll(lambda: heard(phones["worker1"], TONE_HZ["worker2"]), 20, "worker1 hearing worker2")

            # Muting Worker Two takes the floor back: nobody's voice reaches the group any more.
            await panel.get_by_role("button", name="Mute Worker Two (take the floor back)").click()
            await panel.locator(".call-floor").filter(has_text="Nobody has the floor").wait_for()
            assert (await hub_call(rh, cid))["floor"] == {"holder": None, "waiting": {}}
            await poll(lambda: heard(phones["worker1"], 0), 20, "silence on worker1's floor line")
            assert not await panel.locator(".call-revoke").count()

            # The street camera into the briefing: the phones get its own packets, still moving.
            await panel.get_by_label("The group sees").select_option("cam-street")
            note = panel.locator(".call-camera-note")
            await note.filter(has_text="cam-street is shown in place of your video.").wait_for()
            assert (await hub_call(rh, cid))["camera"] == "cam-street"
            relay = rh.hub.cameras.get("cam-street").relay
            for u in TONE_HZ:
                assert rh.hub.calls.calls[cid].members[u].video_out.source is relay
            seen = {u: p.frames[2] for u, p in phones.items()}
            await poll(lambda: all(p.frames[2] >= seen[u] + 10 for u, p in phones.items()), 60, "the camera's video")

            # Ending it ends it for everyone.
            await panel.get_by_role("button", name="End briefing").click()
            await panel.wait_for(state="detached")
            assert (await hub_call(rh, cid))["state"] == "ended"
            await poll(
                lambda: all(p.pc.connectionState in ("closed", "failed") for p in phones.values()),
                30,
                "the phones' connections closed by the hub",
            )
        finally:
            for client in clients.values():
                await client.aclose()


async def test_the_desk_rejoins_its_call_after_a_reload(
    tmp_path: Path,
    new_page: NewPage,
    peers: Any,  # noqa: F811  (the fixtures imported above)
    call_page: Any,  # noqa: F811
) -> None:
    async with hub_and_pages(calls_settings(tmp_path), new_page) as (rh, new_page):
        channel = await call_page(rh, "worker1")  # the worker's phone is reachable
        async with await rh.client("dispatcher") as c:
            inc = await create(c, "Water in the basement car park", "g1")
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.open(inc["id"])
        await desk.reach.locator(".reach-call[data-person=worker1]").click()
        (call,) = await eventually(lambda: my_calls(rh, "dispatcher"), lambda cs: len(cs) == 1, "the call")
        cid = call["id"]
        await poll(lambda: (channel.last(cid) or {}).get("state") == "ringing", 15, "the worker's phone ringing")
        phone = peers([("audio", "sendrecv", ToneTrack(700.0)), ("video", "sendrecv", BoxVideoTrack())])
        async with await api(rh, "worker1") as w:
            assert (await phone.connect(w, f"/api/calls/{cid}/media")).status_code == 201
        await desk.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
        await eventually(lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "the worker's video", 60)
        await poll(lambda: phone.frames.get(1, 0) >= 10, 60, "the desk's video on the phone")

        # The dispatcher reloads the desk: the call is back on the page, video both ways again.
        await desk.page.reload()
        await desk.call_panel.filter(has_text="Call with Worker One").wait_for(timeout=30_000)
        await desk.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
        await eventually(lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "the worker's video again", 60)
        # The page that was reloaded holds no connection any more: what the phone decodes from now
        # on comes from the reloaded page.
        seen = phone.frames[1]
        await poll(lambda: phone.frames[1] >= seen + 20, 60, "the desk's video on the phone again")
        (again,) = await my_calls(rh, "dispatcher")
        assert again["id"] == cid and again["state"] == "active"
        assert {m["username"]: (m["state"], m["media"]) for m in again["members"]} == {
            "dispatcher": ("accepted", True),
            "worker1": ("accepted", True),
        }
        async with await rh.client("admin") as a:
            events = (await a.get("/api/events", params={"type": "call.", "subject": cid})).json()["events"]
        joined = [e["data"]["member"] for e in events if e["type"] == "call.joined"]
        assert joined.count("dispatcher") == 2 and "call.ended" not in [e["type"] for e in events]

        # A duplicated tab remembers the same call, but the first tab is still in it: the copy leaves
        # it there and says so (after waiting a while for the hub to let go of a connection).
        async with desk.page.context.expect_page() as opened:
            await desk.page.evaluate("() => { window.open(location.href); }")
        copy = await opened.value
        elsewhere = copy.locator(".call-panel[data-phase=failed]")
        await elsewhere.filter(has_text="This call is connected on another page of yours").wait_for(timeout=60_000)
        await copy.close()
        seen = phone.frames[1]
        await poll(lambda: phone.frames[1] >= seen + 20, 30, "the desk's video on the phone, still")
        assert await desk.page.locator(".call-panel[data-phase=connected]").count() == 1
        (again,) = await my_calls(rh, "dispatcher")
        assert [m["media"] for m in again["members"]] == [True, True]

        # The browser is closed instead: the hub keeps the dispatcher's place for a while, and a desk
        # opened afresh (nothing remembered) offers the call, which carries on once rejoined.
        await desk.page.context.close()
        await poll(lambda: _rejoin_by(rh, cid, "dispatcher"), 30, "the hub noticing the desk has gone")
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.page.locator(".call-panel[data-phase=away]").wait_for(timeout=15_000)
        offer = desk.call_panel.filter(has_text="Call with Worker One")
        await offer.filter(has_text="You are still in this call").wait_for()
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, "desk-call-away-en-desktop")
        await desk.page.set_viewport_size(PHONE)
        await desk.page.locator("select[name=lang]").select_option("zh")
        await desk.call_panel.filter(has_text="重新加入").wait_for()
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, "desk-call-away-zh-phone")
        await desk.page.locator("select[name=lang]").select_option("en")
        await desk.page.set_viewport_size(DESKTOP)
        await desk.call_panel.get_by_role("button", name="Rejoin").click()
        await desk.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
        await eventually(lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "the worker's video at last", 60)
        seen = phone.frames[1]
        await poll(lambda: phone.frames[1] >= seen + 20, 60, "the desk's video on the phone at last")
        (again,) = await my_calls(rh, "dispatcher")
        assert again["id"] == cid and again["state"] == "active"

        # Hanging up from the new page ends the call on both sides.
        await desk.call_panel.get_by_role("button", name="Hang up").click()
        await desk.call_panel.wait_for(state="detached")
        await poll(lambda: (channel.last(cid) or {}).get("state") == "ended", 15, "the phone told the call ended")
        assert await my_calls(rh, "dispatcher") == []


async def _rejoin_by(rh: RunningHub, call_id: str, username: str) -> bool:
    """Whether ``username``'s media in the call is lost and the hub waits for them to rejoin."""
    call = await hub_call(rh, call_id)
    return any(m["username"] == username and m["rejoin_by"] and not m["media"] for m in call["members"])


async def test_my_calls_lists_the_callers_own_calls(running: RunningHub) -> None:
    async with await running.client("dispatcher") as d:
        r = await d.post("/api/briefings", json={"node": "g1"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
    for username, everyone, mine in (
        ("dispatcher", [cid], [cid]),  # who started it
        ("coordinator", [cid], []),  # staff see every live call, but it is not theirs
        ("worker1", [cid], [cid]),  # invited
        ("worker2", [], []),  # off duty: not invited
    ):
        async with await running.client(username) as c:
            assert [x["id"] for x in (await c.get("/api/calls")).json()] == everyone, username
            assert [x["id"] for x in (await c.get("/api/calls", params={"mine": "true"})).json()] == mine, username
    async with await running.client("dispatcher") as d:
        r = await d.get("/api/calls", params={"mine": "perhaps"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "mine"]
