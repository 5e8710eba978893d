"""Benchmark: what a flood of wrong logins costs alert evidence and viewers, against a no-flood floor.

A real hub process (``skyhub run``) with N cameras ``synthetic://street`` (motion alerts every few
seconds, each with a snapshot and a clip) runs three scenarios in turn, each for ``--duration`` s:

1. no flood: the floor;
2. flood from one address: 100 concurrent clients POST wrong passwords to /api/auth/login as fast
   as they get answers, all from one loopback address;
3. flood from 100 addresses: the same, each client bound to its own source address
   (127.0.1.1 … 127.0.1.100), so the per-address limits alone cannot stop it.

The flood comes from a child process (a minimal HTTP client, much cheaper per request than the
hub), so that this process's own measurements do not wait behind it. Every guess uses a user name
of its own (password spraying), so the per-name limits do not stop it either.

During each scenario: a staff client GETs /api/cameras/<id>/snapshot.jpg once a second per camera
(latency of every request, a timed-out one counted as its timeout; answers other than 200); the
alerts whose frame time falls in the scenario, read back from /api/events after the post-roll and
a few seconds more (snapshot missing, clip failed or dropped, clip never written, and the time
from the alert's frame to its ``alert.started`` in the log); login answers by status (401 means a
password was actually checked); the hub process's CPU from /proc (all threads, the event loop's
thread, and the password threads: those at nice > 0 plus threads that ended, as argon2's lane
threads do); and, 5 s before the end, a login by a legitimate user from an address of its own.
Two more figures tell where a delay comes from: GET /healthz every 0.2 s (the wait for the hub's
event loop alone), and the scenario's alerts ended as ``no_frames`` (the analysis saw no frame for
an alert's end grace and took it for a lost picture: each such end is followed by a new alert).
The cameras still online at each scenario's end are counted: a camera whose reader hung shows there.

Run: .venv/bin/python scripts/bench_login_flood.py [--duration 30] [--cameras 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from loadgen import PASSWORD, SECRET, machine, pct, proc_cpu_s  # noqa: E402

HOST = "127.0.0.1"
STAFF = "staff"
"""Dispatcher whose token reads snapshots, events and metrics (logged in once, before any flood)."""
LEGIT = "duty"
"""Dispatcher who logs in during each scenario, from an address no flood uses."""
FLOOD_CLIENTS = 100
ONE_ADDRESS = "127.0.2.1"
MANY_ADDRESSES = [f"127.0.1.{i}" for i in range(1, FLOOD_CLIENTS + 1)]
LEGIT_ADDRESS = "127.0.4.{}"
"""The legitimate login's address, one per scenario (``{}`` is the scenario's number)."""
PREROLL_S = 1.0
POSTROLL_S = 2.0
SNAPSHOT_TIMEOUT_S = 20.0
FLOOD_ANSWER_TIMEOUT_S = 30.0
EVIDENCE_GRACE_S = 8.0
"""After a scenario, wait up to the post-roll and this long for every alert's clip outcome."""
LEGIT_BEFORE_END_S = 5.0
LEGIT_TRIES = 4
STARTUP_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 30.0
METRIC_PREFIXES = ("skyhub_work_", "skyhub_login")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark could not run; the message says why."""


# -- the flood (child process) ----------------------------------------------------------------


async def _post_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> tuple[int, bool]:
    """One POST /api/auth/login on a kept-alive connection: ``(status, connection still usable)``."""
    writer.write(
        b"POST /api/auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (HOST.encode(), len(body), body)
    )
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("connection closed before an answer")
    length, keep = 0, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    await reader.readexactly(length)
    return int(status_line.split()[1]), keep


async def flood(port: int, addresses: list[str], clients: int, seconds: float, prefix: str) -> dict[str, Any]:
    """``clients`` loops posting wrong passwords for ``seconds``; answers counted by status.

    Requests still unanswered at the end are abandoned (not counted): the window is exact.
    """
    counts: Counter[str] = Counter()
    answered: dict[str, list[float]] = {}

    async def client(k: int) -> None:
        address = addresses[k % len(addresses)]
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        n = 0
        try:
            while time.monotonic() < deadline:  # also when a cancellation is lost (wait_for in 3.11)
                n += 1
                body = json.dumps({"username": f"{prefix}-{k}-{n}", "password": "wrong"}).encode()
                t = time.perf_counter()
                try:
                    async with asyncio.timeout(FLOOD_ANSWER_TIMEOUT_S):
                        if conn is None:
                            conn = await asyncio.open_connection(HOST, port, local_addr=(address, 0))
                        status, keep = await _post_login(*conn, body)
                except TimeoutError:
                    counts["timeout"] += 1
                    keep = False
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    counts["error"] += 1
                    keep = False
                    await asyncio.sleep(0.05)
                else:
                    if time.monotonic() < deadline:
                        counts[str(status)] += 1
                        answered.setdefault(str(status), []).append(time.perf_counter() - t)
                if not keep and conn is not None:
                    conn[1].close()
                    conn = None
        finally:
            if conn is not None:
                conn[1].close()

    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(client(k)) for k in range(clients)]
    await asyncio.wait(tasks, timeout=seconds)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    bad = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    if bad:
        raise bad[0]
    usage = os.times()
    return {
        "counts": dict(counts),
        "p50_ms": {s: pct(v, 0.5) * 1000 for s, v in answered.items()},
        "cpu_s": usage.user + usage.system,
    }


def flood_child(spec: str) -> None:
    """Entry of the child process: announce ``ready``, flood, print the result as one JSON line."""
    args = json.loads(spec)
    print("ready", flush=True)
    result = asyncio.run(flood(args["port"], args["addresses"], args["clients"], args["seconds"], args["prefix"]))
    print(json.dumps(result), flush=True)


class FloodProcess:
    """The flood in a child process, so that this process's measuring loop is not its victim too."""

    def __init__(self, port: int, addresses: list[str], seconds: float, prefix: str) -> None:
        self.spec = json.dumps(
            {"port": port, "addresses": addresses, "clients": FLOOD_CLIENTS, "seconds": seconds, "prefix": prefix}
        )
        self.seconds = seconds
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--flood-child",
            self.spec,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            err = await self._kill()
            raise BenchError(f"the flood process did not start: {line!r} {err}")

    async def result(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), self.seconds + 60)
        except TimeoutError:
            raise BenchError(f"the flood process did not finish: {await self._kill()}") from None
        if self.proc.returncode != 0:
            raise BenchError(f"the flood process failed ({self.proc.returncode}): {err.decode()[-2000:]}")
        return dict(json.loads(out.decode().strip().splitlines()[-1]))

    async def _kill(self) -> str:
        if self.proc is None or self.proc.returncode is not None:
            return ""
        self.proc.kill()
        _, err = await self.proc.communicate()
        return err.decode()[-2000:]

    async def aclose(self) -> None:
        await self._kill()


