"""The incident desk in Chromium against a real hub: the live list with its counts and filters, an
incident's page (actions, deadlines, evidence, history), what each role may see and do, and
reaching the grid from an incident (a call with video both ways, a briefing, an instruction)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.conftest import RunningHub, make_settings
from tests.web.conftest import (
    PHONE,
    ConsoleWatch,
    NewPage,
    axe_violations,
    hub_and_pages,
    log_in,
    require_axe,
    screenshot,
    wait_focus,
)
from tests.web.pages import log_in_to_desk, view_shows

ICE = {"ice_addresses": ["127.0.0.1"]}
DESKTOP = {"width": 1600, "height": 900}
STREET = {
    "id": "cam-street",
    "name": "Street",
    "url": "synthetic://street",
    "grid": "g1",
    "analysis": {"fps": 4, "width": 160, "height": 90},
    "postroll_s": 4,
}


class IncidentsPage:
    """``/#/incidents`` and ``/#/incidents/<id>``: the list, the state tabs, one incident's page, the
    call panel and the instruction dialog."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.title = page.locator("#view-title")
        self.rows = page.locator(".incident-list [data-incident]")
        self.scope_note = page.locator(".scope-note")
        self.detail = page.locator("[data-incident-page]")
        self.state_badge = page.locator("[data-incident-page] [data-role=state]")
        self.actions = page.locator(".incident-actions")
        self.action_message = page.locator(".action-message")
        self.reach = page.locator(".incident-reach")
        self.deadlines = page.locator(".deadlines")
        self.history = page.locator(".history")
        self.call_panel = page.locator(".call-panel")
        self.dialog = page.locator("dialog.instruction-dialog")

    async def open(self, incident: int | None = None) -> IncidentsPage:
        """Go to the list or an incident's page by its route (the page keeps its address otherwise)."""
        route = "#/incidents" + (f"/{incident}" if incident else "")
        if self.page.url.startswith(self.base_url + "/"):
            await self.page.evaluate("(route) => { location.hash = route; }", route)
        else:
            await self.page.goto(self.base_url + "/" + route)
        # The view before (the wall, after a login) has a title too: wait for the incidents' own parts.
        await self.page.locator(".state-tabs").wait_for()
        if incident is not None:
            shown = f"[data-incident-page='{incident}'], .incident-detail p[role=status]"
            await self.page.locator(shown).first.wait_for()
        return self

    def row(self, incident: int) -> Any:
        return self.page.locator(f".incident-list [data-incident='{incident}']")

    def tab(self, state: str) -> Any:
        return self.page.locator(f".state-tab[data-state='{state}']")

    async def count(self, state: str) -> str:
        return str(await self.tab(state).locator(".tab-count").get_attribute("data-count"))

    def action(self, to: str) -> Any:
        return self.page.locator(f".incident-actions button[data-action='{to}']")

    def confirm(self) -> Any:
        return self.page.locator(".action-form button[type=submit]")

    async def row_ids(self) -> list[int]:
        return [int(x) for x in await self.rows.evaluate_all("rows => rows.map(r => r.dataset.incident)")]


async def open_incidents(
    new_page: NewPage, base_url: str, username: str, viewport: dict[str, int] | None = None, lang: str | None = None
) -> IncidentsPage:
    page = await new_page(viewport=viewport)
    await log_in_to_desk(page, base_url, username, lang=lang)
    return await IncidentsPage(page, base_url).open()


async def create(c: httpx.AsyncClient, title: str, node: str | None, **extra: Any) -> dict[str, Any]:
    """Open an incident by hand (as the command center does) and return it."""
    body = {"category": "road_damage", "title": title, "node": node, **extra}
    r = await c.post("/api/incidents", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json()["incident"])


async def incident(c: httpx.AsyncClient, incident_id: int) -> dict[str, Any]:
    r = await c.get(f"/api/incidents/{incident_id}")
    r.raise_for_status()
    return dict(r.json()["incident"])


async def eventually(
    fn: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], what: str, timeout_s: float = 30
) -> Any:
    """Poll ``fn`` until ``ok`` holds for its value; the value."""
    t0 = time.monotonic()
    while True:
        value = await fn()
        if ok(value):
            return value
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------- screens


