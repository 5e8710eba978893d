"""Benchmark: the coordinator's console in Chromium while thousands of workers acknowledge.

A hub process (``skyhub run``), simulated workers on ``/ws/worker`` in separate processes, and the
console (``/console``) open in Debian's Chromium, logged in as the coordinator. Two instructions
go to every worker:

- spread: each worker acknowledges at a random moment within ``--spread-s`` seconds of receiving it;
- burst: each acknowledges the moment it receives it (as after a siren).

For each, printed: delivery p50/p99 (sent -> the worker has it); the delay from an acknowledgement
being sent to the console's count showing it, p50/p99/max (the k-th acknowledgement sent counts as
shown once the console's acknowledged count reaches k); when the console reached 100 %; and the
console's main thread busy with long tasks (Long Tasks API, tasks over 50 ms) as a share of the
time. Targets: p99 <= 1 s; long tasks <= 20 % of the time; every acknowledgement counted within
2 s of being sent.

Run: .venv/bin/python scripts/bench_console.py [--workers 5000] [--procs 4] [--spread-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_instructions import config, tokens  # noqa: E402
from loadgen import PASSWORD, machine, pct, proc_cpu_s, start_hub, wait_http  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SPREAD_TEXT = "Spread: secure the stalls, acknowledge when done"
BURST_TEXT = "Siren: everyone acknowledge now"


def _workers_process(
    port: int, workers: list[tuple[str, str]], cursor: int, spread_s: float, ready: Any, stop_q: Any, out: Any
) -> None:
    """Child: connect every worker; acknowledge each instruction (spread over ``spread_s`` or at once).

    Puts ``len(workers)`` on ``ready`` once all are live; on anything from ``stop_q``, stops and puts
    what it recorded on ``out``.
    """
    import websockets

    async def main() -> None:
        rng = random.Random(port ^ len(workers))
        received: dict[int, list[float]] = {}
        acked: dict[int, list[float]] = {}
        live = 0
        failures: list[str] = []
        all_live = asyncio.Event()
        stop = asyncio.Event()

        async def one(token: str) -> None:
            nonlocal live
            counted = False
            cur = cursor
            acked_ids: set[int] = set()
            while not stop.is_set():
                try:
                    url = f"ws://127.0.0.1:{port}/ws/worker?since={cur}&token={token}"
                    async with websockets.connect(url, open_timeout=120, max_queue=None) as ws:
                        pending: set[asyncio.Task[None]] = set()

                        async def ack_later(iid: int, delay_s: float, ws: Any = ws) -> None:
                            await asyncio.sleep(delay_s)
                            acked.setdefault(iid, []).append(time.time())
                            await ws.send(json.dumps({"type": "ack", "id": iid}))

                        while not stop.is_set():
                            try:
                                raw = await asyncio.wait_for(ws.recv(), 0.5)
                            except TimeoutError:
                                continue
                            msg = json.loads(raw)
                            cur = max(cur, msg.get("cursor") or 0)
                            if msg.get("type") == "live" and not counted:
                                counted = True
                                live += 1
                                if live == len(workers):
                                    all_live.set()
                            elif msg.get("type") == "instruction" and msg["id"] not in acked_ids:
                                iid = msg["id"]
                                acked_ids.add(iid)
                                received.setdefault(iid, []).append(time.time())
                                await ws.send(json.dumps({"type": "delivered", "id": iid}))
                                spread = msg.get("instruction", {}).get("text") == SPREAD_TEXT
                                delay = rng.uniform(0, spread_s) if spread else 0.0
                                task = asyncio.create_task(ack_later(iid, delay))
                                pending.add(task)
                                task.add_done_callback(pending.discard)
                except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                    failures.append(repr(exc))
                    await asyncio.sleep(0.5)

        async def stopper() -> None:
            await asyncio.to_thread(stop_q.get)
            stop.set()

        tasks = [asyncio.create_task(one(t)) for _, t in workers]
        waiter = asyncio.create_task(stopper())
        await all_live.wait()
        ready.put(len(workers))
        print(f"workers: {len(workers)} live ({len(failures)} connection failures)", flush=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        await waiter
        out.put({"received": received, "acked": acked, "failures": failures})

    asyncio.run(main())


OBSERVER_JS = """(iid) => {
  const b = (window.__bench ??= {installed: false});
  b.seen = []; b.longBusy = []; b.last = -1;
  b.sel = `[data-instruction="${iid}"] [data-count="acknowledged"]`;
  if (b.installed) return;
  b.installed = true;
  new MutationObserver(() => {
    const el = document.querySelector(b.sel);
    const v = el ? Number(el.textContent) : -1;
    if (v !== b.last) { b.last = v; b.seen.push([Date.now(), v]); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longBusy.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({type: "longtask"});
}"""


def delays(acks: list[float], seen: list[tuple[float, int]]) -> list[float]:
    """Seconds from the k-th acknowledgement sent to the console showing a count of at least k."""
    acks = sorted(acks)
    seen = sorted(seen)
    out: list[float] = []
    j = 0
    for k, sent in enumerate(acks, start=1):
        while j < len(seen) and seen[j][1] < k:
            j += 1
        if j == len(seen):
            break
        out.append(seen[j][0] / 1000 - sent)
    return out


async def round_(page: Any, c: Any, n: int, text: str, timeout_s: float) -> dict[str, Any]:
    """Send one instruction to every worker; watch the console until it shows all acknowledged."""
    # The only coordinator here: the next instruction's id is one more than the newest.
    newest = (await c.get("/api/instructions", params={"limit": 1})).json()
    iid = newest[0]["id"] + 1 if newest else 1
    await page.evaluate(OBSERVER_JS, iid)
    t0 = time.time()
    r = await c.post(
        "/api/instructions", json={"text": text, "priority": "emergency", "targets": {"roles": ["worker"]}}
    )
    r.raise_for_status()
    assert r.json()["instruction"]["id"] == iid, "another instruction was sent meanwhile"
    sel = f'[data-instruction="{iid}"] [data-count="acknowledged"]'
    try:
        await page.wait_for_function(
            "([sel, n]) => Number(document.querySelector(sel)?.textContent) >= n",
            arg=[sel, n],
            timeout=timeout_s * 1000,
            polling=1000,
        )
    except Exception:
        pass
    t_end = time.time()
    data = await page.evaluate("() => window.__bench")
    print(f"   {text[:6]}: the console showed {data['last']} after {t_end - t0:.1f} s", flush=True)
    try:
        receipts = (await c.get(f"/api/instructions/{iid}", timeout=300)).json()["receipts"]
        stored = [x["done_at"] for x in receipts if x["done_at"] is not None]
    except Exception as exc:  # the hub is swamped: report the rest without the split
        print(f"   (receipts of {iid} not read: {exc!r})", flush=True)
        stored = []
    return {"iid": iid, "t0": t0, "t_end": t_end, "seen": data["seen"], "long": data["longBusy"], "stored": stored}


async def run(args: argparse.Namespace) -> None:
    import httpx
    from playwright.async_api import async_playwright

    from tests.conftest import free_port

    n = args.workers
    print(f"machine: {machine()}; {n} workers in {args.procs} processes; acks spread over {args.spread_s:.0f} s")
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        hub = start_hub(Path(d), port, queue_events=4096, extra=config(n))
        procs: list[Any] = []
        try:
            await wait_http(f"http://127.0.0.1:{port}/healthz")
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                tok = (await c.post("/api/auth/login", json={"username": "bench", "password": PASSWORD})).json()[
                    "access_token"
                ]
                c.headers["Authorization"] = f"Bearer {tok}"
                cursor = (await c.get("/healthz")).json()["last_event_id"]
                ctx = mp.get_context("spawn")
                ready, stop_q, outs = ctx.Queue(), ctx.Queue(), []
                names = [f"w{i:05d}" for i in range(n)]
                for k in range(args.procs):
                    out = ctx.Queue()
                    outs.append(out)
                    p = ctx.Process(
                        target=_workers_process,
                        args=(port, tokens(names[k :: args.procs]), cursor, args.spread_s, ready, stop_q, out),
                    )
                    p.start()
                    procs.append(p)
                for _ in procs:
                    await asyncio.to_thread(ready.get, True, 300)
                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    await page.goto(f"{base}/login?next=/console")
                    await page.fill("input[name=username]", "bench")
                    await page.fill("input[name=password]", PASSWORD)
                    await page.click("button[type=submit]")
                    await page.wait_for_selector(".feed-status[data-status=live]")
                    await page.wait_for_selector("#history-title")
                    print("console open; sending", flush=True)
                    hub_cpu0 = proc_cpu_s(hub.pid)
                    spread = await round_(page, c, n, SPREAD_TEXT, args.spread_s + 60)
                    burst = await round_(page, c, n, BURST_TEXT, 60)
                    hub_cpu = proc_cpu_s(hub.pid) - hub_cpu0
                    await browser.close()
            for _ in outs:
                stop_q.put(None)
            recorded = [await asyncio.to_thread(out.get, True, 120) for out in outs]
        finally:
            for p in procs:
                p.join(30)
                if p.is_alive():
                    p.kill()
            hub.terminate()
            hub.wait(30)

    for label, r in (("spread", spread), ("burst", burst)):
        iid = r["iid"]
        received = [t for rec in recorded for t in rec["received"].get(iid, [])]
        acks = [t for rec in recorded for t in rec["acked"].get(iid, [])]
        lat = [t - r["t0"] for t in received]
        dl = delays(acks, [tuple(x) for x in r["seen"]])
        shown = max((v for _, v in r["seen"]), default=0)
        full = next((t / 1000 for t, v in r["seen"] if v >= n), None)
        window = (full or r["t_end"]) - r["t0"]
        busy = sum(dur for start, dur in r["long"] if r["t0"] * 1000 <= start <= r["t0"] * 1000 + window * 1000)
        print(f"\n{label}: instruction {iid} to {n} workers")
        print(
            f"   delivery p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms ({len(lat)} delivered)"
        )
        print(f"   acknowledgements sent: {len(acks)}; the console showed {shown}")
        if dl:
            print(
                f"   ack -> console count: p50 {pct(dl, 0.5) * 1000:.0f} ms, p99 {pct(dl, 0.99) * 1000:.0f} ms,"
                f" max {max(dl) * 1000:.0f} ms (target p99 <= 1000 ms; every one within 2000 ms)"
            )
        seen = [tuple(x) for x in r["seen"]]
        to_store = [b - a for a, b in zip(sorted(acks), sorted(r["stored"]), strict=False)]
        store_to_console = delays(r["stored"], seen)
        if to_store and store_to_console:
            print(
                f"     of which ack -> stored by the hub p50 {pct(to_store, 0.5) * 1000:.0f} ms,"
                f" p99 {pct(to_store, 0.99) * 1000:.0f} ms; stored -> console p50"
                f" {pct(store_to_console, 0.5) * 1000:.0f} ms, p99 {pct(store_to_console, 0.99) * 1000:.0f} ms"
            )
        if full is not None:
            print(
                f"   console at 100 % {full - r['t0']:.2f} s after sending; {full - max(acks):.2f} s after the last ack"
            )
        print(
            f"   long tasks: {busy:.0f} ms in {window:.1f} s = {busy / 10 / window:.1f} % of the time"
            f" ({len(r['long'])} tasks; target <= 20 %)"
        )
    print(f"\nhub CPU over both rounds: {hub_cpu:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=5000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--spread-s", type=float, default=30.0)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
