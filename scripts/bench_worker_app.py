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
for a cold one), and **live**, the worker channel connected and replayed. p50 and p95 (nearest rank)
of ``--runs``, with the machine's load average over each series (this is a shared machine: a busy one
slows every start). Bytes: what the cold start received until it was live, as sent on the wire
(``encodedDataLength``: gzipped by the hub) and decoded: JS and CSS files, and the page itself (which
carries its style sheet and first messages). A warm start that the service worker did not answer,
or a start that asked the hub for the inbox more than once, is counted and said.

    .venv/bin/python scripts/bench_worker_app.py --runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
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

CONTROLLED_JS = "() => !!navigator.serviceWorker.controller"
"""Whether the service worker answered this page (a warm start)."""

INBOX_PATH = "/api/worker/instructions"

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
    sizes = {"wire": 0, "decoded": 0, "page_wire": 0, "page_decoded": 0, "inbox_requests": 0}

    def on_request(ev: dict[str, Any]) -> None:
        if ev["request"]["url"].split("?")[0].endswith(INBOX_PATH):
            sizes["inbox_requests"] += 1

    def on_response(ev: dict[str, Any]) -> None:
        kinds[ev["requestId"]] = ev.get("type", "")

    def on_data(ev: dict[str, Any]) -> None:
        kind = kinds.get(ev["requestId"])
        if kind in ("Script", "Stylesheet"):
            sizes["decoded"] += ev.get("dataLength", 0)
        elif kind == "Document":
            sizes["page_decoded"] += ev.get("dataLength", 0)

    def on_finished(ev: dict[str, Any]) -> None:
        kind = kinds.get(ev["requestId"])
        if kind in ("Script", "Stylesheet"):
            sizes["wire"] += int(ev.get("encodedDataLength", 0))
        elif kind == "Document":
            sizes["page_wire"] += int(ev.get("encodedDataLength", 0))

    cdp.on("Network.requestWillBeSent", on_request)
    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.dataReceived", on_data)
    cdp.on("Network.loadingFinished", on_finished)
    await page.goto(url + "/worker", wait_until="commit")
    await page.wait_for_function("() => window.__marks && window.__marks.shown && window.__marks.live", timeout=60_000)
    marks = await page.evaluate("() => window.__marks")
    marks["controlled"] = await page.evaluate(CONTROLLED_JS)
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


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(name: str, runs: list[dict[str, Any]], load: tuple[float, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("shown", "live"):
        values = [r[key] for r in runs]
        out[key] = statistics.median(values)
        p95 = percentile(values, 0.95)
        print(
            f"{name:<28} {key:<6} p50 {out[key]:7.0f} ms   p95 {p95:7.0f} ms   (n={len(values)}; "
            f"load average {load[0]:.1f} -> {load[1]:.1f})"
        )
    twice = sum(1 for r in runs if r["inbox_requests"] > 1)
    if twice:
        print(f"{name:<28} asked the hub for the inbox more than once in {twice} of {len(runs)} starts")
    return out


def load_average() -> float:
    """The machine's 1-minute load average (2 cores here: above 2, starts wait for the CPU)."""
    return os.getloadavg()[0]


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

    loads: dict[str, tuple[float, float]] = {}

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
                    load_before = load_average()
                    for _ in range(args.runs):
                        for name, emulate in (("cold", throttle), ("cold_floor", None)):
                            context = await new_context(browser, tok)
                            results[name].append(await open_app(context, url, emulate))
                            await context.close()
                    loads["cold"] = (load_before, load_average())
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
                    # Right after it took over, Chromium may still send the next navigation to the
                    # network (its registration not stored yet): start until a start is answered by it.
                    for _ in range(20):
                        if (await open_app(context, url, None))["controlled"]:
                            break
                        await asyncio.sleep(0.5)
                    load_before = load_average()
                    for _ in range(args.runs):
                        results["warm"].append(await open_app(context, url, throttle))
                    loads["warm"] = (load_before, load_average())
                    await context.close()
                finally:
                    await browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"network: {args.down_kbit:.0f} kbit/s down and up, {args.rtt_ms:.0f} ms round trip (Chromium emulation)")
    cold = summary("cold (throttled)", results["cold"], loads["cold"])
    floor = summary("cold (no emulation: floor)", results["cold_floor"], loads["cold"])
    warm = summary("warm (service worker)", results["warm"], loads["warm"])
    missed = sum(1 for r in results["warm"] if not r["controlled"])
    if missed:
        print(f"warm starts not answered by the service worker: {missed} of {len(results['warm'])}")
    files = statistics.median(r["wire"] for r in results["cold"])
    files_decoded = statistics.median(r["decoded"] for r in results["cold"])
    page = statistics.median(r["page_wire"] for r in results["cold"])
    page_decoded = statistics.median(r["page_decoded"] for r in results["cold"])
    wire, decoded = files + page, files_decoded + page_decoded
    print(
        f"a cold start received: JS and CSS files {files / 1000:.1f} kB on the wire (gzip), "
        f"{files_decoded / 1000:.1f} kB decoded; the page (with its style sheet and first messages) "
        f"{page / 1000:.1f} kB, {page_decoded / 1000:.1f} kB decoded; together {wire / 1000:.1f} kB, "
        f"{decoded / 1000:.1f} kB decoded"
    )
    print(
        f"cold/floor shown: {cold['shown'] / floor['shown']:.1f}x; warm/cold shown: {warm['shown'] / cold['shown']:.2f}"
    )
    print(
        f"targets: cold shown <= 3000 ms, warm shown <= 500 ms, JS+CSS (and the page) <= 150 kB: "
        f"{'met' if cold['shown'] <= 3000 else 'NOT met'}, {'met' if warm['shown'] <= 500 else 'NOT met'}, "
        f"{'met' if wire <= 150_000 else 'NOT met'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
