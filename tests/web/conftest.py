"""A real Chromium (Debian's), driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
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
