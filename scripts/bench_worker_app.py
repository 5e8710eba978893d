"""Worker app start-up benchmark: how soon a grid worker's phone shows a usable inbox (not a test).

A hub runs as its own process (``python -m hub run``) on a small generated config (one grid, a
coordinator, worker1 on duty) with three instructions in worker1's inbox. Debian's Chromium opens
``/worker`` as worker1 (the login token put in place first, as after a login) at phone size:

* **cold**: a new browser profile each time (no HTTP cache, no service worker) over Chromium's network
  emulation (``--down-kbit`` down and up, ``--rtt-ms`` round trip: a weak mobile link), and the same
  without emulation as the floor, measured in the same run;
* **warm**: the app opened again in a profile where its service worker has kept the shell, over the
  same throttled link.

For each start, from the navigation's start (``performance.now()`` in the page): **shown**, the inbox
screen drawn with its instructions and buttons (the kept inbox for a warm start, the hub's snapshot
for a cold one), and **live**, the worker channel connected and replayed. p50 (and p90) of ``--runs``.
Bytes: the JS and CSS the cold start received, as sent on the wire (``encodedDataLength``: gzipped
by the hub) and decoded.

    .venv/bin/python scripts/bench_worker_app.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (launched as the browser tests do)

PASSWORD = "bench-worker-password"
PHONE = {"width": 390, "height": 844}
MARKS_JS = """
(() => {
  window.__marks = {};
  const seen = () => {
    const m = window.__marks;
    const inbox = document.querySelector(".worker-screen [data-instruction] button.ack");
    if (m.shown === undefined && inbox) m.shown = performance.now();
    if (m.live === undefined && document.querySelector("#link-state.link-live")) m.live = performance.now();
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true });
})();
"""
"""Init script: when the inbox is drawn with an instruction's button, and when the channel is live."""

SLOW_JS = """() => performance.getEntriesByType("resource")
  .filter((e) => e.duration > 300)
  .map((e) => [new URL(e.name).pathname, Math.round(e.startTime), Math.round(e.duration)])"""