# P2 incidents climb a level one second after they have a place, and again a second later.
FAST_P2 = {
    "P1": {"ack_s": 120, "arrive_s": 600, "resolve_s": 3600, "assign_s": 600},
    "P2": {"ack_s": 300, "arrive_s": 1800, "resolve_s": 14400, "assign_s": 1},
    "P3": {"ack_s": 1800, "arrive_s": 14400, "resolve_s": 86400},
    "P4": {"ack_s": 3600, "arrive_s": 28800, "resolve_s": 172800},
}


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_list_and_incident_screens(tmp_path: Path, new_page: NewPage, lang: str, size: str) -> None:
    require_axe()
    async with hub_and_pages(make_settings(tmp_path, incidents={"deadlines": FAST_P2}), new_page) as (rh, new_page):
        async with await rh.client("dispatcher") as c:
            fire = await create(c, "Smoke from a shop's back door", "p1", severity="P1", category="fire")
            await create(c, "Water main leaking on Elm Road", "g2", severity="P2", category="water_leak")
            lamp = await create(c, "Street lamp out at the bus stop", "g3", severity="P4", category="street_light")
            r = await c.post(
                f"/api/incidents/{lamp['id']}/transitions",
                json={"to": "assigned", "version": lamp["version"], "assignee": {"person": "worker3"}},
            )
            assert r.status_code == 200, r.text
            await create(c, "Rubbish piled by the school gate", "g1", severity="P3", category="litter")
        viewport = PHONE if size == "phone" else DESKTOP
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=viewport, lang=lang)
        await desk.rows.nth(3).wait_for()
        await desk.page.locator(".flag-escalated").first.wait_for(timeout=15_000)
        await view_shows(desk.page, {"en": "Incidents", "zh": "事件"}[lang])
        # What needs attention comes first: the emergency and the escalated one before the rest.
        ids = await desk.row_ids()
        assert ids.index(fire["id"]) < ids.index(lamp["id"])
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, f"incidents-list-{lang}-{size}")

        await desk.row(fire["id"]).locator("a").click()
        await desk.detail.wait_for()
        await desk.page.locator(".reach-call").first.wait_for()
        await desk.deadlines.wait_for()
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, f"incidents-detail-{lang}-{size}")

        await desk.action("assigned").click()
        await desk.page.locator(".action-form .choice").first.wait_for()
        assert await axe_violations(desk.page) == []
        await desk.page.locator(".reach-instruction").click()
        await desk.dialog.wait_for()
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, f"incidents-instruction-{lang}-{size}")


# ---------------------------------------------------------------------------------------------- roles


async def test_every_role_sees_only_what_it_may(running: RunningHub, new_page: NewPage) -> None:
    async with await running.client("dispatcher") as c:
        mine = await create(c, "Broken bench in the park", "g1")
        theirs = await create(c, "Graffiti on the bridge", "g3")

    # The command center sees everything and may act and reach the grid.
    for staff in ("dispatcher", "coordinator", "admin"):
        desk = await open_incidents(new_page, running.url, staff)
        await desk.row(theirs["id"]).wait_for()
        assert set(await desk.row_ids()) == {mine["id"], theirs["id"]}
        assert not await desk.scope_note.count()
        await desk.open(mine["id"])
        await desk.action("verified").wait_for()
        await desk.reach.locator("button.reach-call").filter(has_text="Worker One").wait_for()
        # Closing needs a dispatcher's review: a coordinator never gets the button; nobody does while it is new.
        assert not await desk.action("closed").count()

    # A viewer follows everything but acts on nothing.
    desk = await open_incidents(new_page, running.url, "viewer")
    await desk.row(theirs["id"]).wait_for()
    assert set(await desk.row_ids()) == {mine["id"], theirs["id"]}
    assert "Read only" in await desk.scope_note.inner_text()
    await desk.open(mine["id"])
    await desk.history.wait_for()
    assert not await desk.actions.count()
    assert not await desk.reach.count()

    # A worker sees their grid's incident only, and cannot act before it is assigned to them.
    desk = await open_incidents(new_page, running.url, "worker1")
    await desk.row(mine["id"]).wait_for()
    assert await desk.row_ids() == [mine["id"]]
    assert "your grids" in await desk.scope_note.inner_text()
    await desk.open(mine["id"])
    await desk.history.wait_for()
    assert not await desk.reach.count()
    assert not await desk.page.locator(".incident-actions button[data-action]").count()
    await desk.open(theirs["id"])
    await desk.page.get_by_text(f"There is no incident {theirs['id']}, or it is not yours to see.").wait_for()
    assert not await desk.detail.count()


