"""The grid worker's phone app (/worker) in a real Chromium at phone size: instructions that take
over the screen, calls and briefings, the outbox through a dead spot, my incidents, reports with
photos and position, going live; every screen in both languages, axe-clean."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from alerts.clock import ManualClock
from hub.store.events import EventFilter
from tests.calls.conftest import BoxVideoTrack, ToneTrack, api, calls_settings, poll
from tests.calls.test_calls import call_slots
from tests.calls.test_interop import CHROMIUM_WATCH_S, WATCH_JS
from tests.conftest import REPO, free_port
from tests.hub.conftest import PASSWORD, RunningHub, make_settings, serve
from tests.hub.test_instructions import leaders_settings
from tests.web.conftest import (
    MIC_HZ,
    PHONE,
    ConsoleWatch,
    DeadSpot,
    NewPage,
    PhoneCA,
    WatchedContexts,
    axe_violations,
    hub_and_pages,
    require_axe,
    screenshot,
    trusting_browser,
)
from tests.web.pages import until_true
from tests.web.test_desk_incidents import DESK_FRAMES_JS, DESKTOP, create, eventually, open_incidents

SHELL_KEPT = """async () => !!navigator.serviceWorker.controller
  && !!(await caches.match('/worker')) && !!(await caches.match('/web/views/worker/worker-app.js'))"""
"""True once the service worker has taken the page over with the app shell kept: the app opens offline."""

HERE = {"latitude": 31.2304, "longitude": 121.4737}
"""Where the test phone says it is."""

RECORD_ALARMS = """
window.alarms = [];
Object.defineProperty(navigator, "vibrate", { value: (pattern) => { window.alarms.push(pattern); return true; } });
"""
"""Init script: the app's vibrations are counted instead of felt."""

Phone = Callable[..., Awaitable[Any]]


@pytest.fixture
async def browser(phone_ca: PhoneCA) -> AsyncIterator[Any]:
    """These tests' Chromium trusts the hubs' own CA, as a phone that installed it from /ca.crt."""
    async with trusting_browser(phone_ca) as b:
        yield b


@pytest.fixture
async def running(tmp_path: Path, phone_ca: PhoneCA) -> AsyncIterator[RunningHub]:
    """The hub over HTTPS, as phones reach it (``skyhub demo --https``): verified, not ignored."""
    async with serve(phone_ca.serve_https(make_settings(tmp_path))) as rh:
        yield rh


@pytest.fixture
async def phone(browser: Any, console: ConsoleWatch) -> AsyncIterator[Phone]:
    """A factory of phones (390×844, touch, fake camera and microphone, location granted at
    :data:`HERE`), each its own browser context, watched for console errors."""
    watched = WatchedContexts(console)

    async def make(locale: str = "en-US", geolocation: bool = True) -> Any:
        context = await browser.new_context(
            viewport=PHONE,
            has_touch=True,
            is_mobile=True,
            device_scale_factor=2,
            locale=locale,
            geolocation=HERE if geolocation else None,
            permissions=["geolocation"] if geolocation else [],
        )
        await context.add_init_script(RECORD_ALARMS)
        return await watched.page(context)

    yield make
    await watched.close()


async def open_app(page: Any, url: str, user: str = "worker1", lang: str | None = None) -> None:
    """Log in through the login form (fields ``username``/``password``) and land on the app, online."""
    query = f"?lang={lang}" if lang else ""
    await page.goto(f"{url}/worker{query}")
    await page.wait_for_url("**/login?**")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/worker**")
    await page.wait_for_selector("#link-state.link-live")


async def send(rh: RunningHub, text: str, to: str = "worker1", **body: Any) -> int:
    async with await rh.client("coordinator") as c:
        r = await c.post("/api/instructions", json={"text": text, "targets": {"people": [to]}, **body})
        assert r.status_code == 201, r.text
        return int(r.json()["instruction"]["id"])


async def counts(rh: RunningHub, iid: int) -> dict[str, int]:
    async with await rh.client("coordinator") as c:
        body = (await c.get(f"/api/instructions/{iid}")).json()
        return dict(body["per_state"])