"""Requests that took over 300 ms: path, start and duration (``BENCH_DEBUG=1``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(work: Path) -> Path:
    from argon2 import PasswordHasher

    hashed = PasswordHasher().hash(PASSWORD)
    config = {
        "server": {"host": "127.0.0.1", "ice_addresses": ["127.0.0.1"]},
        "users": [
            {"username": "coordinator", "roles": ["coordinator"], "password_hash": hashed},
            {"username": "worker1", "roles": ["worker"], "password_hash": hashed},
        ],
        "directory": {
            "root": {
                "id": "d1",
                "name": "District",
                "children": [
                    {
                        "id": "s1",
                        "name": "Street",
                        "children": [{"id": "c1", "name": "Community", "children": [{"id": "g1", "name": "Grid 1"}]}],
                    }
                ],
            },
            "people": [
                {"id": "coordinator", "name": "Coordinator", "roles": ["coordinator"]},
                {"id": "worker1", "name": "Worker One", "roles": ["worker"], "grids": ["g1"]},
            ],
        },
    }
    path = work / "bench-worker.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def start_hub(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SKYHUB_SECRET": secrets.token_hex(24)}
    cmd = [sys.executable, "-m", "hub", "run", "--config", str(write_config(work)), "--port", str(port)]
    cmd += ["--data", str(work / "data"), "--log-level", "warning"]
    log = (work / "hub.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    async with httpx.AsyncClient() as c:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError((work / "hub.log").read_text(errors="replace")[-3000:])
            with contextlib.suppress(httpx.TransportError):
                if (await c.get(url + "/healthz")).status_code == 200:
                    return proc, url
            await asyncio.sleep(0.1)
    raise RuntimeError("the hub did not start")


async def token(url: str, user: str) -> str:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        return str(r.json()["access_token"])


async def open_app(context: Any, url: str, throttle: dict[str, Any] | None) -> dict[str, Any]:
    """One start of the app in ``context``: its marks and the JS/CSS bytes it received."""
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    if throttle:
        await cdp.send("Network.emulateNetworkConditions", throttle)
    kinds: dict[str, str] = {}
    sizes = {"wire": 0, "decoded": 0}

    def on_response(ev: dict[str, Any]) -> None:
        kinds[ev["requestId"]] = ev.get("type", "")

    def on_data(ev: dict[str, Any]) -> None:
        if kinds.get(ev["requestId"]) in ("Script", "Stylesheet"):
            sizes["decoded"] += ev.get("dataLength", 0)

    def on_finished(ev: dict[str, Any]) -> None:
        if kinds.get(ev["requestId"]) in ("Script", "Stylesheet"):
            sizes["wire"] += int(ev.get("encodedDataLength", 0))

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)
    await page.goto(url + "/worker", wait_until="commit")
    await page.wait_for_function("() => window.__marks && window.__marks.shown && window.__marks.live", timeout=60_000)
    marks = await page.evaluate("() => window.__marks")
    if os.environ.get("BENCH_DEBUG"):  # where a start spends its time: the slowest requests
        slow = await page.evaluate(SLOW_JS)
        print("throttled" if throttle else "unthrottled", marks, slow)
    await page.close()
    return {**marks, **sizes}


async def new_context(browser: Any, tok: str) -> Any:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    await context.add_init_script(f"sessionStorage.setItem('skyhub.token', {tok!r});")
    await context.add_init_script(MARKS_JS)
    return context


def summary(name: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("shown", "live"):
        values = sorted(r[key] for r in runs)
        out[key] = statistics.median(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(f"{name:<28} {key:<6} p50 {out[key]:7.0f} ms   p90 {p90:7.0f} ms   (n={len(values)})")
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--down-kbit", type=float, default=400.0)
    ap.add_argument("--rtt-ms", type=float, default=400.0)
    args = ap.parse_args()
    throttle = {
        "offline": False,
        "latency": args.rtt_ms,
        "downloadThroughput": args.down_kbit * 1000 / 8,
        "uploadThroughput": args.down_kbit * 1000 / 8,
    }
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        proc, url = await start_hub(Path(tmp))
        try:
            coordinator = await token(url, "coordinator")
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {coordinator}"}) as c:
                for n in range(3):
                    body = {"text": f"Check point {n + 1}", "targets": {"people": ["worker1"]}}
                    (await c.post("/api/instructions", json=body)).raise_for_status()
            tok = await token(url, "worker1")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    results: dict[str, list[dict[str, Any]]] = {"cold": [], "cold_floor": [], "warm": []}
                    for _ in range(args.runs):
                        for name, emulate in (("cold", throttle), ("cold_floor", None)):
                            context = await new_context(browser, tok)
                            results[name].append(await open_app(context, url, emulate))
                            await context.close()
                    context = await new_context(browser, tok)
                    await open_app(context, url, None)  # installs the service worker; it keeps the shell
                    page = await context.new_page()
                    await page.goto(url + "/worker")
                    await page.wait_for_function(
                        "async () => !!navigator.serviceWorker.controller && "
                        "!!(await caches.match('/web/views/worker/worker-app.js'))",
                        timeout=60_000,
                    )
                    await page.close()
                    for _ in range(args.runs):
                        results["warm"].append(await open_app(context, url, throttle))
                    await context.close()
                finally:
                    await browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"network: {args.down_kbit:.0f} kbit/s down and up, {args.rtt_ms:.0f} ms round trip (Chromium emulation)")
    cold = summary("cold (throttled)", results["cold"])
    floor = summary("cold (no emulation: floor)", results["cold_floor"])
    warm = summary("warm (service worker)", results["warm"])
    wire = statistics.median(r["wire"] for r in results["cold"])
    decoded = statistics.median(r["decoded"] for r in results["cold"])
    print(f"JS+CSS of a cold start: {wire / 1000:.1f} kB on the wire (gzip), {decoded / 1000:.1f} kB decoded")
    print(
        f"cold/floor shown: {cold['shown'] / floor['shown']:.1f}x; warm/cold shown: {warm['shown'] / cold['shown']:.2f}"
    )
    print(
        f"targets: cold shown <= 3000 ms, warm shown <= 500 ms, JS+CSS <= 150 kB: "
        f"{'met' if cold['shown'] <= 3000 else 'NOT met'}, {'met' if warm['shown'] <= 500 else 'NOT met'}, "
        f"{'met' if wire <= 150_000 else 'NOT met'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
