"""Shared test helpers: components that must exist, free ports, process helpers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from streams.synthetic import SCENES, ensure_scene

# A runner started in the background by a script (`bash .ci/run &`) inherits Ctrl-C ignored, and
# so would every process the tests start: the hub's children would then never see the Ctrl-C the
# tests send them as a terminal's. The tests' processes get it as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
SHARED_MEDIA = REPO.parent / "shared" / "media"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, what: str) -> None:
    """Skip when a component is missing on a developer machine; fail under CI=true."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def require_gstreamer() -> None:
    """The Debian GStreamer RTSP server, driven by /usr/bin/python3."""
    typelibs = list(Path("/usr/lib").glob("*/girepository-1.0/GstRtspServer-1.0.typelib"))
    ok = Path("/usr/bin/python3").exists() and bool(typelibs)
    require(ok, "GStreamer RTSP server (gir1.2-gst-rtsp-server-1.0)")


def require_ffmpeg() -> None:
    require(shutil.which("ffmpeg") is not None, "ffmpeg")


def require_chromium() -> None:
    require(Path("/usr/bin/chromium").exists(), "Chromium (/usr/bin/chromium)")


def require_shared_media() -> None:
    require(SHARED_MEDIA.is_dir(), f"shared media folder {SHARED_MEDIA}")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_postgres() -> str:
    """A PostgreSQL admin DSN on loopback; skip (fail under CI) when none answers."""
    dsn = os.environ.get("SKYHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    ok = False
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            ok = True
    except OSError:
        pass
    require(ok, "PostgreSQL on 127.0.0.1:5432")
    return dsn


def require_redis() -> str:
    """A Redis URL on loopback; skip (fail under CI) when none answers."""
    url = os.environ.get("SKYHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
    ok = False
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            ok = s.recv(16).startswith(b"+PONG")
    except OSError:
        pass
    require(ok, "Redis on 127.0.0.1:6379")
    return url


async def wait_until(pred: Callable[[], bool], timeout_s: float, what: str, period_s: float = 0.05) -> float:
    """Poll ``pred`` until true; returns the seconds it took, fails the test after ``timeout_s``."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"timed out after {timeout_s:.1f} s waiting for {what}")
        await asyncio.sleep(period_s)
    return time.monotonic() - t0


_scene_cache: Path | None = None


@pytest.fixture(scope="session", autouse=True)
def _scene_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    global _scene_cache
    _scene_cache = tmp_path_factory.mktemp("scenes")


def seed_scenes(data_dir: Path, camera_urls: Iterable[str]) -> None:
    """Put this session's rendering of each synthetic scene the URLs name where a hub with
    ``data_dir`` looks before rendering one (``streams.synthetic.ensure_scene``): each hub would
    otherwise spend a second of CPU on the same file. Rendering itself is tested in
    tests/streams/test_synthetic.py and by the demo (tests/hub/test_demo.py)."""
    for url in camera_urls:
        parts = urlsplit(url)
        name = parts.netloc or parts.path.strip("/")
        if parts.scheme != "synthetic" or name not in SCENES or _scene_cache is None:
            continue  # not a scene, or one the hub is to refuse
        target = Path(data_dir) / "scenes" / f"{name}.mp4"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        rendered = ensure_scene(name, _scene_cache)
        try:
            os.link(rendered, target)
        except OSError:  # another file system
            shutil.copyfile(rendered, target)


HARD_MARGIN_S = float(os.environ.get("SKYHUB_TEST_HANG_MARGIN_S", "240"))
"""Past a test's pytest-timeout (120 s, or its ``timeout`` mark): how much longer a test (setup,
call and teardown) may take before the run is ended. pytest-timeout's signal raises into whatever
the main thread runs, which can leave an event loop that the test's teardown then waits on for
ever; this bound turns such a hang into the test's output and every thread's stack, and a failed
run, not a run that never ends."""


_FAILURES: list[pytest.TestReport] = []
"""The run's failures so far: a run that is ended never prints its summary, so it prints these."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _FAILURES.append(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterable[None]:
    import faulthandler
    import sys
    import threading

    mark = item.get_closest_marker("timeout")
    timeout = float(mark.args[0] if mark and mark.args else item.config.getini("timeout") or 120)
    capture = item.config.pluginmanager.getplugin("capturemanager")

    def tasks() -> None:
        # What each asyncio task waits on, read from this thread: pytest-timeout shows only the
        # main thread, which in an async test is the event loop waiting in select().
        for task in list(asyncio.tasks._all_tasks):  # type: ignore[attr-defined]
            if not task.done():
                print(f"--- task {task.get_name()}: {task.get_coro()}", file=sys.stderr)
                task.print_stack(limit=12, file=sys.stderr)

    def about_to_time_out() -> None:
        if capture is not None:
            capture.suspend_global_capture()
        try:
            print(f"\n=== {item.nodeid} about to time out: its asyncio tasks ===", file=sys.stderr)
            tasks()
            sys.stderr.flush()
        finally:
            if capture is not None:
                capture.resume_global_capture()

    def end_the_run() -> None:
        if capture is not None:  # what the test printed, then out to the real stderr
            out, err = capture.read_global_capture()
            capture.suspend_global_capture()
            sys.stderr.write(f"{out}\n{err}")
        for report in _FAILURES:
            print(f"\n=== failed: {report.nodeid} ({report.when}) ===\n{report.longreprtext}", file=sys.stderr)
        print(f"\n=== {item.nodeid} still running {HARD_MARGIN_S:.0f} s past its timeout ===", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        tasks()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(70)

    timers = [threading.Timer(timeout - 1, about_to_time_out), threading.Timer(timeout + HARD_MARGIN_S, end_the_run)]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
