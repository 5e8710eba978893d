"""A real Chromium (Debian's), driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.cli import with_local_https
from hub.config import Settings
from hub.edge.tls import ensure as ensure_local_ca
from hub.edge.tls import local_ca
from tests.calls.conftest import peers  # noqa: F401  (aiortc clients, shared)
from tests.conftest import REPO, require, require_chromium
from tests.hub.conftest import (  # noqa: F401  (hub fixtures, shared)
    PASSWORD,
    RunningHub,
    pg_url,
    redis_prefix,
    redis_url,
    running,
    serve,
)
from tests.hub.test_leases import CuttableProxy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    # WebRTC: fake camera and microphone, no permission prompts, media plays without a click.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def log_in(page: Any, url: str, username: str, ready: str) -> None:
    """Open ``url`` in ``page``, log in as ``username`` and wait for the ``ready`` selector."""
    await page.goto(url)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(ready)


async def open_wall(browser: Any, base_url: str, username: str = "dispatcher") -> Any:
    """A new page with the old video wall (``/web/index.html``) of the hub at ``base_url``, logged in."""
    page = await browser.new_page()
    await log_in(page, base_url + "/web/index.html", username, "#desk:not([hidden])")
    return page


AXE_JS = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = REPO / "test-artifacts" / "screens"
PHONE = {"width": 390, "height": 844}
"""A phone's viewport (CSS pixels): every screen is also checked at this size."""


class ConsoleWatch:
    """Collects a page's console errors and uncaught exceptions; the test fails on any not allowed."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Expect console errors matching ``pattern`` (a refused login logs its 401, say)."""
        self.allowed.append(re.compile(pattern))

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleWatch:
    """What the pages of this test logged as errors (checked by ``new_page``)."""
    return ConsoleWatch()


NewPage = Callable[..., Awaitable[Any]]


class WatchedContexts:
    """The browser contexts one test makes, each page watched for console errors; :meth:`close`
    closes them and fails the test on any error it did not ``console.allow``."""

    def __init__(self, console: ConsoleWatch) -> None:
        self.console = console
        self.contexts: list[Any] = []

    async def page(self, context: Any) -> Any:
        """A watched page in ``context`` (closed with the others)."""
        self.contexts.append(context)
        page = await context.new_page()
        self.console.attach(page)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        unexpected = self.console.unexpected()
        if unexpected:
            pytest.fail("console errors in the page:\n" + "\n".join(unexpected))


@pytest.fixture
async def new_page(browser: Any, console: ConsoleWatch) -> AsyncIterator[NewPage]:
    """A factory of pages, each in a browser context of its own (its own storage), watched for
    console errors: any error the test did not ``console.allow`` fails it."""
    watched = WatchedContexts(console)

    async def make(viewport: dict[str, int] | None = None, locale: str = "en-US") -> Any:
        context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, locale=locale)
        return await watched.page(context)

    yield make
    await watched.close()


def require_axe() -> Path:
    """axe-core, installed by ``npm ci`` in web/ (scripts/setup.sh)."""
    require(AXE_JS.is_file(), f"axe-core ({AXE_JS}; run scripts/setup.sh)")
    return AXE_JS


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on the page as it is."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol: the pages' CSP refuses inline <script> tags,
        # which is what add_script_tag would insert.
        await page.evaluate(require_axe().read_text(encoding="utf-8") + "\n;undefined")
    result = await page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


async def screenshot(page: Any, name: str) -> Path:
    """Save the page's picture as ``test-artifacts/screens/<name>.png`` (for people to look at)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@asynccontextmanager
async def hub_and_pages(
    settings: Settings, new_page: NewPage, **serve_options: Any
) -> AsyncIterator[tuple[RunningHub, NewPage]]:
    """A hub of the test's own, and pages that are closed before it stops (a page left open would
    log its polls failing against the stopped hub)."""
    pages: list[Any] = []

    async def make(**kwargs: Any) -> Any:
        page = await new_page(**kwargs)
        pages.append(page)
        return page

    async with serve(settings, **serve_options) as rh:
        try:
            yield rh, make
        finally:
            for page in pages:
                await page.context.close()


async def wait_focus(page: Any, what: str, expected: str, timeout_s: float = 5.0) -> None:
    """Wait until the focused element's ``what`` (a JS expression on ``el``, e.g. ``el.value``) is
    ``expected``: pages move the focus in an effect after they render, not in the same instant."""
    check = f"(want) => {{ const el = document.activeElement; return !!el && ({what}) === want; }}"
    try:
        await page.wait_for_function(check, arg=expected, timeout=timeout_s * 1000)
    except Exception:
        now = await page.evaluate(f"() => {{ const el = document.activeElement; return el ? String({what}) : null; }}")
        raise AssertionError(f"the focus: {what} is {now!r}, not {expected!r}") from None


def require_certutil() -> str:
    """NSS's certutil (Debian's libnss3-tools): how a CA is added to Chromium's store on Linux."""
    path = shutil.which("certutil")
    require(path is not None, "certutil (apt-get install libnss3-tools)")
    assert path is not None
    return path