# -- the hub process --------------------------------------------------------------------------


def hub_config(cameras: int) -> dict[str, Any]:
    from argon2 import PasswordHasher

    h = PasswordHasher().hash(PASSWORD)
    return {
        "users": [
            {"username": STAFF, "roles": ["dispatcher"], "password_hash": h},
            {"username": LEGIT, "roles": ["dispatcher"], "password_hash": h},
        ],
        "cameras": [
            {
                "id": f"cam{i}",
                "url": "synthetic://street",
                "preroll_s": PREROLL_S,
                "postroll_s": POSTROLL_S,
                "analysis": {"fps": 4, "width": 160, "height": 90, "cooldown_s": 1.0},
            }
            for i in range(cameras)
        ],
    }


class Hub:
    """``skyhub run`` on a loopback port, its log in a file (shown when something goes wrong)."""

    def __init__(self, tmp: Path, port: int, cameras: int) -> None:
        import yaml

        self.port = port
        self.base = f"http://{HOST}:{port}"
        self.log_path = tmp / "hub.log"
        cfg = tmp / "bench.yaml"
        cfg.write_text(yaml.safe_dump(hub_config(cameras)))
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "hub", "run", "--config", str(cfg)),
                *("--host", HOST, "--port", str(port), "--data", str(tmp / "data"), "--log-level", "warning"),
            ],
            cwd=REPO,
            # A crash of the hub (a signal) leaves every thread's Python stack in its log.
            env={**os.environ, "SKYHUB_SECRET": SECRET, "PYTHONFAULTHANDLER": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        """The end of the hub's log; from a crash's report on, when there is one (faulthandler)."""
        text = self.log_path.read_text(errors="replace").splitlines()
        fatal = [i for i, line in enumerate(text) if line.startswith("Fatal Python error")]
        shown = text[fatal[-1] : fatal[-1] + 200] if fatal else text[-lines:]
        return "\n".join(shown) or "(the hub's log is empty)"

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"the hub exited with {self.proc.returncode}; its log ends:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> str:
        """SIGTERM, then SIGKILL after ``timeout_s``; how it went."""
        if self.proc.poll() is not None:
            self._log.close()
            return f"the hub had already exited ({self.proc.returncode})"
        t = time.perf_counter()
        before = self.log_path.stat().st_size
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
            took = time.perf_counter() - t
            # uvicorn shuts down gracefully, then raises the captured signal again: -15 is the clean end.
            how = f"the hub stopped on SIGTERM in {took:.1f} s (exit status {code}"
            how += ", uvicorn re-raises SIGTERM after its graceful shutdown)" if code == -signal.SIGTERM else ")"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            how = f"the hub did not stop within {timeout_s:.0f} s of SIGTERM and was killed"
        self._log.close()
        with self.log_path.open("rb") as f:
            f.seek(before)
            tail = f.read().decode(errors="replace").strip()
        last = "\n".join(tail.splitlines()[-12:])
        return how + (f"; its log during the stop ends:\n{last}" if tail else "; nothing in its log during the stop")

    def warnings(self) -> Counter[str]:
        """The hub's WARNING/ERROR lines, by message with numbers and ids blanked."""
        out: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line or line.startswith(("WARNING", "ERROR")):
                msg = re.sub(r"^.*?(WARNING|ERROR)\S*\s+", r"\1 ", line)
                out[re.sub(r"[0-9a-f]{6,}|\d+(\.\d+)?", "#", msg)[:160]] += 1
        return out


# -- measuring --------------------------------------------------------------------------------


@dataclass
class ThreadCpu:
    """CPU seconds of a process: in all, of its main thread, of its live threads at nice > 0, of all live threads."""

    total: float
    main: float
    niced: dict[int, float]
    live: dict[int, float]


def thread_cpu(pid: int) -> ThreadCpu:
    niced: dict[int, float] = {}
    live: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
        tid, cpu = int(task.name), (int(fields[11]) + int(fields[12])) / CLK_TCK
        live[tid] = cpu
        if int(fields[16]) > 0:
            niced[tid] = cpu
    return ThreadCpu(proc_cpu_s(pid), live.get(pid, 0.0), niced, live)


def cpu_split(before: ThreadCpu, after: ThreadCpu, seconds: float) -> dict[str, float]:
    """% of one core: the whole hub, its event loop's thread, and the password threads.

    Password threads: live threads at nice > 0 (the password pool's, and argon2's lane threads
    they start) plus CPU of threads that ended within the window (argon2 starts its lane threads
    for each pass and joins them: their time shows only in the process's total).
    """
    total = after.total - before.total
    niced = sum(cpu - before.niced.get(tid, 0.0) for tid, cpu in after.niced.items())
    accounted = sum(cpu - before.live.get(tid, 0.0) for tid, cpu in after.live.items())
    ended = max(0.0, total - accounted)
    return {
        "hub": total / seconds * 100,
        "loop": (after.main - before.main) / seconds * 100,
        "pw": (niced + ended) / seconds * 100,
    }


def own_cpu_s() -> float:
    """CPU seconds of this process (the measuring clients)."""
    t = os.times()
    return t.user + t.system


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


async def poll(what: str, timeout_s: float, check: Callable[[], Awaitable[bool]], every_s: float = 0.5) -> None:
    """Call ``check`` until it is true; :class:`BenchError` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(every_s)


async def metrics(staff: Any) -> dict[str, float]:
    r = await staff.get("/metrics")
    r.raise_for_status()
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


async def read_events(staff: Any, since: int, types: tuple[str, ...]) -> tuple[list[dict[str, Any]], int]:
    """Every event after ``since`` whose type starts with one of ``types``; and the log's head."""
    events: list[dict[str, Any]] = []
    while True:
        params: list[tuple[str, str | int]] = [("since", since), ("limit", 1000), *(("type", t) for t in types)]
        r = await staff.get("/api/events", params=params)
        r.raise_for_status()
        page = r.json()
        events += page["events"]
        if len(page["events"]) < 1000:
            return events, int(page["head_id"])
        since = int(page["last_id"])


def parse_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Row:
    name: str
    snap_lat: list[float] = field(default_factory=list)
    snap_codes: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    no_snapshot: int = 0
    clip_failed: int = 0
    clip_missing: int = 0
    alert_delay: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    lapsed: int = 0
    online: str = ""
    probe_lat: list[float] = field(default_factory=list)
    logins: Counter[str] = field(default_factory=Counter)
    login_p50_ms: dict[str, float] = field(default_factory=dict)
    flood_cpu: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    others: float = 0.0
    legit: str = ""
    seconds: float = 0.0


async def snapshots(staff: Any, cameras: list[str], t0: float, seconds: float, row: Row) -> None:
    """One GET per camera per second for ``seconds`` from ``t0`` (each on its own schedule)."""
    import httpx

    async def one(camera: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        t = time.perf_counter()
        try:
            r = await staff.get(f"/api/cameras/{camera}/snapshot.jpg", timeout=SNAPSHOT_TIMEOUT_S)
            ok = r.status_code == 200 and r.content[:2] == b"\xff\xd8"
            code = "200" if ok else str(r.status_code if r.status_code != 200 else "not a JPEG")
            row.snap_lat.append(time.perf_counter() - t)
        except httpx.TimeoutException:
            code = "timeout"
            row.snap_lat.append(SNAPSHOT_TIMEOUT_S)
        except httpx.TransportError as exc:
            code = type(exc).__name__
        row.snap_codes[code] += 1

    n = int(seconds)
    await asyncio.gather(*(one(cam, t0 + i + k / len(cameras)) for i in range(n) for k, cam in enumerate(cameras)))


async def loop_probe(staff: Any, t_end: float, row: Row) -> None:
    """GET /healthz every 0.2 s: how long any request waits for the hub's event loop."""
    import httpx

    while time.monotonic() < t_end:
        t = time.perf_counter()
        try:
            await staff.get("/healthz", timeout=SNAPSHOT_TIMEOUT_S)
            row.probe_lat.append(time.perf_counter() - t)
        except httpx.TimeoutException:
            row.probe_lat.append(SNAPSHOT_TIMEOUT_S)
        except httpx.TransportError:
            pass
        await asyncio.sleep(max(0.0, 0.2 - (time.perf_counter() - t)))


async def legit_login(port: int, address: str, at: float) -> str:
    """A legitimate user's login at ``at``, from ``address``, retried as its Retry-After says."""
    import httpx

    await asyncio.sleep(max(0.0, at - time.monotonic()))
    transport = httpx.AsyncHTTPTransport(local_address=address)
    answers: list[str] = []
    t_all = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", transport=transport, timeout=30) as c:
        for _ in range(LEGIT_TRIES):
            t = time.perf_counter()
            try:
                r = await c.post("/api/auth/login", json={"username": LEGIT, "password": PASSWORD})
            except httpx.HTTPError as exc:
                answers.append(f"{type(exc).__name__} {(time.perf_counter() - t) * 1000:.0f} ms")
                continue
            answers.append(f"{r.status_code} {(time.perf_counter() - t) * 1000:.0f} ms")
            if r.status_code == 200:
                break
            await asyncio.sleep(min(2.0, float(r.headers.get("retry-after", "1"))))
    if len(answers) == 1:
        return answers[0]
    ok = answers[-1].startswith("200")
    took = (time.perf_counter() - t_all) * 1000
    return f"{answers[0]}; {len(answers)} tries, {'200' if ok else 'no token'} after {took:.0f} ms"


async def evidence(staff: Any, cursor: int, t0_wall: float, t1_wall: float, row: Row) -> None:
    """Alerts whose frame time is in [t0, t1): snapshot, clip, and how long until logged."""
    deadline = time.monotonic() + POSTROLL_S + EVIDENCE_GRACE_S
    while True:
        events, _ = await read_events(staff, cursor, ("alert.started", "alert.updated", "alert.ended"))
        started = [
            e for e in events if e["type"] == "alert.started" and t0_wall <= float(e["data"].get("ts", 0)) < t1_wall
        ]
        clips = {
            e["data"]["alert_id"]: e["data"]
            for e in events
            if e["type"] == "alert.updated" and ("clip_ready" in e["data"] or "clip_error" in e["data"])
        }
        waiting = [e for e in started if e["data"].get("clip") and e["data"]["alert_id"] not in clips]
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    row.alerts = len(started)
    ours = {e["data"]["alert_id"] for e in started}
    row.lapsed = sum(
        1 for e in events if e["type"] == "alert.ended" and e["data"].get("no_frames") and e["data"]["alert_id"] in ours
    )
    for e in started:
        data = e["data"]
        row.alert_delay.append(parse_ts(e["ts"]) - float(data["ts"]))
        row.kinds[str(data.get("kind"))] += 1
        row.no_snapshot += not data.get("snapshot")
        outcome = clips.get(data["alert_id"])
        if not data.get("clip") or outcome is None:  # dropped at the start, or never written
            row.clip_missing += 1
        elif not outcome.get("clip_ready"):
            row.clip_failed += 1


async def settle(staff: Any) -> None:
    """Wait until no job is pending in the hub's pools (the previous scenario's tail).

    A pool still busy after :data:`SETTLE_TIMEOUT_S` is reported and the run goes on: a job stuck
    for good (a hung snapshot) is a finding, not a reason to lose the other scenarios.
    """
    busy: dict[str, float] = {}

    async def idle() -> bool:
        nonlocal busy
        m = await metrics(staff)
        busy = {k: v for k, v in m.items() if k.startswith("skyhub_work_pending") and v}
        return not busy

    try:
        await poll("thread pools idle before the next scenario", SETTLE_TIMEOUT_S, idle)
    except BenchError:
        print(f"     still pending after {SETTLE_TIMEOUT_S:.0f} s (stuck?): {busy}; going on", flush=True)


async def scenario(
    hub: Hub, staff: Any, cameras: list[str], number: int, name: str, addresses: list[str] | None, seconds: float
) -> Row:
    row = Row(name, seconds=seconds)
    hub.check_alive()
    await settle(staff)
    await asyncio.sleep(2.0)
    _, cursor = await read_events(staff, 0, ("no-such-type",))
    flood_proc: FloodProcess | None = None
    if addresses:
        flood_proc = FloodProcess(hub.port, addresses, seconds, f"s{number}")
        await flood_proc.start()
    try:
        t0, t0_wall = time.monotonic(), time.time()
        cpu0, busy0, self0 = thread_cpu(hub.pid), machine_busy(), own_cpu_s()

        async def window_end() -> tuple[ThreadCpu, tuple[float, float], float]:
            await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
            return thread_cpu(hub.pid), machine_busy(), own_cpu_s()

        (cpu1, busy1, self1), _, _, row.legit = await asyncio.gather(
            window_end(),
            snapshots(staff, cameras, t0, seconds, row),
            loop_probe(staff, t0 + seconds, row),
            legit_login(hub.port, LEGIT_ADDRESS.format(number), t0 + max(0.0, seconds - LEGIT_BEFORE_END_S)),
        )
        t1_wall = t0_wall + seconds
        row.cpu = cpu_split(cpu0, cpu1, seconds)
        row.machine = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * 100
        if flood_proc is not None:
            result = await flood_proc.result()
            row.logins = Counter(result["counts"])
            row.login_p50_ms = result["p50_ms"]
            row.flood_cpu = result["cpu_s"] / seconds * 100
        # Everything else on the machine, in % of one core: how noisy the run was.
        ours = row.cpu["hub"] + row.flood_cpu + (self1 - self0) / seconds * 100
        row.others = max(0.0, row.machine * (os.cpu_count() or 1) - ours)
        hub.check_alive()
        states = {c["id"]: c["state"] for c in (await staff.get("/api/cameras")).json()}
        row.online = f"{sum(states.get(c) == 'online' for c in cameras)}/{len(cameras)}"
        await evidence(staff, cursor, t0_wall, t1_wall, row)
    finally:
        if flood_proc is not None:
            await flood_proc.aclose()
    return row


# -- the table --------------------------------------------------------------------------------


def fmt_ms(s: float) -> str:
    return "-" if s != s else f"{s * 1000:.0f}"


def table(rows: list[Row]) -> str:
    floor = rows[0]
    f50, f99 = pct(floor.snap_lat, 0.5), pct(floor.snap_lat, 0.99)
    head = [
        "scenario",
        "snaps",
        "snap p50 ms",
        "p99 ms",
        "max ms",
        "non-200",
        "p50 vs floor",
        "p99 vs floor",
        "cameras online at end",
        "alerts",
        "no snapshot",
        "clip failed",
        "no clip",
        "alert→log p50/max s",
        "ended 'no frames'",
        "/healthz p50/p99 ms",
        "401",
        "429",
        "503",
        "other",
        "checked/s",
        "hub CPU %",
        "loop thread %",
        "pw threads %",
        "flood gen %",
        "machine busy %",
        "other procs %",
        "legit login (first answer; retries)",
    ]
    lines = [head]
    for r in rows:
        p50, p99 = pct(r.snap_lat, 0.5), pct(r.snap_lat, 0.99)
        non200 = sum(v for k, v in r.snap_codes.items() if k != "200")
        non200_s = str(non200) + (
            " (" + ", ".join(f"{k}: {v}" for k, v in r.snap_codes.items() if k != "200") + ")" if non200 else ""
        )
        other = sum(v for k, v in r.logins.items() if k not in ("401", "429", "503"))
        other_s = str(other) + (
            " (" + ", ".join(f"{k}: {v}" for k, v in r.logins.items() if k not in ("401", "429", "503")) + ")"
            if other
            else ""
        )
        delay = f"{pct(r.alert_delay, 0.5):.2f}/{max(r.alert_delay):.2f}" if r.alert_delay else "-"
        flood = bool(r.logins)
        lines.append(
            [
                r.name,
                str(len(r.snap_lat)),
                fmt_ms(p50),
                fmt_ms(p99),
                fmt_ms(max(r.snap_lat) if r.snap_lat else float("nan")),
                non200_s,
                f"{p50 / f50:.2f}×" if f50 and p50 == p50 else "-",
                f"{p99 / f99:.2f}×" if f99 and p99 == p99 else "-",
                r.online,
                str(r.alerts),
                str(r.no_snapshot),
                str(r.clip_failed),
                str(r.clip_missing),
                delay,
                str(r.lapsed),
                f"{fmt_ms(pct(r.probe_lat, 0.5))}/{fmt_ms(pct(r.probe_lat, 0.99))}",
                str(r.logins["401"]) if flood else "-",
                str(r.logins["429"]) if flood else "-",
                str(r.logins["503"]) if flood else "-",
                other_s if flood else "-",
                f"{r.logins['401'] / r.seconds:.1f}" if flood else "-",
                f"{r.cpu['hub']:.0f}",
                f"{r.cpu['loop']:.0f}",
                f"{r.cpu['pw']:.0f}",
                f"{r.flood_cpu:.0f}" if flood else "-",
                f"{r.machine:.0f}",
                f"{r.others:.0f}",
                r.legit,
            ]
        )
    out = ["| " + " | ".join(cells) + " |" for cells in lines]
    out.insert(1, "|" + "|".join("---" for _ in head) + "|")
    return "\n".join(out)


def caveats(rows: list[Row], cameras: int) -> list[str]:
    """What makes a row's figures mean less than they seem."""
    out: list[str] = []
    floor_failed = sum(v for k, v in rows[0].snap_codes.items() if k != "200")
    if floor_failed:
        out.append(
            f"the floor itself had {floor_failed} failed snapshots: the ratios against it compare with a broken floor"
        )
    for r in rows:
        if r.online != f"{cameras}/{cameras}":
            out.append(f"{r.name}: only {r.online} cameras online at the end (a reader stalled or hung)")
    return out


# -- main -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    import httpx

    from tests.conftest import free_port

    with tempfile.TemporaryDirectory(prefix="bench-login-flood-") as d:
        hub = Hub(Path(d), free_port(), args.cameras)
        try:
            cameras = [f"cam{i}" for i in range(args.cameras)]
            async with httpx.AsyncClient(base_url=hub.base, timeout=30) as anon:

                async def up() -> bool:
                    hub.check_alive()
                    try:
                        return (await anon.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await poll("the hub answering /healthz", STARTUP_TIMEOUT_S, up, 0.2)
                r = await anon.post("/api/auth/login", json={"username": STAFF, "password": PASSWORD})
                if r.status_code != 200:
                    raise BenchError(f"staff login refused: {r.status_code} {r.text[:200]}")
                token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=hub.base, headers=headers, timeout=30, limits=limits) as staff:

                async def online() -> bool:
                    hub.check_alive()
                    states = {c["id"]: c["state"] for c in (await staff.get("/api/cameras")).json()}
                    return all(states.get(c) == "online" for c in cameras)

                async def alerting() -> bool:
                    events, _ = await read_events(staff, 0, ("alert.started",))
                    return {e["subject"] for e in events} >= set(cameras)

                await poll("every camera online", STARTUP_TIMEOUT_S, online)
                await poll("an alert on every camera (the scene's motion)", STARTUP_TIMEOUT_S, alerting)
                print(
                    f"hub up: {args.cameras} cameras synthetic://street (analysis 4 fps 160x90, pre-roll"
                    f" {PREROLL_S:.0f} s, post-roll {POSTROLL_S:.0f} s); {args.duration:.0f} s per scenario",
                    flush=True,
                )
                rows: list[Row] = []
                plan: list[tuple[str, list[str] | None]] = [
                    ("no flood (floor)", None),
                    (f"flood, 1 address, {FLOOD_CLIENTS} clients", [ONE_ADDRESS]),
                    (f"flood, {len(MANY_ADDRESSES)} addresses, {FLOOD_CLIENTS} clients", MANY_ADDRESSES),
                ]
                for number, (name, addresses) in enumerate(plan, 1):
                    print(f"  {number}. {name} …", flush=True)
                    try:
                        rows.append(await scenario(hub, staff, cameras, number, name, addresses, args.duration))
                    except (BenchError, httpx.HTTPError) as exc:
                        if rows:
                            print(f"\nscenario {number} did not finish; the scenarios before it:\n{table(rows)}")
                        if isinstance(exc, httpx.HTTPError):
                            hub.check_alive()
                            raise BenchError(f"scenario {number}: the hub did not answer ({exc!r})") from exc
                        raise
                print()
                print(table(rows))
                for line in caveats(rows, len(cameras)):
                    print(f"CAVEAT: {line}")
                print(
                    "\nsnapshot latency over every request (a timed-out one counts as its"
                    f" {SNAPSHOT_TIMEOUT_S:.0f} s timeout); alerts: those whose frame time is in the scenario;"
                    " 'no clip': dropped at the start or not written within the post-roll +"
                    f" {EVIDENCE_GRACE_S:.0f} s; ended 'no frames': alerts ended because the analysis saw no frame"
                    " for its end grace (a lapse); /healthz: a request every 0.2 s, the wait for the hub's event loop;"
                    " 401 = a password actually checked; CPU in % of one core"
                    " (pw threads: nice > 0 plus threads that ended, i.e. argon2's; machine busy: % of all"
                    f" {os.cpu_count()} cores; other procs: the machine's busy time less the hub, the flood and"
                    " this script, in % of one core); flood answers p50 ms by status: "
                    + "; ".join(
                        f"{r.name}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.login_p50_ms.items()))
                        for r in rows
                        if r.login_p50_ms
                    )
                )
                print("alerts by kind: " + "; ".join(f"{r.name}: {dict(r.kinds.most_common())}" for r in rows))
                m = await metrics(staff)
                print("\nhub /metrics at the end:")
                for key, value in m.items():
                    if key.startswith(METRIC_PREFIXES):
                        print(f"  {key} {value:g}")
            warnings = hub.warnings()
            if warnings:
                print("\nhub log, warnings and errors by kind:")
                for msg, n in warnings.most_common(12):
                    print(f"  {n:6d}  {msg}")
        except BaseException as exc:
            if not isinstance(exc, BenchError) or "its log ends" not in str(exc):
                print(f"\nthe hub's log ends:\n{hub.log_tail()}", file=sys.stderr)
            raise
        finally:
            print(f"\n{hub.stop()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per scenario (default 30)")
    ap.add_argument("--cameras", type=int, default=4, help="cameras synthetic://street (default 4)")
    ap.add_argument("--flood-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood_child:
        flood_child(args.flood_child)
        return
    if args.duration < 5 or args.cameras < 1:
        ap.error("--duration must be at least 5 s and --cameras at least 1")
    print(f"machine: {machine()}")
    try:
        asyncio.run(run(args))
    except BenchError as exc:
        sys.exit(f"bench_login_flood: {exc}")
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