def instruction(iid: int) -> str:
    return f"[data-instruction='{iid}']"


async def test_an_emergency_takes_the_screen_until_acknowledged_with_one_tap(running: RunningHub, phone: Phone) -> None:
    page = await phone()
    await open_app(page, running.url)
    assert await page.evaluate("location.protocol") == "https:"  # the hub's own CA, trusted, as on a phone
    iid = await send(running, "Gas leak: clear block 4", priority="emergency")
    takeover = page.locator(".takeover.emergency")
    await takeover.locator(f"{instruction(iid)}:has-text('Gas leak: clear block 4')").wait_for()
    assert await page.evaluate("window.alarms.length") >= 1  # it vibrates
    await poll(lambda: _is(counts(running, iid), "read", 1), 10, "the receipt read")
    assert (await counts(running, iid)).get("acknowledged", 0) == 0
    await takeover.locator(f"{instruction(iid)} button.ack").tap()
    await takeover.wait_for(state="detached")
    await poll(lambda: _is(counts(running, iid), "acknowledged", 1), 10, "the coordinator's count of acknowledged")
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for()
    assert await page.locator(f"{instruction(iid)} button.ack").count() == 0
    # A reload shows it acknowledged, and never takes the screen again.
    await page.reload()
    await page.wait_for_selector("#link-state.link-live")
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for()
    assert await page.locator(".takeover").count() == 0