def trusting_home(home: Path, ca: Path, certutil: str) -> Path:
    """A home folder whose NSS store (the one Chromium reads on Linux) trusts ``ca`` for web sites."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, timeout=30)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{nssdb}", "-n", "skyhub-ca", "-t", "C,,", "-a", "-i", str(ca)],
        check=True,
        timeout=30,
    )
    return home


@dataclass(frozen=True)
class PhoneCA:
    """A CA made as ``skyhub demo --https`` makes one, and a home folder whose browser trusts it."""

    dir: Path
    home: Path
    mic: Path
    """What the phones' fake microphone plays: a steady :data:`MIC_HZ` tone (a WAV file, looped)."""

    def serve_https(self, settings: Settings) -> Settings:
        """``settings`` served over HTTPS with this CA: copied where ``--https`` keeps a hub's CA,
        which then signs the hub's own server certificate."""
        target = local_ca(settings.data_dir).dir
        target.mkdir(parents=True, exist_ok=True)
        for name in ("ca.crt", "ca.key"):
            shutil.copyfile(self.dir / name, target / name)
        return with_local_https(settings, "127.0.0.1")


@pytest.fixture(scope="session")
def phone_ca(tmp_path_factory: pytest.TempPathFactory) -> PhoneCA:
    """One CA for the session's phone tests, trusted by the browser of :func:`trusting_browser`."""
    root = tmp_path_factory.mktemp("phone-ca")
    ca = ensure_local_ca(root / "data", ["127.0.0.1"])
    return PhoneCA(ca.dir, trusting_home(root / "home", ca.ca_cert, require_certutil()), tone_wav(root / "mic.wav"))


MIC_HZ = 880.0
"""The phones' voice: a tone no other test client sends, so a listener can tell it is the phone."""


def tone_wav(path: Path, hz: float = MIC_HZ, seconds: float = 2.0, rate: int = 48_000) -> Path:
    """A 16-bit mono WAV of a sine at ``hz``, for Chromium's ``--use-file-for-fake-audio-capture``."""
    import wave

    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


@asynccontextmanager
async def trusting_browser(phone_ca: PhoneCA) -> AsyncIterator[Any]:
    """Chromium whose certificate store trusts ``phone_ca`` (as a phone that installed it from /ca.crt)."""
    require_chromium()
    from playwright.async_api import async_playwright

    env = {**os.environ, "HOME": str(phone_ca.home)}
    async with async_playwright() as pw:
        args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={phone_ca.mic}"]
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args, env=env)
        try:
            yield b
        finally:
            await b.close()


class DeadSpot:
    """The way from a phone to the hub, through a place that can be a dead spot.

    Chromium's offline emulation (``context.set_offline``) tells the page it is offline, but it is
    lifted from a page while it is reloaded or closed: that page's ``online`` handlers run and
    their requests reach the hub. A phone in a real dead spot reaches nothing, so the tests that go
    through a reload in one open the app through a TCP relay (:class:`CuttableProxy`) and cut it
    as well.
    """

    def __init__(self, hub_port: int) -> None:
        self.hub_port = hub_port
        self.relay = CuttableProxy(hub_port)

    def url(self, hub_url: str) -> str:
        """``hub_url`` with the relay's port: the address the phone opens."""
        return hub_url.replace(f":{self.hub_port}", f":{self.relay.port}", 1)

    async def __aenter__(self) -> DeadSpot:
        await self.relay.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.relay.aclose()

    async def lose(self, page: Any) -> None:
        """The phone in the dead spot: it says so, and nothing it sends arrives."""
        self.relay.sever()
        await page.context.set_offline(True)

    async def regain(self, page: Any) -> None:
        self.relay.cut = False
        await page.context.set_offline(False)