async def test_an_assigned_worker_acknowledges_from_the_desk(running: RunningHub, new_page: NewPage) -> None:
    async with await running.client("dispatcher") as c:
        inc = await create(c, "Fallen tree across the path", "g1")
        r = await c.post(
            f"/api/incidents/{inc['id']}/transitions",
            json={"to": "assigned", "version": inc["version"], "assignee": {"person": "worker1"}},
        )
        assert r.status_code == 200, r.text
    desk = await open_incidents(new_page, running.url, "worker1")
    await desk.open(inc["id"])
    await desk.action("acknowledged").click()
    await desk.state_badge.filter(has_text="Acknowledged").wait_for()
    async with await running.client("dispatcher") as c:
        assert (await incident(c, inc["id"]))["state"] == "acknowledged"


# ---------------------------------------------------------------------------------------------- actions


async def test_verify_and_assign_from_the_desk_change_the_incident(running: RunningHub, new_page: NewPage) -> None:
    async with await running.client("dispatcher") as c:
        inc = await create(c, "Manhole cover missing", "g1", severity="P2")
    desk = await open_incidents(new_page, running.url, "dispatcher")
    await desk.row(inc["id"]).locator("a").click()
    await desk.page.wait_for_url(f"**/#/incidents/{inc['id']}")
    await view_shows(desk.page, f"Incident {inc['id']}")

    await desk.action("verified").click()
    await desk.state_badge.filter(has_text="Verified").wait_for()
    await desk.action_message.filter(has_text="the incident is now Verified").wait_for()
    async with await running.client("dispatcher") as c:
        assert (await incident(c, inc["id"]))["state"] == "verified"

    # Assign: the hub's suggestion (the grid's on-duty worker) comes first and is chosen.
    await desk.action("assigned").click()
    choice = desk.page.locator(".action-form .choice").filter(has_text="Worker One")
    await choice.wait_for()
    assert await choice.locator("input").is_checked()
    await desk.page.locator("#action-note").fill("Bring a cone")
    await desk.confirm().click()
    await desk.state_badge.filter(has_text="Assigned").wait_for()
    async with await running.client("dispatcher") as c:
        now = await incident(c, inc["id"])
    assert now["state"] == "assigned" and now["assignee_person"] == "worker1"
    # Its page shows the new deadlines counting down, and the assignment in the history.
    await desk.page.locator(".deadlines tr[data-deadline=ack][data-status=running]").wait_for()
    first = await desk.page.locator(".deadlines tr[data-deadline=ack] .deadline-status").inner_text()
    await desk.page.wait_for_function(
        "(first) => document.querySelector('.deadlines tr[data-deadline=ack] .deadline-status').textContent !== first",
        arg=first,
    )
    assigned = desk.history.locator("[data-type='incident.assigned']")
    assert "Worker One" in await assigned.inner_text() and "Bring a cone" in await assigned.inner_text()
    await desk.page.locator(".deadlines tr[data-deadline=assign][data-status=done]").wait_for()


