"""Two Chromium pages on the call page: the dispatcher rings a worker, media flows both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hub.conftest import make_settings, serve
from tests.web.conftest import log_in, open_wall
from tests.web.test_wall import poll

STATS_JS = """async () => {
  const pc = window.skyhubCall.pc;
  const out = {video: 0, audio: 0, state: pc ? pc.connectionState : "none"};
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") out.video += s.framesDecoded || 0;
    if (s.kind === "audio") out.audio += s.totalSamplesReceived || 0;
  });
  return out;
}"""


async def _login(browser: Any, url: str, username: str) -> Any:
    page = await browser.new_page()
    await log_in(page, url + "/web/call.html", username, "#phone:not([hidden])")
    await page.wait_for_selector("body[data-calls=connected]")
    return page


async def test_one_to_one_call_between_two_browsers(tmp_path: Path, browser: Any) -> None:
    settings = make_settings(tmp_path, server={"ice_addresses": ["127.0.0.1"]})
    async with serve(settings) as rh:
        worker = await _login(browser, rh.url, "worker1")
        dispatcher = await _login(browser, rh.url, "dispatcher")
        await dispatcher.fill("#call-form input[name=to]", "worker1")
        await dispatcher.click("#call-form button")
        await worker.wait_for_selector("#incoming:not([hidden])", timeout=15_000)
        assert "dispatcher is calling" in await worker.inner_text("#incoming-text")
        await worker.click("#accept")
        for page, who in ((worker, "worker"), (dispatcher, "dispatcher")):
            stats = await poll(
                lambda p=page: p.evaluate(STATS_JS),
                lambda s: s["video"] > 10 and s["audio"] > 48_000,
                60,
                f"{who} to receive video and audio",
            )
            assert stats["state"] == "connected"
        calls = list(rh.hub.calls.calls.values())
        assert len(calls) == 1 and calls[0].state == "active"
        # The worker reloads the page: still logged in, back in the same call, media both ways again.
        seen = (await dispatcher.evaluate(STATS_JS))["video"]
        await worker.reload()
        await worker.wait_for_selector("body[data-calls=connected]")
        stats = await poll(
            lambda: worker.evaluate(STATS_JS),
            lambda s: s["video"] > 10 and s["audio"] > 48_000,
            60,
            "the reloaded worker page to receive video and audio again",
        )
        assert stats["state"] == "connected"
        await poll(
            lambda: dispatcher.evaluate(STATS_JS), lambda s: s["video"] > seen + 10, 60, "the worker's video again"
        )
        assert list(rh.hub.calls.calls.values()) == calls and calls[0].state == "active"
        # Pull the worker's phone camera onto the wall (WHEP on @worker1) and see it decode.
        wall = await open_wall(browser, rh.url)
        frames = await wall.evaluate(
            """async () => {
              const { whepPlay, framesDecoded } = await import("/web/rtc.js");
              const v = document.createElement("video"); v.muted = true; v.autoplay = true; document.body.append(v);
              const p = await whepPlay("@worker1", v);
              for (let i = 0; i < 100; i++) {
                await new Promise((r) => setTimeout(r, 200));
                const n = await framesDecoded(p.pc);
                if (n > 5) { p.stop(); return n; }
              }
              p.stop(); return 0;
            }"""
        )
        assert frames > 5
        await worker.click("#hangup")
        await dispatcher.wait_for_selector("#status:has-text('Call ended')", timeout=15_000)
        await poll(lambda: _count(rh), lambda n: n == 0, 10, "sessions released")
        async with await rh.client("admin") as c:
            types = [e["type"] for e in (await c.get("/api/events", params={"type": "call."})).json()["events"]]
        assert types[:1] == ["call.started"] and "call.accepted" in types and types[-1] == "call.ended"
        assert types.count("call.joined") == 3 and "call.media_lost" in types and "call.left" not in types


async def _count(rh: Any) -> int:
    return len(rh.hub.calls.sessions)
