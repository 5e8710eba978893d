"""A briefing started from the console, for a place where an instruction is not yet acknowledged:
its on-duty workers are rung, join from their phones (aiortc peers on loopback), and the floor moves
when the console gives it. The call panel is the desk's own (tested in test_desk_calls.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calls.conftest import api, peers, poll  # noqa: F401  (fixtures: aiortc peers)
from tests.web.conftest import NewPage, axe_violations, hub_and_pages, require_axe, screenshot
from tests.web.test_console import ConsolePage
from tests.web.test_desk_calls import TONE_HZ, briefing_settings, hub_call, listener_slots, my_calls


async def test_a_briefing_from_the_console_rings_the_place_and_moves_the_floor(
    tmp_path: Path,
    new_page: NewPage,
    peers: Any,  # noqa: F811  (the fixture imported above)
) -> None:
    require_axe()
    async with hub_and_pages(briefing_settings(tmp_path), new_page) as (rh, make_page):
        async with await rh.client("coordinator") as c:
            r = await c.post("/api/instructions", json={"text": "Check the pumps", "targets": {"nodes": ["g1"]}})
            iid = r.json()["instruction"]["id"]
        page = await make_page()
        console = await (await ConsolePage(page, rh.url).open()).ready()
        await page.goto(f"{rh.url}/console#/instructions/{iid}")
        await console.wait_count(iid, "sent", 2)
        detail = console.detail
        for place in ("District", "Street 1", "Community 1", "Grid 1"):
            await detail.locator(".breakdown").get_by_role("button", name=place, exact=True).click()
        await detail.get_by_role("button", name="Brief the on-duty people of Grid 1").click()
        panel = page.locator(".call-panel")
        await panel.filter(has_text="Briefing for Grid 1").wait_for()
        (call,) = await poll(lambda: my_calls(rh, "coordinator"), 30, "the briefing")
        cid = call["id"]
        assert {m["username"]: m["state"] for m in call["members"]} == {
            "coordinator": "accepted",
            "worker1": "invited",
            "worker2": "invited",
        }
        phones = {u: peers(listener_slots(u)) for u in TONE_HZ}
        clients = {u: await api(rh, u) for u in TONE_HZ}
        try:
            for u, phone in phones.items():
                r = await phone.connect(clients[u], f"/api/calls/{cid}/media")
                assert r.status_code == 201, r.text
            for u in TONE_HZ:
                await panel.locator(f"[data-member={u}][data-state=accepted]").wait_for(timeout=30_000)
            await panel.get_by_role("button", name="Give the floor to Worker One").click()
            await panel.locator("[data-member=worker1][data-floor=holder]").wait_for()
            assert (await hub_call(rh, cid))["floor"] == {"holder": "worker1", "waiting": {}}
            assert await axe_violations(page) == []
            await screenshot(page, "console-briefing-en-desktop")
            await panel.get_by_role("button", name="End briefing").click()
            await panel.wait_for(state="detached")
            assert (await hub_call(rh, cid))["state"] == "ended"
        finally:
            for client in clients.values():
                await client.aclose()
