"""Video wall benchmark: a 16-live + 48-snapshot wall in Chromium against a real hub (not a test).

The hub runs as its own process (``skyhub run``, here ``python -m hub run``) on a generated config:
``--cameras`` generated street and plaza scenes (``synthetic://``, 640x360 H.264 at 12 fps, rendered
once into the run's data dir), all on grids of a small directory, analysis off except on 4 of the 16
live cameras (160x90 at 4 fps: they raise motion alerts every few seconds). Then:

1. no viewer: once every camera is online, the hub's CPU over ``--ingest-s`` (the floor: ingest alone);
2. the dispatcher's wall is set to 16 live tiles with the snapshot overview (``wall.layouts``), the
   desk opens in headless Chromium (Debian's, a persistent context in a temporary profile so its
   processes can be found in /proc) and, once 16 videos play, over ``--duration``: the decoded
   frame rate of every live tile (``getVideoPlaybackQuality().totalVideoFrames``) against its camera's
   ``input_fps``, the hub's CPU and the browser's (every process of that profile);
3. 13 layout switches with the wall's keys (1, 4, 9, 6 for 16): from the key's ``keydown``
   in the page to the first frame of each tile the switch brought (``requestVideoFrameCallback``).

All along phases 2 and 3 a MutationObserver notes when each new alert badge appears on a tile
(``performance.timeOrigin + performance.now()``) against the hub's time of the event
(``data-event-ts``, the log's time); both are this machine's clock.

    .venv/bin/python scripts/bench_wall.py --duration 60 --ingest-s 30
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from loadgen import machine, pct, proc_cpu_s  # noqa: E402

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (launched as the browser tests do)

PASSWORD = "bench-wall-password"
USER = "dispatcher"
SCENES = ("street", "plaza")
LIVE = 16
ANALYSED = 4
"""Live cameras with analysis on (the last four of the 16: their grid tiles are not in layouts 1, 4, 9)."""
VIEWPORT: Any = {"width": 1920, "height": 1080}
SWITCH_KEYS = ["1", "6", "4", "6", "1", "9", "6", "1", "4", "9", "6", "1", "6"]
"""Layout keys pressed in turn from the 16-tile wall (6 is 16 tiles): 13 switches, which bring 52 tiles when the
four alerting cameras sit in the alarm lane (72 when they do not)."""
KEY_SIZE = {"1": 1, "4": 4, "9": 9, "6": 16}
SWITCH_TIMEOUT_MS = 15_000
RATE_OK = 0.95
"""A live tile is at its camera's rate when it decodes at least this share of the camera's input fps."""
TARGETS = {"first_p50": 500.0, "first_p95": 1000.0, "badge_p99": 300.0, "cpu_ratio": 1.5}


# -- the hub -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera_ids(n: int) -> list[str]:
    return [f"cam-{i + 1:02d}" for i in range(n)]


def write_config(work: Path, n: int) -> Path:
    """The hub's config: ``n`` scene cameras on 4 grids, analysis on 4 of the first 16 only."""
    from argon2 import PasswordHasher

    grids = [f"g{k + 1}" for k in range(4)]
    cameras = []
    for i, cid in enumerate(camera_ids(n)):
        scene = SCENES[i % len(SCENES)]
        cam: dict[str, Any] = {
            "id": cid,
            "name": f"{scene.title()} {i + 1:02d}",
            "url": f"synthetic://{scene}",
            "grid": grids[i * len(grids) // n],
            "analysis": {"enabled": False},
        }
        if LIVE - ANALYSED <= i < LIVE:
            cam["analysis"] = {"fps": 4, "width": 160, "height": 90}
        cameras.append(cam)
    community = {"id": "c1", "name": "Community", "children": [{"id": g, "name": f"Grid {g}"} for g in grids]}
    config = {
        "server": {"host": "127.0.0.1", "ice_addresses": ["127.0.0.1"]},
        "users": [{"username": USER, "roles": ["dispatcher"], "password_hash": PasswordHasher().hash(PASSWORD)}],
        "directory": {
            "root": {
                "id": "d1",
                "name": "District",
                "children": [{"id": "s1", "name": "Street", "children": [community]}],
            }
        },
        "cameras": cameras,
    }
    path = work / "bench-wall.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Hub:
    """``skyhub run`` as its own process; its CPU (all threads) read from /proc."""

    def __init__(self, work: Path, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "hub.log"
        env = {
            **os.environ,
            "SKYHUB_SECRET": secrets.token_hex(24),
            "SKYHUB_ICE_ADDRESSES": "127.0.0.1",
        }
        cmd = [sys.executable, "-m", "hub", "run", "--config", str(config), "--port", str(self.port)]
        cmd += ["--data", str(work / "data"), "--log-level", "warning"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.headers: dict[str, str] = {}

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the hub exited ({self.proc.returncode}):\n{tail}")

    async def ready(self, client: httpx.AsyncClient) -> None:
        for _ in range(600):
            self.alive()
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(self.url + "/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        r = await client.post(self.url + "/api/auth/login", json={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def cameras(self, client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
        r = await client.get(self.url + "/api/cameras", headers=self.headers)
        r.raise_for_status()
        return {c["id"]: c for c in r.json()}

    async def all_online(self, client: httpx.AsyncClient, n: int, timeout_s: float) -> float:
        t0 = time.monotonic()
        while True:
            self.alive()
            cams = await self.cameras(client)
            up = [c for c in cams.values() if c["state"] == "online" and (c.get("input_fps") or 0) > 0]
            if len(up) == n:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                states = Counter(c["state"] for c in cams.values())
                raise RuntimeError(f"only {len(up)} of {n} cameras online after {timeout_s:.0f} s: {dict(states)}")
            await asyncio.sleep(1.0)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the browser's processes ---------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_processes(profile: Path) -> dict[int, tuple[str, float]]:
    """Every process of the Chromium using ``profile`` (its cmdline names it, or an ancestor's
    does): pid -> (its kind: browser, renderer, gpu-process, utility, zygote…, CPU seconds)."""
    marker = f"--user-data-dir={profile}".encode()
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    kinds: dict[int, str] = {}
    roots: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        st = _stat(pid)
        if st is None:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[pid], cpu[pid] = st
        m = re.search(rb"--type=([a-z\-]+)", cmdline)
        kinds[pid] = m.group(1).decode() if m else "browser"
        if marker in cmdline and b"chrom" in cmdline.split(b"\0", 1)[0]:
            roots.add(pid)
    members = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return {pid: (kinds[pid], cpu[pid]) for pid in members}


def browser_cpu_between(a: dict[int, tuple[str, float]], b: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by process kind between two readings (a process born between them counts from 0)."""
    out: defaultdict[str, float] = defaultdict(float)
    for pid, (kind, cpu) in b.items():
        out[kind] += cpu - (a[pid][1] if pid in a else 0.0)
    return dict(out)


# -- the page ------------------------------------------------------------------------------------

INSTALL_JS = r"""() => {
  if (window.__bench) return;
  const now = () => performance.timeOrigin + performance.now();
  const B = (window.__bench = { frames: {}, dropped: {}, where: {}, players: {}, last: new WeakMap(),
    badges: [], seen: new Set(), since: now() });
  // Decoded frames per camera, summed over whatever <video> shows it (a camera that moves to the
  // alarm lane gets a new player): each element's counters are read every 250 ms.
  const sample = () => {
    for (const v of document.querySelectorAll(".wall-tile video[data-camera]")) {
      const cam = v.dataset.camera;
      const q = v.getVideoPlaybackQuality();
      if (!B.last.has(v)) B.players[cam] = (B.players[cam] ?? 0) + 1;
      let prev = B.last.get(v) ?? { t: 0, d: 0 };
      if (q.totalVideoFrames < prev.t) prev = { t: 0, d: 0 };
      B.frames[cam] = (B.frames[cam] ?? 0) + (q.totalVideoFrames - prev.t);
      B.dropped[cam] = (B.dropped[cam] ?? 0) + Math.max(0, q.droppedVideoFrames - prev.d);
      B.last.set(v, { t: q.totalVideoFrames, d: q.droppedVideoFrames });
      B.where[cam] = v.closest(".wall-lane") ? "lane" : v.closest(".wall-single") ? "single" : "grid";
    }
  };
  setInterval(sample, 250);
  B.mark = () => {
    sample();
    return { at: performance.now(), frames: { ...B.frames }, dropped: { ...B.dropped }, where: { ...B.where },
      players: { ...B.players } };
  };
  // Where a new player's time goes: every RTCPeerConnection of the page (PC_WATCH_JS).
  B.pcs = window.__pcs;
  // The browser's own timing of each WHEP offer: queued (no free connection to the hub yet) until
  // requestStart, then the hub's answer until responseStart.
  B.offers = [];
  B.requests = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const path = new URL(e.name).pathname;
      const m = /^\/whep\/([^/]+)$/.exec(path);
      if (m) B.offers.push({ camera: decodeURIComponent(m[1]), start: e.startTime, sent: e.requestStart,
        firstByte: e.responseStart });
      if (e.initiatorType === "fetch") B.requests.push({ kind: path.endsWith("/snapshot.jpg") ? "snapshot" : m
        ? "offer" : "other", start: e.startTime, end: e.responseEnd });
    }
  }).observe({ type: "resource" });
  // Each alert's badge, the moment it first appears on a tile (a new badge, or a badge that now
  // shows another alert). Badges there before this ran are not counted.
  const noteBadges = () => {
    const at = now();
    for (const b of document.querySelectorAll(".alert-badge[data-alert-id]")) {
      const id = b.dataset.alertId;
      if (B.seen.has(id)) continue;
      B.seen.add(id);
      const tile = b.closest(".wall-tile");
      const ts = b.dataset.eventTs ? Number(b.dataset.eventTs) : null;
      B.badges.push({ id, camera: tile?.dataset.camera ?? null, eventTs: ts, at,
        lane: Boolean(tile?.closest(".wall-lane")) });
    }
  };
  for (const b of document.querySelectorAll(".alert-badge[data-alert-id]")) B.seen.add(b.dataset.alertId);
  new MutationObserver(noteBadges).observe(document.body, { subtree: true, childList: true, attributes: true,
    attributeFilter: ["data-alert-id", "data-event-ts"] });
  // Layout switches: armed before the key is pressed; from its keydown, the first frame of every
  // tile the switch brought (a grid tile whose camera had no playing video before).
  B.arm = (key, size) => {
    const before = new Set([...document.querySelectorAll(".wall-tile video[data-camera]")]
      .filter((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0).map((v) => v.dataset.camera));
    B.pending = new Promise((resolve) => {
      const onKey = (e) => {
        if (e.key !== key) return;
        window.removeEventListener("keydown", onKey, true);
        const t0 = performance.now();
        const first = new Map();
        const watched = new WeakSet();
        const tick = () => {
          const grid = document.querySelector(".wall-grid");
          const elapsed = performance.now() - t0;
          const sized = grid && Number(grid.dataset.size) === size;
          const tiles = sized ? [...grid.querySelectorAll(":scope > .wall-tile[data-camera]")] : [];
          const brought = tiles.filter((t) => !before.has(t.dataset.camera));
          for (const tile of brought) {
            const cam = tile.dataset.camera;
            if (first.has(cam)) continue;
            const v = tile.querySelector("video");
            if (!v) continue;
            if (v.getVideoPlaybackQuality().totalVideoFrames > 0) first.set(cam, performance.now() - t0);
            else if (!watched.has(v) && v.requestVideoFrameCallback) {
              watched.add(v);
              v.requestVideoFrameCallback((ts) => { if (!first.has(cam)) first.set(cam, ts - t0); });
            }
          }
          const done = sized && brought.every((t) => first.has(t.dataset.camera));
          if (done || elapsed > __TIMEOUT__) {
            const rel = (x) => (x === null ? null : x - t0);
            const stages = {};
            for (const t of brought) {
              const cam = t.dataset.camera;
              const rec = B.pcs.filter((r) => r.camera === cam && r.posted >= t0).shift();
              const offer = rec && B.offers.find((o) => o.camera === cam && o.start >= rec.posted - 1);
              const busy = offer ? B.requests.filter((q) => q.start < offer.start && q.end > offer.start) : [];
              const sw = (window.__switches || []).filter((q) => q.camera === cam && q.posted >= t0).shift();
              // A kept connection switched to the camera (peer-pool.js): no offer, ICE or DTLS.
              if (!rec && sw) stages[cam] = { switched: true, posted: rel(sw.posted), answered: rel(sw.answered) };
              // An offer made ahead of time (before the key) has no "made" step of its own.
              if (rec) stages[cam] = { created: rec.created >= t0 ? rel(rec.created) : null, ready: rec.created < t0,
                posted: rel(rec.posted),
                inFlight: busy.length, snapshotsInFlight: busy.filter((q) => q.kind === "snapshot").length,
                sent: offer && offer.sent > 0 ? rel(offer.sent) : null,
                firstByte: offer && offer.firstByte > 0 ? rel(offer.firstByte) : null,
                answered: rel(rec.answered), ice: rel(rec.ice), connected: rel(rec.connected) };
            }
            resolve({ key, size, sized: Boolean(sized), brought: brought.map((t) => t.dataset.camera),
              first: Object.fromEntries(first), stages });
          } else requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      };
      window.addEventListener("keydown", onKey, true);
    });
    return before.size;
  };
}""".replace("__TIMEOUT__", str(SWITCH_TIMEOUT_MS))

PC_WATCH_JS = r"""(() => {
  // Added as an init script, before the page's own (which may make offers ahead of time): every
  // RTCPeerConnection of the page, when its offer was POSTed and answered (fetch, matched by the
  // offer's SDP), when ICE and then DTLS connected.
  const pcs = (window.__pcs = []);
  const NativePC = window.RTCPeerConnection;
  function WatchedPC(...a) {
    const pc = new NativePC(...a);
    const rec = { pc, camera: null, created: performance.now(), posted: null, answered: null, ice: null,
      connected: null };
    pcs.push(rec);
    pc.addEventListener("iceconnectionstatechange", () => {
      if (rec.ice === null && ["connected", "completed"].includes(pc.iceConnectionState)) rec.ice = performance.now();
    });
    pc.addEventListener("connectionstatechange", () => {
      if (rec.connected === null && pc.connectionState === "connected") rec.connected = performance.now();
    });
    return pc;
  }
  WatchedPC.prototype = NativePC.prototype;
  Object.setPrototypeOf(WatchedPC, NativePC);
  window.RTCPeerConnection = WatchedPC;
  const nativeFetch = window.fetch;
  const switches = (window.__switches = []);
  window.fetch = function (input, init) {
    const p = nativeFetch.call(this, input, init);
    const path = new URL(typeof input === "string" ? input : input.url, location.href).pathname;
    if (/^\/whep\/[^/]+\/[^/]+\/switch$/.test(path) && init && init.method === "POST") {
      const camera = JSON.parse(String(init.body)).camera;
      if (camera) {
        const rec = { camera, posted: performance.now(), answered: null };
        switches.push(rec);
        p.then(() => { rec.answered = performance.now(); }, () => {});
      }
    }
    const m = /^\/whep\/([^/]+)$/.exec(path);
    if (m && init && init.method === "POST") {
      const rec = pcs.find((r) => r.camera === null && r.pc.localDescription?.sdp === init.body);
      if (rec) {
        rec.camera = decodeURIComponent(m[1]);
        rec.posted = performance.now();
        p.then(() => { rec.answered = performance.now(); }, () => {});
      }
    }
    return p;
  };
})();"""


FEED_WATCH_JS = """(() => {
  // Added as an init script (before the page's own): when each alert.started event's feed message
  // reached the page, to split event -> badge into the hub's part and the page's.
  const Native = window.WebSocket;
  const seen = (window.__feedSeen = {});
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (m) => {
        const at = performance.timeOrigin + performance.now();
        if (typeof m.data !== "string" || !m.data.includes("alert.started")) return;
        try {
          for (const ev of JSON.parse(m.data)) {
            const id = ev && ev.type === "alert.started" && ev.data && ev.data.alert_id;
            if (id && !(id in seen)) seen[id] = at;
          }
        } catch {}
      });
    }
  };
})();"""

PLAYING_JS = """() => [...document.querySelectorAll('.wall-tile video[data-camera]')]
  .filter((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0).length"""

OVERVIEW_JS = """() => ({
  tiles: document.querySelectorAll('.wall-overview .wall-tile').length,
  pictures: document.querySelectorAll('.wall-overview .wall-tile img').length,
  lane: document.querySelectorAll('.wall-lane .wall-tile').length,
  grid: document.querySelectorAll('.wall-grid > .wall-tile[data-camera]').length,
})"""


async def wait_for(page: Any, js: str, ok: Any, timeout_s: float, what: str) -> Any:
    t0 = time.monotonic()
    while True:
        value = await page.evaluate(js)
        if ok(value):
            return value
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.25)


# -- the run -------------------------------------------------------------------------------------


def render_scenes(data: Path) -> float:
    """Render the scenes into the hub's data dir before it starts (the hub would do it itself)."""
    from streams.synthetic import ensure_scene

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(SCENES)) as pool:
        list(pool.map(lambda name: ensure_scene(name, data), SCENES))
    return time.monotonic() - t0


def fmt_ms(v: float) -> str:
    return "—" if v != v else f"{v:,.0f} ms"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def prepare(work: Path, n: int) -> Path:
    """The scenes rendered and the config written and checked (``skyhub check-config``)."""
    print(f"machine: {machine()}")
    if n < LIVE + 1:
        raise SystemExit(f"--cameras must be more than {LIVE}")
    rendered = render_scenes(work / "data")
    print(f"scenes rendered in {rendered:.1f} s; {n} cameras, {LIVE} live ({ANALYSED} with analysis)")
    config = write_config(work, n)
    check = subprocess.run(
        [sys.executable, "-m", "hub", "check-config", str(config)], cwd=REPO, capture_output=True, text=True
    )
    if check.returncode != 0:
        raise SystemExit(f"the generated config is refused:\n{check.stdout}{check.stderr}")
    return config


async def run(args: argparse.Namespace, work: Path, config: Path) -> None:
    from playwright.async_api import async_playwright

    n = args.cameras
    hub = Hub(work, config)
    context: Any = None
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await hub.ready(client)
            took = await hub.all_online(client, n, 300)
            print(f"hub up on {hub.url}; all {n} cameras online after {took:.1f} s")

            # 1. Ingest alone: no viewer.
            await asyncio.sleep(3)
            c0, t0 = hub.cpu_s(), time.monotonic()
            await asyncio.sleep(args.ingest_s)
            c1, t1 = hub.cpu_s(), time.monotonic()
            ingest_core = (c1 - c0) / (t1 - t0)
            print(f"1. ingest alone over {t1 - t0:.0f} s: hub {100 * ingest_core:.1f} % of a core")

            # 2. The wall.
            layouts = {"current": {"size": LIVE, "slots": None, "overview": True}, "saved": []}
            r = await client.put(hub.url + "/api/me/prefs/wall.layouts", json=layouts, headers=hub.headers)
            r.raise_for_status()
            profile = work / "chromium-profile"
            async with async_playwright() as pw:
                context = await pw.chromium.launch_persistent_context(
                    str(profile),
                    executable_path=CHROMIUM,
                    headless=True,
                    args=CHROMIUM_ARGS,
                    viewport=VIEWPORT,
                    locale="en-US",
                )
                await context.add_init_script(FEED_WATCH_JS)
                await context.add_init_script(PC_WATCH_JS)
                page = context.pages[0] if context.pages else await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(hub.url + "/login?next=/")
                await page.fill("input[name=username]", USER)
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(lambda u: "/login" not in u, timeout=30_000)
                await page.wait_for_selector(f'.wall-grid[data-size="{LIVE}"]', timeout=60_000)
                tw = time.monotonic()
                await wait_for(page, PLAYING_JS, lambda v: v >= LIVE, 180, f"{LIVE} live videos playing")
                print(f"2. desk open, {LIVE} live tiles playing after {time.monotonic() - tw:.1f} s")
                await asyncio.sleep(5)  # past the start-up burst
                await page.evaluate(INSTALL_JS)
                before = await hub.cameras(client)
                b0 = browser_processes(profile)
                m0 = await page.evaluate("() => window.__bench.mark()")
                c0, t0 = hub.cpu_s(), time.monotonic()
                await asyncio.sleep(args.duration)
                c1, t1 = hub.cpu_s(), time.monotonic()
                m1 = await page.evaluate("() => window.__bench.mark()")
                b1 = browser_processes(profile)
                after = await hub.cameras(client)
                shown = await page.evaluate(OVERVIEW_JS)
                steady_end = await page.evaluate("() => performance.timeOrigin + performance.now()")
                wall_core = (c1 - c0) / (t1 - t0)
                by_kind = browser_cpu_between(b0, b1)
                browser_core = sum(by_kind.values()) / (t1 - t0)
                print(f"   wall over {t1 - t0:.0f} s: hub {100 * wall_core:.1f} %, browser {100 * browser_core:.0f} %")

                # 3. Layout switches.
                await page.evaluate("() => document.activeElement && document.activeElement.blur()")
                switches = []
                c2, t2 = hub.cpu_s(), time.monotonic()
                for key in SWITCH_KEYS:
                    await page.evaluate("([k, s]) => window.__bench.arm(k, s)", [key, KEY_SIZE[key]])
                    await page.keyboard.press(key)
                    switches.append(await page.evaluate("() => window.__bench.pending"))
                    await asyncio.sleep(1.5)
                switch_core = (hub.cpu_s() - c2) / (time.monotonic() - t2)
                switch_s = time.monotonic() - t2
                badges = await page.evaluate("() => window.__bench.badges")
                feed_seen = await page.evaluate("() => window.__feedSeen ?? {}")
                since_ms = await page.evaluate("() => window.__bench.since")
                until_s = time.time()
                await context.close()
                context = None
            events = await alert_events(hub, client, since_ms / 1000, until_s)
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await context.close()
        hub.stop()

    report(
        args,
        before=before,
        after=after,
        m0=m0,
        m1=m1,
        ingest_core=ingest_core,
        wall_core=wall_core,
        browser_core=browser_core,
        by_kind={k: v / (t1 - t0) for k, v in by_kind.items()},
        switches=switches,
        switch_core=switch_core,
        switch_s=switch_s,
        badges=badges,
        feed_seen=feed_seen,
        steady_end=steady_end,
        since_ms=since_ms,
        events=events,
        shown=shown,
        errors=errors,
    )


async def alert_events(hub: Hub, client: httpx.AsyncClient, since_s: float, until_s: float) -> list[dict[str, Any]]:
    """The ``alert.started`` events the hub logged from ``since_s`` to ``until_s`` (epoch seconds)."""
    out: list[dict[str, Any]] = []
    cursor = 0
    while True:
        params: dict[str, Any] = {"since": cursor, "limit": 1000, "type": "alert.started"}
        r = await client.get(hub.url + "/api/events", params=params, headers=hub.headers)
        r.raise_for_status()
        page = r.json()
        events = page["events"] if isinstance(page, dict) else page
        if not events:
            return out
        for ev in events:
            if since_s <= datetime.fromisoformat(ev["ts"]).timestamp() <= until_s:
                out.append(ev)
        cursor = max(ev["id"] for ev in events)


def report(args: argparse.Namespace, **r: Any) -> None:
    m0, m1 = r["m0"], r["m1"]
    dt = (m1["at"] - m0["at"]) / 1000
    rows = []
    ratios = []
    for cid in sorted(m1["frames"]):
        fps_in = statistics.mean(float(x[cid].get("input_fps") or 0) for x in (r["before"], r["after"]))
        frames = m1["frames"][cid] - m0["frames"].get(cid, 0)
        dropped = m1["dropped"].get(cid, 0) - m0["dropped"].get(cid, 0)
        drops = int(r["after"][cid].get("viewer_drops") or 0) - int(r["before"][cid].get("viewer_drops") or 0)
        new_players = m1["players"].get(cid, 0) - m0["players"].get(cid, 0)
        fps = frames / dt
        ratio = fps / fps_in if fps_in else float("nan")
        ratios.append(ratio)
        rows.append(
            [
                cid,
                m1["where"].get(cid, "?"),
                f"{fps_in:.2f}",
                f"{fps:.2f}",
                f"{100 * ratio:.1f} %",
                f"{(frames - dropped) / dt:.2f}",
                str(drops),
                str(new_players),
            ]
        )
    at_rate = sum(1 for x in ratios if x >= RATE_OK)

    firsts: list[float] = []
    missing = 0
    for sw in r["switches"]:
        for cam in sw["brought"]:
            if cam in sw["first"]:
                firsts.append(float(sw["first"][cam]))
            else:
                missing += 1
                firsts.append(float(SWITCH_TIMEOUT_MS))
    f50, f95 = pct(firsts, 0.5), pct(firsts, 0.95)

    measured = [b for b in r["badges"] if b["eventTs"] is not None and b["eventTs"] >= r["since_ms"]]
    lat = [b["at"] - b["eventTs"] for b in measured]
    steady = [b["at"] - b["eventTs"] for b in measured if b["at"] <= r["steady_end"]]
    b50, b99 = pct(lat, 0.5), pct(lat, 0.99)
    seen_ids = {b["id"] for b in measured}
    logged = [e for e in r["events"] if e["data"].get("alert_id")]
    unseen = [e for e in logged if e["data"]["alert_id"] not in seen_ids]

    ratio = r["wall_core"] / r["ingest_core"] if r["ingest_core"] else float("nan")
    n_live = len(ratios)
    summary = [
        [
            f"live tiles at their camera's rate (decoded ≥ {int(100 * RATE_OK)} % of input fps)",
            f"{at_rate}/{n_live} (lowest {100 * min(ratios):.1f} %)" if ratios else "none",
            f"{LIVE}/{LIVE}",
            yes(at_rate == LIVE and n_live == LIVE),
        ],
        [
            f"first frame after a layout switch, p50 ({len(firsts)} tiles, {len(r['switches'])} switches)",
            fmt_ms(f50),
            f"≤ {TARGETS['first_p50']:.0f} ms",
            yes(f50 <= TARGETS["first_p50"]),
        ],
        [
            "first frame after a layout switch, p95" + (f" ({missing} never came: counted as 15 s)" if missing else ""),
            fmt_ms(f95),
            f"≤ {TARGETS['first_p95']:,.0f} ms",
            yes(f95 <= TARGETS["first_p95"]),
        ],
        [f"alert event → badge, p50 ({len(lat)} alerts)", fmt_ms(b50), "—", ""],
        ["alert event → badge, p99", fmt_ms(b99), f"≤ {TARGETS['badge_p99']:.0f} ms", yes(b99 <= TARGETS["badge_p99"])],
        [
            "hub CPU, wall / ingest alone",
            f"{ratio:.2f}× ({100 * r['wall_core']:.1f} % / {100 * r['ingest_core']:.1f} % of a core)",
            f"≤ {TARGETS['cpu_ratio']}×",
            yes(ratio <= TARGETS["cpu_ratio"]),
        ],
        ["browser CPU (all Chromium processes)", f"{100 * r['browser_core']:.0f} % of a core", "—", ""],
    ]
    print(f"\nmachine at the end: {machine()}")
    tiles = f"{n_live} live + {r['shown']['tiles']} snapshot tiles"
    print(f"\n### Wall: {tiles}, {dt:.0f} s window (`--duration {args.duration:g}`)\n")
    print(table(summary, ["figure", "measured", "target", "met?"]))
    print(
        "\nPer live tile over the window (where: grid, or the alarm lane once its camera alerted; painted: decoded"
        " less the browser's droppedVideoFrames; new players: <video>s started for it inside the window):\n"
    )
    print(
        table(
            rows,
            [
                "camera",
                "where",
                "input fps",
                "decoded fps",
                "of rate",
                "painted fps",
                "viewer drops (hub)",
                "new players",
            ],
        )
    )
    print(
        f"\nCPU in % of one core: hub ingest alone {100 * r['ingest_core']:.1f} %, hub with the wall "
        f"{100 * r['wall_core']:.1f} % (ratio {ratio:.2f}); browser {100 * r['browser_core']:.0f} % "
        "(" + ", ".join(f"{k} {100 * v:.0f} %" for k, v in sorted(r["by_kind"].items(), key=lambda x: -x[1])) + ")"
    )
    shown = r["shown"]
    print(
        f"on screen at the window's end: {shown['grid']} live grid tiles, {shown['lane']} in the alarm lane, "
        f"{shown['pictures']} of {shown['tiles']} overview tiles showing a picture"
    )
    if lat:
        print(
            f"alert → badge: {len(steady)} in the steady window (p50 {fmt_ms(pct(steady, 0.5))}, "
            f"p99 {fmt_ms(pct(steady, 0.99))}), {len(lat) - len(steady)} during the layout switches; "
            f"max {fmt_ms(max(lat))}; {len(unseen)} of {len(logged)} logged alert.started never had a badge of "
            "their own (another alert of the camera newer by the time the page drew)"
        )
    if lat:
        print("alert → badge, every one (ms): " + ", ".join(f"{x:.0f}" for x in sorted(lat)))
    hub_part = [r["feed_seen"][b["id"]] - b["eventTs"] for b in measured if b["id"] in r["feed_seen"]]
    page_part = [b["at"] - r["feed_seen"][b["id"]] for b in measured if b["id"] in r["feed_seen"]]
    if hub_part:
        print(
            f"alert → badge split: event → its feed message in the page p50 {fmt_ms(pct(hub_part, 0.5))}, "
            f"p99 {fmt_ms(pct(hub_part, 0.99))}, max {fmt_ms(max(hub_part))}; feed message → badge p50 "
            f"{fmt_ms(pct(page_part, 0.5))}, p99 {fmt_ms(pct(page_part, 0.99))}, max {fmt_ms(max(page_part))}"
        )
    per_switch = []
    for sw in r["switches"]:
        got = [float(sw["first"][c]) for c in sw["brought"] if c in sw["first"]]
        if not sw["brought"]:
            per_switch.append(f"{sw['key']}→{sw['size']}: 0 new")
            continue
        waits = [
            float(st["firstByte"]) - float(st["sent"])
            for st in sw.get("stages", {}).values()
            if st.get("firstByte") is not None and st.get("sent") is not None
        ]
        queued = [
            float(st["sent"]) - float(st["posted"])
            for st in sw.get("stages", {}).values()
            if st.get("sent") is not None and st.get("posted") is not None
        ]
        per_switch.append(
            f"{sw['key']}→{sw['size']}: {len(sw['brought'])} new, first frame p50 {pct(got, 0.5):.0f} / max "
            f"{max(got, default=float('nan')):.0f} ms, offer queued p50 {pct(queued, 0.5):.0f} ms, "
            f"hub answer p50 {pct(waits, 0.5):.0f} ms"
        )
    print("switches: " + "; ".join(per_switch))
    started = sum(len(sw["brought"]) for sw in r["switches"])
    extra = (r["switch_core"] - r["wall_core"]) * r["switch_s"]
    print(
        f"hub CPU during the switches: {100 * r['switch_core']:.1f} % of a core over {r['switch_s']:.0f} s, "
        f"{1000 * extra / max(1, started):.0f} ms above the steady wall per player started ({started} started)"
    )
    by_switch = [
        float(sw["first"][c])
        for sw in r["switches"]
        for c, st in sw.get("stages", {}).items()
        if st.get("switched") and c in sw["first"]
    ]
    by_offer = [
        float(sw["first"][c])
        for sw in r["switches"]
        for c, st in sw.get("stages", {}).items()
        if not st.get("switched") and c in sw["first"]
    ]
    print(
        f"first frame by how the tile got its connection: a kept one switched to its camera {len(by_switch)} "
        f"(p50 {pct(by_switch, 0.5):.0f} / p95 {pct(by_switch, 0.95):.0f} ms), a new offer {len(by_offer)} "
        f"(p50 {pct(by_offer, 0.5):.0f} / p95 {pct(by_offer, 0.95):.0f} ms)"
    )
    order = ["created", "posted", "sent", "firstByte", "answered", "ice", "connected", "first"]
    names = {
        "created": "keydown → player made (render)",
        "posted": "→ offer POSTed (offer made, or taken ready)",
        "sent": "→ request sent (queued for a connection)",
        "firstByte": "→ answer's first byte (hub)",
        "answered": "→ answer read",
        "ice": "→ ICE connected",
        "connected": "→ DTLS connected",
        "first": "→ first frame",
    }
    steps: dict[str, list[float]] = {k: [] for k in order}
    crowded = [st for sw in r["switches"] for st in sw.get("stages", {}).values() if st.get("inFlight", 0) >= 6]
    offered = sum(1 for sw in r["switches"] for st in sw.get("stages", {}).values() if not st.get("switched"))
    snaps = [st.get("snapshotsInFlight", 0) for st in crowded]
    print(
        f"offers made while 6 or more of the page's other requests to the hub were pending (Chromium opens 6 "
        f"connections per host on HTTP/1.1): {len(crowded)} of {offered}"
        + (f", with {statistics.median(snaps):.0f} snapshot requests among those pending (median)" if snaps else "")
    )
    for sw in r["switches"]:
        for cam, st in sw.get("stages", {}).items():
            if st.get("switched"):
                continue
            marks = {k: st.get(k) for k in order[:-1]} | {"first": sw["first"].get(cam)}
            prev = 0.0
            for k in order:
                if marks.get(k) is None:
                    if k == "created":  # an offer made ahead of time: its step starts from the key
                        continue
                    break
                steps[k].append(float(marks[k]) - prev)
                prev = float(marks[k])
    ready = sum(1 for sw in r["switches"] for st in sw.get("stages", {}).values() if st.get("ready"))
    print(f"offers made ahead of time (before the key): {ready} of {offered}")
    print(
        "first frame, where the time goes (each step's p50 / p95 over the tiles brought): "
        + "; ".join(f"{names[k]} {pct(v, 0.5):.0f} / {pct(v, 0.95):.0f} ms" for k, v in steps.items() if v)
    )
    if r["errors"]:
        print("page errors: " + "; ".join(r["errors"][:5]))


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bench-wall-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the wall's window")
    ap.add_argument("--ingest-s", type=float, default=30.0, help="seconds of the ingest-alone window")
    ap.add_argument("--cameras", type=int, default=64, help="cameras in the config (16 live, up to 48 snapshots)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (config, hub log, profile)")
    args = ap.parse_args()
    with workdir(args.keep) as work:
        config = prepare(work, args.cameras)
        asyncio.run(run(args, work, config))


if __name__ == "__main__":
    main()