async def _is(answer: Awaitable[dict[str, int]], state: str, n: int) -> bool:
    return (await answer).get(state, 0) == n


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_every_screen_in_both_languages(running: RunningHub, phone: Phone, lang: str) -> None:
    require_axe()
    page = await phone(locale="zh-CN" if lang == "zh" else "en-US")
    await open_app(page, running.url, lang=lang)
    assert await page.evaluate("() => document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
    await send(running, "Check the hydrant on Elm Street", reply_options=["On my way", "Cannot"])
    emergency = await send(running, "Flooding at the underpass: close it", priority="emergency")
    await page.locator(".takeover.emergency").wait_for()
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-emergency-{lang}")
    await page.locator(f"{instruction(emergency)} button.ack").tap()
    await page.locator(".takeover").wait_for(state="detached")
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-inbox-{lang}")
    for tab in ("incidents", "report", "live"):
        await page.locator(f".tab-{tab}").tap()
        await page.locator(f".tab-{tab}[aria-current=page]").wait_for()
        if tab == "report":
            await page.locator(".where-fix").wait_for()
        assert await axe_violations(page) == [], tab
        await screenshot(page, f"worker-{tab}-{lang}")
    await page.locator(".worker-menu > summary").tap()
    assert await axe_violations(page) == []
    await screenshot(page, f"worker-menu-{lang}")


def big_photo(tmp_path: Path) -> Path:
    """A phone camera's picture: 3000×2000 JPEG, larger than the app sends."""
    img = np.zeros((2000, 3000, 3), np.uint8)
    img[:, :, 1] = np.linspace(0, 255, 3000, dtype=np.uint8)[None, :]
    cv2.rectangle(img, (800, 600), (2200, 1400), (0, 0, 255), -1)
    path = tmp_path / "pothole.jpg"
    cv2.imwrite(str(path), img)
    return path


async def events_of(rh: RunningHub, kind: str, subject: str) -> int:
    found = await rh.hub.log.read(0, 10_000, EventFilter(type_prefixes=(kind,)))
    return sum(1 for ev in found if ev.subject == subject)


@pytest.fixture
async def spot(running: RunningHub) -> AsyncIterator[DeadSpot]:
    """The way from the test phone to :func:`running`, through a place that can be a dead spot."""
    async with DeadSpot(running.port) as relay:
        yield relay


async def test_a_dead_spot_loses_nothing_and_doubles_nothing(
    running: RunningHub, spot: DeadSpot, phone: Phone, console: ConsoleWatch, tmp_path: Path
) -> None:
    console.allow("ERR_INTERNET_DISCONNECTED")  # what the browser logs of requests made offline
    page = await phone()
    await open_app(page, spot.url(running.url))
    iid = await send(running, "Count the sandbags at the pier")
    await page.locator(f"{instruction(iid)} button.ack").wait_for()
    # The app shell is kept by the service worker once it has taken over.
    await until_true(page, SHELL_KEPT)

    await spot.lose(page)
    await page.locator("#link-state.link-offline").wait_for(timeout=30_000)
    await page.locator(f"{instruction(iid)} button.ack").tap()
    await page.locator(f"{instruction(iid)}:has-text('waiting to be sent')").wait_for()
    await page.locator(".tab-report").tap()
    await page.select_option("#report-category", "road_damage")
    await page.fill("#report-text", "Pothole at the pier entrance")
    await page.set_input_files("#report-photos", str(big_photo(tmp_path)))
    await page.locator(".file-button:has-text('1 taken')").wait_for()
    await page.locator(".report-send").tap()
    await page.locator(".outbox-bar[data-waiting='2']").wait_for()

    # Closed and opened again in the dead spot: the app opens from the service worker, with its
    # inbox as last seen and both actions still waiting.
    await page.reload()
    await page.locator(".outbox-bar[data-waiting='2']").wait_for()
    await page.locator(".tab-inbox").tap()
    await page.locator(f"{instruction(iid)}:has-text('waiting to be sent')").wait_for()
    async with await running.client("coordinator") as c:
        assert (await c.get(f"/api/instructions/{iid}")).json()["per_state"]["acknowledged"] == 0

    # Closed for good and started again, still in the dead spot: a new tab keeps nothing of the old
    # one's session, and the login kept on the phone opens the app, with its inbox and its outbox.
    phone_context = page.context
    await page.close()
    page = await phone_context.new_page()
    await page.goto(f"{spot.url(running.url)}/worker")
    assert page.url.endswith("/worker")  # not sent to the login, which needs the network
    await page.locator(".outbox-bar[data-waiting='2']").wait_for()
    await page.locator(f"{instruction(iid)}:has-text('waiting to be sent')").wait_for()
    # Every screen opens there too: those loaded after the inbox come from the kept shell as well.
    await page.locator(".tab-report").tap()
    await page.locator("#report-category").wait_for()
    await page.locator(".tab-inbox").tap()

    await spot.regain(page)
    await page.locator(".outbox-bar").wait_for(state="detached", timeout=60_000)
    await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for(timeout=30_000)
    async with await running.client("dispatcher") as c:
        reports = [i for i in (await c.get("/api/incidents", params={"source": "worker"})).json()]
        assert [i["title"] for i in reports] == ["Pothole at the pier entrance"]
        detail = (await c.get(f"/api/incidents/{reports[0]['id']}")).json()
        photos = [e for e in detail["evidence"] if e["kind"] == "photo"]
        assert len(photos) == 1
        r = await c.get(f"/api/incidents/{reports[0]['id']}/evidence/{photos[0]['id']}")
        img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and max(img.shape[:2]) == 1600  # shrunk on the phone
        assert (reports[0]["lat"], reports[0]["lon"]) == (HERE["latitude"], HERE["longitude"])
    assert await events_of(running, "instruction.acknowledged", f"instruction:{iid}") == 1


async def test_what_the_hub_refuses_is_said_and_the_rest_goes(
    tmp_path: Path, phone: Phone, phone_ca: PhoneCA, console: ConsoleWatch
) -> None:
    console.allow("ERR_INTERNET_DISCONNECTED")
    console.allow(r"status of 413")  # the hub refusing the report's photo, below
    # A photo limit the phone's shrunk photo is over: the hub refuses that report.
    settings = make_settings(tmp_path, incidents={"photo_max_bytes": 4 * 1024})
    async with serve(phone_ca.serve_https(settings)) as rh:
        page = await phone()
        await open_app(page, rh.url)
        iid = await send(rh, "Check the pump station")
        await page.locator(f"{instruction(iid)} button.ack").wait_for()
        # A file that is not a picture is left out on the phone, saying so; the photo stays.
        notes = tmp_path / "notes.jpg"
        notes.write_text("not a picture, whatever its name says")
        await page.locator(".tab-report").tap()
        await page.select_option("#report-category", "road_damage")
        await page.fill("#report-text", "Flooded underpass")
        await page.set_input_files("#report-photos", [str(big_photo(tmp_path)), str(notes)])
        await page.locator(".form-error[role=alert]:has-text('notes.jpg')").wait_for()
        await page.locator(".file-button:has-text('1 taken')").wait_for()
        # In a dead spot: the report, then an acknowledgement, wait in the outbox in that order.
        await page.context.set_offline(True)
        await page.locator("#link-state.link-offline").wait_for(timeout=30_000)
        await page.locator(".report-send").tap()
        await page.locator(".tab-inbox").tap()
        await page.locator(f"{instruction(iid)} button.ack").tap()
        await page.locator(".outbox-bar[data-waiting='2']").wait_for()
        # Back online: the report is refused (its photo is too large) and the phone says so; the
        # acknowledgement behind it goes all the same.
        await page.context.set_offline(False)
        await page.locator(".outbox-refused[role=alert]:has-text('Flooded underpass')").wait_for(timeout=60_000)
        await page.locator(".outbox-bar").wait_for(state="detached", timeout=60_000)
        await page.locator(f"{instruction(iid)}[data-state=acknowledged]").wait_for(timeout=30_000)
        assert await events_of(rh, "instruction.acknowledged", f"instruction:{iid}") == 1
        # Refused before anything was written: no incident, no photo.
        async with await rh.client("dispatcher") as c:
            assert (await c.get("/api/incidents", params={"source": "worker"})).json() == []
        assert not list((rh.hub.settings.data_dir / "evidence").rglob("*.jpg"))
        await page.context.close()


async def test_the_position_on_duty_reaches_the_map(running: RunningHub, phone: Phone) -> None:
    page = await phone()
    await open_app(page, running.url)

    async def on_map() -> list[dict[str, Any]]:
        async with await running.client("dispatcher") as c:
            return [p for p in (await c.get("/api/map")).json()["people"] if p["person"] == "worker1"]

    people = await poll(on_map, 20, "worker1 on the desk's map")
    assert (people[0]["lat"], people[0]["lon"]) == (HERE["latitude"], HERE["longitude"])
    await page.locator(".worker-menu > summary").tap()
    await page.locator(".duty-state:has-text('Your position was sent')").wait_for()


async def test_a_refused_location_picks_the_grid(running: RunningHub, phone: Phone) -> None:
    page = await phone(geolocation=False)
    await open_app(page, running.url)
    await page.locator(".tab-report").tap()
    await page.locator("#report-grid").wait_for()
    await page.fill("#report-text", "Broken street light")
    await page.locator(".report-send").tap()

    async def reported() -> list[dict[str, Any]]:
        async with await running.client("dispatcher") as c:
            return list((await c.get("/api/incidents", params={"source": "worker"})).json())

    found = await poll(reported, 20, "the report")
    assert found[0]["grid"] == "g1" and found[0]["lat"] is None


PHONE_FRAMES_JS = """() => {
  const v = document.querySelector(".in-call video.call-remote");
  return v ? v.getVideoPlaybackQuality().totalVideoFrames : 0;
}"""


async def test_a_call_from_the_desk_rings_on_the_phone_with_video_both_ways(
    tmp_path: Path, phone: Phone, new_page: NewPage, phone_ca: PhoneCA
) -> None:
    async with hub_and_pages(phone_ca.serve_https(calls_settings(tmp_path)), new_page) as (rh, new_page):
        worker = await phone()
        await open_app(worker, rh.url)
        async with await rh.client("dispatcher") as c:
            inc = await create(c, "Fallen tree on Elm Street", "g1")
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.open(inc["id"])
        await desk.reach.locator(".reach-call[data-person=worker1]:not([disabled])").click()

        ring = worker.locator(".takeover.ring")
        await ring.filter(has_text="dispatcher").wait_for(timeout=15_000)
        assert await worker.evaluate("window.alarms.length") >= 1
        assert await axe_violations(worker) == []
        await screenshot(worker, "worker-ringing-en")
        await ring.locator(".ring-accept").tap()
        await worker.locator(".in-call[data-phase=connected]").wait_for(timeout=30_000)
        await desk.page.locator(".call-panel[data-phase=connected]").wait_for(timeout=30_000)
        await eventually(
            lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > 10, "the phone's video on the desk", 60
        )
        await eventually(
            lambda: worker.evaluate(PHONE_FRAMES_JS), lambda n: n > 10, "the desk's video on the phone", 60
        )

        # Mute, the back camera (the track changes without a new offer), still video both ways.
        await worker.locator(".call-mute").tap()
        await worker.locator(".call-mute[aria-pressed=true]").wait_for()
        await worker.locator(".call-flip").tap()
        await worker.locator(".call-flip:has-text('Front camera')").wait_for()
        before = await desk.page.evaluate(DESK_FRAMES_JS)
        await eventually(
            lambda: desk.page.evaluate(DESK_FRAMES_JS), lambda n: n > before + 10, "video after the flip", 30
        )
        assert await axe_violations(worker) == []
        await screenshot(worker, "worker-call-en")

        await worker.locator(".call-hangup").tap()
        await worker.locator(".in-call").wait_for(state="detached")  # the phone is back to its screens
        await desk.call_panel.filter(has_text="worker1 hung up").wait_for(timeout=15_000)
        await worker.context.close()


async def test_a_briefing_hold_to_talk_asks_for_the_floor(
    tmp_path: Path, phone: Phone, new_page: NewPage, phone_ca: PhoneCA, peers: Any
) -> None:
    async with hub_and_pages(phone_ca.serve_https(calls_settings(tmp_path)), new_page) as (rh, _):
        worker = await phone(locale="zh-CN")
        await open_app(worker, rh.url, lang="zh")
        async with await rh.client("dispatcher") as c:
            r = await c.post("/api/briefings", json={"node": "g1"})
            assert r.status_code == 201, r.text
            call_id = r.json()["id"]
        ring = worker.locator(".takeover.ring")
        await ring.filter(has_text="调度会商开始").wait_for(timeout=15_000)
        await screenshot(worker, "worker-briefing-ringing-zh")
        await ring.locator(".ring-accept").tap()
        # The dispatcher speaks from an aiortc client, and hears whoever holds the floor.
        dispatcher = peers([("audio", "sendrecv", ToneTrack(2000.0)), ("video", "sendonly", BoxVideoTrack())])
        async with await api(rh, "dispatcher") as d:
            assert (await dispatcher.connect(d, f"/api/calls/{call_id}/media")).status_code == 201
        # Until the media is up the button waits, and says so; then it works.
        talk = worker.locator(".talk-button")
        await talk.wait_for()
        await worker.locator(".talk-button:enabled").wait_for()

        async def floor() -> dict[str, Any]:
            async with await rh.client("dispatcher") as c:
                return dict((await c.get(f"/api/calls/{call_id}")).json()["floor"])

        # Held: asked for at once, and the phone says it waits.
        box = await talk.bounding_box()
        assert box is not None
        await worker.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await worker.mouse.down()
        await worker.locator(".floor-state[data-floor=queued]").wait_for()
        assert "worker1" in (await floor())["waiting"]
        async with await rh.client("dispatcher") as c:
            r = await c.post(f"/api/calls/{call_id}/floor", json={"action": "grant", "to": "worker1"})
            assert r.status_code == 200, r.text
        await worker.locator(".floor-state[data-floor=granted]").wait_for()
        # Granted: the others hear the phone's microphone.
        await poll(lambda: abs(dispatcher.heard_hz(0) - MIC_HZ) < 30, 30, "the dispatcher hearing the phone")
        assert await axe_violations(worker) == []
        await screenshot(worker, "worker-briefing-zh")
        # Let go: the floor is given back, and the phone is not heard any more.
        await worker.mouse.up()
        await worker.locator(".floor-state[data-floor=none]").wait_for()
        assert (await floor())["holder"] is None
        await poll(lambda: dispatcher.heard_hz(0) == 0.0, 30, "the floor silent again")
        await worker.context.close()


async def test_go_live_publishes_the_back_camera_as_a_camera(
    tmp_path: Path, phone: Phone, new_page: NewPage, browser: Any, phone_ca: PhoneCA
) -> None:
    async with hub_and_pages(phone_ca.serve_https(calls_settings(tmp_path)), new_page) as (rh, new_page):
        worker = await phone()
        await open_app(worker, rh.url)
        # The desk asks, from the incident's reach; the phone shows the request.
        async with await rh.client("dispatcher") as c:
            inc = await create(c, "Water over the underpass", "g1")
        desk = await open_incidents(new_page, rh.url, "dispatcher", viewport=DESKTOP)
        await desk.open(inc["id"])
        await desk.reach.locator(".reach-go-live[data-person=worker1]").click()
        await desk.reach.locator(".reach-live:has-text('field-worker1')").wait_for()
        await worker.locator(".live-ask:has-text('asks you to go live')").wait_for(timeout=15_000)
        assert await axe_violations(worker) == []
        await screenshot(worker, "worker-live-asked-en")
        await worker.locator(".live-ask button.primary").tap()
        await worker.locator(".live-on .live-badge").wait_for(timeout=30_000)
        await worker.locator(".live-bar").wait_for()

        async def listed() -> dict[str, Any] | None:
            async with await rh.client("dispatcher") as c:
                cams = {x["id"]: x for x in (await c.get("/api/cameras")).json()}
            cam = cams.get("field-worker1")
            return cam if cam and cam["state"] == "online" else None

        cam = await poll(listed, 30, "field-worker1 online in /api/cameras")
        assert cam["source"] == "whip"
        viewer = await (await browser.new_context()).new_page()
        await viewer.goto(f"{rh.url}/healthz")
        seen = await viewer.evaluate(
            WATCH_JS, {"token": await rh.token("dispatcher"), "source": "field-worker1", "seconds": CHROMIUM_WATCH_S}
        )
        await viewer.context.close()
        assert seen["status"] == 201 and seen["frames"] > 10, seen
        assert await axe_violations(worker) == []
        await screenshot(worker, "worker-live-on-en")

        await worker.locator(".live-bar .live-stop").tap()
        await worker.locator(".live-start").wait_for()

        async def gone() -> bool:
            async with await rh.client("dispatcher") as c:
                cam = (await c.get("/api/cameras/field-worker1")).json()
            return cam.get("state") != "online"

        await poll(gone, 20, "field-worker1 offline after the stop")
        await worker.context.close()


async def assigned_to_worker1(rh: RunningHub, title: str) -> dict[str, Any]:
    """An incident of grid 1, verified and assigned to worker1 by the desk."""
    async with await rh.client("dispatcher") as c:
        inc = await create(c, title, "g1")
        if inc["state"] == "new":
            r = await c.post(
                f"/api/incidents/{inc['id']}/transitions", json={"to": "verified", "version": inc["version"]}
            )
            assert r.status_code == 200, r.text
            inc = r.json()["incident"]
        body = {"to": "assigned", "version": inc["version"], "assignee": {"person": "worker1"}}
        r = await c.post(f"/api/incidents/{inc['id']}/transitions", json=body)
        assert r.status_code == 200, r.text
        return dict(r.json()["incident"])


async def test_my_incident_from_acknowledged_to_resolved_with_a_photo(
    running: RunningHub, phone: Phone, tmp_path: Path
) -> None:
    inc = await assigned_to_worker1(running, "Blocked drain on Market Road")
    page = await phone(locale="zh-CN")
    await open_app(page, running.url, lang="zh")
    await page.locator(".tab-incidents").tap()
    card = page.locator(f"[data-incident='{inc['id']}']")
    await card.locator(".to-acknowledged").tap()
    await card.locator(".to-on_site").tap()
    await page.locator(f"[data-incident='{inc['id']}'][data-state=on_site]").wait_for()
    await card.locator("textarea[name=note]").fill("Drain cleared, water flowing")
    await card.locator("input[name=photos]").set_input_files(str(big_photo(tmp_path)))
    await card.locator(".file-button:has-text('1')").wait_for()
    assert await axe_violations(page) == []
    await screenshot(page, "worker-incident-zh")
    await card.locator(".resolve-form button[type=submit]").tap()
    # Resolved, it leaves the list of open incidents.
    await card.wait_for(state="detached", timeout=30_000)
    async with await running.client("dispatcher") as c:
        detail = (await c.get(f"/api/incidents/{inc['id']}")).json()
    assert detail["incident"]["state"] == "resolved"
    steps = [
        h for h in detail["history"] if h["type"] in ("incident.acknowledged", "incident.on_site", "incident.resolved")
    ]
    assert [h["type"] for h in steps] == ["incident.acknowledged", "incident.on_site", "incident.resolved"]
    assert "Drain cleared, water flowing" in str(steps[-1])
    assert [e["kind"] for e in detail["evidence"]].count("photo") == 1


async def test_what_came_while_offline_arrives_in_order_once(
    running: RunningHub, phone: Phone, console: ConsoleWatch
) -> None:
    console.allow("ERR_INTERNET_DISCONNECTED")
    page = await phone()
    await open_app(page, running.url)
    await page.context.set_offline(True)
    await page.locator("#link-state.link-offline").wait_for()
    sent = [await send(running, f"Patrol point {n}") for n in (1, 2, 3)]
    await page.context.set_offline(False)
    await page.locator("#link-state.link-live").wait_for(timeout=30_000)
    for iid in sent:
        await page.locator(instruction(iid)).wait_for()
    shown = await page.locator("[data-instruction]").evaluate_all("els => els.map(e => Number(e.dataset.instruction))")
    assert shown == sorted(sent, reverse=True)  # newest first, each once
    # Delivered and read, from the phone, once each.
    for iid in sent:
        await poll(read_by_one(running, iid), 10, f"instruction {iid} read")


def read_by_one(rh: RunningHub, iid: int) -> Callable[[], Awaitable[bool]]:
    """A check that instruction ``iid`` has exactly one read receipt."""
    return lambda: _is(counts(rh, iid), "read", 1)


async def test_a_refused_session_goes_back_to_the_login(
    running: RunningHub, phone: Phone, console: ConsoleWatch
) -> None:
    console.allow("status of 401")
    console.allow("HTTP Authentication failed")  # the channels' handshakes with the revoked token
    page = await phone()
    await open_app(page, running.url)
    async with await running.client("admin") as c:
        r = await c.post("/api/auth/users/worker1/revoke")
        assert r.status_code == 200, r.text
    await page.wait_for_url("**/login?next=%2Fworker**", timeout=30_000)
    await page.locator("input[name=username]").wait_for()


async def test_the_pages_files_go_gzipped_and_the_api_as_it_is(running: RunningHub) -> None:
    path = REPO / "web" / "views" / "worker" / "call-screen.js"
    async with await running.client("worker1") as c:
        r = await c.get("/web/views/worker/call-screen.js", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and "accept-encoding" in r.headers["vary"].lower()
        assert r.content == path.read_bytes()  # httpx undoes the gzip
        assert int(r.headers["content-length"]) < path.stat().st_size / 2
        page = await c.get("/worker", headers={"Accept-Encoding": "gzip"})
        assert page.headers.get("content-encoding") == "gzip" and "importmap" in page.text
        plain = await c.get("/web/views/worker/call-screen.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == path.read_bytes()
        api = await c.get("/api/directory", headers={"Accept-Encoding": "gzip"})
        assert api.status_code == 200 and "content-encoding" not in api.headers


async def test_a_leader_opening_the_app_later_sees_the_notice_once(
    tmp_path: Path, phone: Phone, phone_ca: PhoneCA
) -> None:
    # The notice came while the leader's app was closed: the snapshot has it, and after a reload
    # (snapshot and channel both bring it) it still shows once.
    clock = ManualClock()
    settings = leaders_settings(tmp_path, instructions={"escalate_after_s": 60, "progress_interval_ms": 50})
    async with serve(phone_ca.serve_https(settings), clock) as rh:
        async with await rh.client("coordinator") as c:
            body = {"text": "Report your position", "targets": {"people": ["worker2"]}, "deadline_s": 120}
            assert (await c.post("/api/instructions", json=body)).status_code == 201

        async def logged(kind: str) -> bool:
            return bool(await rh.hub.log.read(0, 10, EventFilter(type_prefixes=(kind,))))

        clock.advance(121)
        await poll(lambda: logged("instruction.renotified"), 20, "the renotification")
        clock.advance(61)
        await poll(lambda: logged("instruction.escalated"), 20, "the escalation")
        page = await phone()
        await open_app(page, rh.url, user="lead2")
        notice = page.locator(".leader-notice:has-text('Report your position')")
        await notice.wait_for()
        await page.reload()
        await page.wait_for_selector("#link-state.link-live")
        await notice.wait_for()
        assert await page.locator(".leader-notice").count() == 1
        await page.context.close()


async def test_a_phone_on_one_node_answers_a_call_placed_on_another(
    tmp_path: Path,
    phone: Phone,
    peers: Any,
    pg_url: str,
    redis_url: str,
    redis_prefix: str,  # noqa: F811
    phone_ca: PhoneCA,
) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    nodes = []
    for name in ("a", "b"):
        # Both over HTTPS under the one CA the phone trusts: the page on B sends the call's
        # requests to A's own origin.
        port = free_port()
        server = {"public_url": f"https://127.0.0.1:{port}", "ice_addresses": ["127.0.0.1"]}
        settings = calls_settings(tmp_path / name, storage=storage, server=server, cameras=[])
        nodes.append((phone_ca.serve_https(settings), port))
    (settings_a, port_a), (settings_b, port_b) = nodes
    async with serve(settings_a, port=port_a) as a, serve(settings_b, port=port_b) as b:
        worker = await phone()
        await open_app(worker, b.url)  # the phone reaches node B
        assert b.url.startswith("https://") and a.url.startswith("https://")
        await poll(lambda: "worker1" in b.hub.calls.presence.users(), 15, "the phone's call page on B")
        async with await api(a, "dispatcher") as d:
            r = await d.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 201, r.text
            call_id = r.json()["id"]
            caller = peers(call_slots(440))
            assert (await caller.connect(d, f"/api/calls/{call_id}/media")).status_code == 201
            ring = worker.locator(".takeover.ring")
            await ring.filter(has_text="dispatcher").wait_for(timeout=15_000)
            await ring.locator(".ring-accept").tap()
            # Answered on A, media through A: the phone sees the caller, the caller sees the phone.
            await worker.locator(".in-call[data-phase=connected]").wait_for(timeout=30_000)
            await poll(lambda: caller.frames.get(1, 0) >= 10, 60, "the phone's video at the caller")
            frames = 0
            for _ in range(600):
                frames = await worker.evaluate(PHONE_FRAMES_JS)
                if frames > 10:
                    break
                await worker.wait_for_timeout(100)
            assert frames > 10, "the caller's video on the phone"
            assert a.hub.calls.calls[call_id].members["worker1"].connected
            assert not b.hub.calls.calls  # the call lives on A only
            # Hanging up on the phone ends the call on A.
            await worker.locator(".call-hangup").tap()
            await worker.locator(".in-call").wait_for(state="detached")
            await poll(lambda: call_id not in a.hub.calls.calls, 10, "the call ended on A")
        await worker.context.close()