async def test_a_conflict_is_explained_and_the_incident_reloaded(
    running: RunningHub, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 409")
    async with await running.client("dispatcher") as c:
        inc = await create(c, "Noise complaint", "g1")
    desk = await open_incidents(new_page, running.url, "dispatcher")
    await desk.open(inc["id"])
    await desk.action("dismissed").wait_for()
    # This desk loses its live feed; meanwhile another dispatcher verifies the incident.
    await desk.page.evaluate("async () => (await import('/web/api/feed.js')).stopFeed()")
    async with await running.client("admin") as c:
        r = await c.post(f"/api/incidents/{inc['id']}/transitions", json={"to": "verified", "version": inc["version"]})
        assert r.status_code == 200, r.text
    assert await desk.state_badge.inner_text() == "New"  # still what this desk saw
    await desk.action("dismissed").click()
    await desk.page.locator("#action-note").fill("Nothing there")
    await desk.confirm().click()
    await desk.action_message.filter(has_text="Someone else changed this incident").wait_for()
    await desk.state_badge.filter(has_text="Verified").wait_for()
    async with await running.client("dispatcher") as c:
        assert (await incident(c, inc["id"]))["state"] == "verified"  # the stale dismissal did nothing
    # Now current, the same step goes through.
    await desk.action("dismissed").click()
    await desk.confirm().click()
    await desk.state_badge.filter(has_text="Dismissed").wait_for()


async def test_merge_resolve_close_and_reopen_each_ask_for_what_they_need(
    running: RunningHub, new_page: NewPage
) -> None:
    async with await running.client("dispatcher") as c:
        keep = await create(c, "Pothole on Station Road", "g1")
        again = await create(c, "Deep hole in the road by the station", "g1")
    desk = await open_incidents(new_page, running.url, "dispatcher")
    await desk.open(again["id"])
    await desk.action("merged").click()
    target = desk.page.locator("#action-merge")
    await target.locator(f"option[value='{keep['id']}']").wait_for(state="attached")
    await target.select_option(str(keep["id"]))
    await desk.confirm().click()
    await desk.state_badge.filter(has_text="Merged").wait_for()
    await desk.page.locator(f".facts a[href='#/incidents/{keep['id']}']").click()
    await desk.page.wait_for_url(f"**/#/incidents/{keep['id']}")
    await desk.detail.and_(desk.page.locator(f"[data-incident-page='{keep['id']}']")).wait_for()

    # Assign (keyboard: the form takes the focus on the hub's first suggestion), then resolve.
    await desk.reach.locator(".reach-call[data-person=worker1]").wait_for()  # the suggestions are in
    await desk.action("assigned").click()
    await wait_focus(desk.page, "el.value", "person:worker1")
    await desk.page.keyboard.press("Enter")
    await desk.state_badge.filter(has_text="Assigned").wait_for()
    await desk.action("acknowledged").click()  # on the worker's behalf (they phoned it in)
    await desk.state_badge.filter(has_text="Acknowledged").wait_for()
    await desk.action("resolved").click()
    note = desk.page.locator("#action-note")
    assert await note.get_attribute("required") is not None  # resolving needs feedback
    await desk.confirm().click()
    assert await desk.state_badge.inner_text() == "Acknowledged"  # the browser asked for the note first
    await note.fill("Filled with cold asphalt; a crew will resurface it on Monday.")
    await desk.confirm().click()
    await desk.state_badge.filter(has_text="Resolved").wait_for()
    assert "cold asphalt" in await desk.page.locator(".incident-feedback").inner_text()

    # The review: close it, then reopen it with a reason.
    await desk.action("closed").click()
    await desk.state_badge.filter(has_text="Closed").wait_for()
    await desk.action("reopened").click()
    await desk.page.locator("#action-note").fill("Residents report the hole is back")
    await desk.confirm().click()
    await desk.state_badge.filter(has_text="Reopened").wait_for()
    async with await running.client("dispatcher") as c:
        assert (await incident(c, again["id"]))["merged_into"] == keep["id"]
        assert (await incident(c, keep["id"]))["state"] == "reopened"
    history = await desk.history.inner_text()
    for step in ("Resolved", "Closed", "Reopened", "Residents report the hole is back"):
        assert step in history


async def test_an_escalated_incident_climbs_the_list_and_shows_its_missed_deadline(
    tmp_path: Path, new_page: NewPage
) -> None:
    async with hub_and_pages(make_settings(tmp_path, incidents={"deadlines": FAST_P2}), new_page) as (rh, new_page):
        async with await rh.client("dispatcher") as c:
            older = await create(c, "Overflowing bins", "g1", severity="P3")
            escalating = await create(c, "Cracked wall of the footbridge", "g1", severity="P2")
        desk = await open_incidents(new_page, rh.url, "dispatcher")
        await desk.row(escalating["id"]).locator(".flag-escalated").wait_for(timeout=15_000)
        # Escalated goes above new, even an older new one.
        await eventually(desk.row_ids, lambda ids: ids == [escalating["id"], older["id"]], "the escalated first")
        await desk.open(escalating["id"])
        missed = desk.page.locator(".deadlines tr[data-deadline=assign][data-status=fired]").first
        await missed.wait_for(timeout=15_000)
        assert "Missed: escalated at" in await missed.inner_text()
        await desk.history.locator("[data-type='incident.escalated']").first.wait_for()
        await desk.detail.locator(".facts .flag-escalated").wait_for()


# ---------------------------------------------------------------------------------------------- live list


async def test_the_list_follows_new_incidents_live(running: RunningHub, new_page: NewPage) -> None:
    desk = await open_incidents(new_page, running.url, "dispatcher")
    await desk.page.locator(".incident-list-box").wait_for()
    await desk.page.locator(".state-tab[data-state=new] .tab-count[data-count='0']").wait_for()
    await desk.page.evaluate("() => { window.sameDocument = true; }")
    async with await running.client("coordinator") as c:
        first = await create(c, "Burst pipe flooding the underpass", "g1", severity="P1")
        await desk.row(first["id"]).wait_for()
        await desk.page.locator(".state-tab[data-state=new] .tab-count[data-count='1']").wait_for()
        second = await create(c, "Abandoned car", "g3", severity="P4")
        await desk.row(second["id"]).wait_for()
        await desk.page.locator(".state-tab[data-state=new] .tab-count[data-count='2']").wait_for()
        r = await c.post(
            f"/api/incidents/{second['id']}/transitions", json={"to": "verified", "version": second["version"]}
        )
        assert r.status_code == 200
    await desk.row(second["id"]).locator(".state-badge").filter(has_text="Verified").wait_for()
    assert await desk.count("verified") == "1" and await desk.count("new") == "1" and await desk.count("open") == "2"
    # The emergency stays on top; nothing was reloaded.
    assert await desk.row_ids() == [first["id"], second["id"]]
    assert await desk.page.evaluate("() => window.sameDocument === true")

    # Filters apply to the list and the counts alike.
    await desk.page.select_option("#filter-node", "c2")
    await desk.page.locator(".state-tab[data-state=new] .tab-count[data-count='0']").wait_for()
    assert await desk.row_ids() == [second["id"]]
    await desk.page.select_option("#filter-node", "")
    await desk.page.select_option("#filter-source", "camera")
    await desk.page.locator(".incident-list-box .empty").wait_for()
    await desk.page.select_option("#filter-source", "manual")
    await desk.tab("verified").click()
    await eventually(desk.row_ids, lambda ids: ids == [second["id"]], "the verified tab")


# ---------------------------------------------------------------------------------------------- instruction


async def test_an_instruction_from_an_incident_reaches_its_grid(running: RunningHub, new_page: NewPage) -> None:
    async with await running.client("dispatcher") as c:
        inc = await create(c, "Gas smell near the market", "p1", severity="P2", category="gas_smell")
    desk = await open_incidents(new_page, running.url, "dispatcher")
    await desk.open(inc["id"])
    await desk.reach.locator(".reach-instruction").filter(has_text="Instruction to Grid 1").click()
    await desk.dialog.wait_for()
    assert "To everyone serving Grid 1" in await desk.dialog.inner_text()
    text = desk.dialog.locator("textarea")
    assert await text.input_value() == f"Incident #{inc['id']} (Gas smell): "  # category's words
    await text.fill("Keep people away from the market's east gate until the gas company arrives.")
    assert await desk.dialog.get_by_label("Urgent").is_checked()  # from the incident's severity
    await desk.dialog.get_by_label("Emergency").check()
    await desk.dialog.locator("#instruction-deadline").select_option("900")
    await desk.dialog.get_by_role("button", name="Send").click()
    await desk.reach.locator(".reach-sent").filter(has_text="sent to").wait_for()
    assert not await desk.dialog.is_visible()
    async with await running.client("coordinator") as c:
        sent = (await c.get("/api/instructions")).json()[0]
    assert sent["targets"]["nodes"] == ["g1"]
    assert sent["priority"] == "emergency"
    assert sent["text"].startswith("Keep people away")
    assert sent["deadline_at"] is not None
    assert sent["recipients"] >= 1


# ---------------------------------------------------------------------------------------------- camera


async def camera_incident(c: httpx.AsyncClient) -> dict[str, Any] | None:
    """The first incident a camera alert opened, once its snapshot is linked; else None."""
    found = (await c.get("/api/incidents", params={"source": "camera"})).json()
    if not found:
        return None
    page = (await c.get(f"/api/incidents/{found[-1]['id']}")).json()
    kinds = {e["kind"] for e in page["evidence"]}
    return dict(page["incident"]) if {"snapshot", "clip"} <= kinds else None


async def test_a_camera_incident_shows_its_snapshot_and_clip(
    tmp_path: Path, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404")  # the clip, asked for while it is still being written
    camera = {**STREET, "postroll_s": 12}
    async with hub_and_pages(make_settings(tmp_path, cameras=[camera], server=ICE), new_page) as (rh, new_page):
        desk = await open_incidents(new_page, rh.url, "dispatcher")
        # The street's motion opens an incident: it comes into the list by itself.
        row = desk.page.locator(".incident-list [data-incident]").filter(has_text="Street")
        await row.first.wait_for(timeout=60_000)
        async with await rh.client("dispatcher") as c:
            inc = await eventually(lambda: camera_incident(c), lambda i: i is not None, "the alert's evidence", 60)
        await desk.row(inc["id"]).locator("a").click()
        await desk.detail.wait_for()
        assert "Motion at Street" in await desk.page.locator(".incident-title").inner_text()
        snapshot = desk.page.locator(".evidence[data-kind=snapshot] img").first
        await snapshot.wait_for(timeout=30_000)
        await desk.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=await snapshot.element_handle()
        )
        assert (await snapshot.get_attribute("src") or "").startswith("blob:")
        # The clip is written after the post-roll: until then the page says so, then it plays inline.
        writing = desk.page.locator(".evidence[data-kind=clip][data-state=writing]").first
        await writing.filter(has_text="Clip being written").wait_for(timeout=10_000)
        clip = desk.page.locator(f".evidence[data-evidence='{await writing.get_attribute('data-evidence')}']")
        video = clip.locator("video")
        more = desk.page.locator(".incident-section button").filter(has_text="more")

        async def shown() -> int:
            # Further alerts fold in meanwhile, each with its own evidence: keep this clip in view.
            if await more.count():
                await more.click()
            if await clip.count():
                await clip.scroll_into_view_if_needed()
            return int(await video.count())

        await eventually(shown, lambda n: n == 1, "the clip to be written and shown", 60)
        await desk.page.wait_for_function(
            "(v) => v.readyState >= 1 && v.duration > 1", arg=await video.element_handle(), timeout=30_000
        )
        assert await axe_violations(desk.page) == []


# ---------------------------------------------------------------------------------------------- calls


WORKER_STATS_JS = """async () => {
  const pc = window.skyhubCall.pc;
  let video = 0;
  if (pc) (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") video += s.framesDecoded || 0;
  });
  return video;
}"""

DESK_FRAMES_JS = """() => {
  const v = document.querySelector(".call-panel video.call-remote");
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


async def open_call_page(browser: Any, base_url: str, username: str) -> Any:
    """The worker's call page (``/web/call.html``), logged in and reachable. Its console is not
    watched: it is the older page, which DELETEs its media session after the hub ended it (404)."""
    page = await (await browser.new_context()).new_page()
    await log_in(page, base_url + "/web/call.html", username, "#phone:not([hidden])")
    await page.wait_for_selector("body[data-calls=connected]")
    return page


async def live_calls(rh: RunningHub) -> list[dict[str, Any]]:
    async with await rh.client("admin") as c:
        return [x for x in (await c.get("/api/calls")).json() if x["state"] != "ended"]


async def test_a_call_and_a_briefing_from_an_incident_reach_its_grid(
    tmp_path: Path, browser: Any, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 404 .*/evidence/")  # the alert's clip, asked for while it is being written
    async with hub_and_pages(make_settings(tmp_path, cameras=[STREET], server=ICE), new_page) as (rh, new_page):
        worker = await open_call_page(browser, rh.url, "worker1")
        async with await rh.client("dispatcher") as c:
            inc = await eventually(lambda: camera_incident(c), lambda i: i is not None, "a camera incident", 60)
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.open(inc["id"])

        # One click calls the grid's worker; they answer on their call page.
        await desk.reach.locator(".reach-call[data-person=worker1]").click()
        await desk.call_panel.filter(has_text="Call with Worker One").wait_for()
        await worker.wait_for_selector("#incoming:not([hidden])", timeout=15_000)
        assert "dispatcher is calling" in await worker.inner_text("#incoming-text")
        await worker.click("#accept")
        await desk.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
        # Video both ways: the worker's camera on the desk, the dispatcher's camera on the phone.
        await eventually(lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "the worker's video", 60)
        seen = await eventually(lambda: worker.evaluate(WORKER_STATS_JS), lambda n: n > 10, "the desk's video", 60)
        assert await desk.page.locator(".call-panel video.call-self").count() == 1
        assert await axe_violations(desk.page) == []
        await screenshot(desk.page, "incidents-call-en-desktop")
        await desk.page.set_viewport_size(PHONE)
        await screenshot(desk.page, "incidents-call-en-phone")
        await desk.page.locator("select[name=lang]").select_option("zh")
        await desk.call_panel.filter(has_text="与Worker One通话").wait_for()
        await screenshot(desk.page, "incidents-call-zh-phone")
        await desk.page.set_viewport_size(DESKTOP)
        await screenshot(desk.page, "incidents-call-zh-desktop")
        await desk.page.locator("select[name=lang]").select_option("en")

        # Pull the incident's camera into the call: the worker now sees the street, still live.
        await desk.call_panel.get_by_role("button", name="Show Street").click()
        await desk.call_panel.get_by_role("button", name="Show my video").wait_for()
        assert [x["camera"] for x in await live_calls(rh)] == ["cam-street"]
        await eventually(lambda: worker.evaluate(WORKER_STATS_JS), lambda n: n > seen + 20, "the camera's video", 60)

        # Hang up: the call ends on both sides and in the hub.
        await desk.call_panel.get_by_role("button", name="Hang up").click()
        await desk.call_panel.wait_for(state="detached")
        await worker.wait_for_selector("#status:has-text('Call ended')", timeout=15_000)
        await eventually(lambda: live_calls(rh), lambda calls: calls == [], "the call to end")

        # A briefing for the grid: the desk shows who joined, and ends it for everyone.
        await desk.reach.locator(".reach-briefing").click()
        await desk.call_panel.filter(has_text="Briefing for Grid 1").wait_for()
        await worker.wait_for_selector("#incoming:not([hidden])", timeout=15_000)
        await worker.click("#accept")
        await desk.call_panel.locator("[data-member=worker1][data-state=accepted]").wait_for(timeout=30_000)
        await desk.call_panel.filter(has_text="1 listener joined").wait_for(timeout=30_000)
        await desk.call_panel.get_by_role("button", name="End briefing").click()
        await desk.call_panel.wait_for(state="detached")
        await eventually(lambda: live_calls(rh), lambda calls: calls == [], "the briefing to end")
        await worker.wait_for_selector("#status:has-text('Call ended')", timeout=15_000)


FOLLOW_CALLS_JS = """async () => {
  const rtc = await import("/web/api/rtc.js");
  window.incoming = null;
  window.callsChannel = "";
  rtc.followCalls(
    (msg) => {
      for (const c of msg.op === "calls" ? msg.calls : [msg.call]) {
        if (c.state === "ringing" && c.members.some((m) => m.username === "worker1" && m.state === "invited")) {
          window.incoming = c;
        }
      }
    },
    (state) => { window.callsChannel = state; },
  );
}"""


async def test_the_call_panel_on_both_sides_of_a_call(tmp_path: Path, new_page: NewPage) -> None:
    """The panel is for any page: here the worker answers in it too (joinCall), and the desk is told
    when the worker hangs up."""
    async with hub_and_pages(make_settings(tmp_path, server=ICE), new_page) as (rh, new_page):
        async with await rh.client("dispatcher") as c:
            inc = await create(c, "Water in the basement car park", "g1")
        worker = await open_incidents(new_page, rh.url, "worker1")
        await worker.page.evaluate(FOLLOW_CALLS_JS)
        await worker.page.wait_for_function("() => window.callsChannel === 'connected'")
        desk = await open_incidents(new_page, rh.url, "dispatcher")
        await desk.open(inc["id"])
        await desk.reach.locator(".reach-call[data-person=worker1]").click()
        await desk.call_panel.filter(has_text="Ringing Worker One").wait_for()

        await worker.page.wait_for_function("() => window.incoming !== null")
        await worker.page.evaluate("async () => (await import('/web/hooks/use-call.js')).joinCall(window.incoming)")
        for side in (worker, desk):
            await side.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
            await eventually(lambda p=side.page: p.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "video", 60)
        assert "Call with dispatcher" in await worker.call_panel.inner_text()

        await worker.call_panel.get_by_role("button", name="Hang up").click()
        await worker.call_panel.wait_for(state="detached")
        await desk.call_panel.filter(has_text="Call ended: worker1 hung up.").wait_for(timeout=15_000)
        assert not await desk.page.locator(".call-panel video").count()  # the media is let go
        await desk.call_panel.get_by_role("button", name="Close").click()
        await desk.call_panel.wait_for(state="detached")
        await desk.reach.locator(".reach-call[data-person=worker1]:not([disabled])").wait_for()
