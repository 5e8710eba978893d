"""Every page's security headers, and a browser that keeps to them."""

from __future__ import annotations

import httpx

from hub.routers.web import PAGES
from tests.hub.conftest import RunningHub
from tests.web.conftest import ConsoleWatch, NewPage, axe_violations
from tests.web.pages import log_in_to_desk

PAGE_PATHS = {"desk": "/", "login": "/login", "console": "/console", "worker": "/worker"}


async def test_every_page_forbids_inline_scripts_framing_and_sniffing(running: RunningHub) -> None:
    assert set(PAGE_PATHS) == set(PAGES)  # a new page gets checked here too
    async with httpx.AsyncClient(base_url=running.url) as c:
        for path in PAGE_PATHS.values():
            r = await c.get(path)
            assert r.status_code == 200
            csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
            scripts = csp["script-src"].split()
            # Only the hub's own files, and the one inline script it wrote itself: the import map.
            assert scripts[0] == "'self'" and len(scripts) == 2 and scripts[1].startswith("'sha256-")
            assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
            assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
            assert r.headers["x-frame-options"] == "DENY"


async def test_the_desk_runs_under_its_policy_and_an_injected_script_does_not(
    running: RunningHub, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"Executing inline script violates the following Content Security Policy")  # ours, below
    page = await new_page()
    await log_in_to_desk(page, running.url)
    # What an attacker's text would try if it got into the page as HTML: it must not run.
    blocked = await page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), {once: true});
            const s = document.createElement('script');
            s.textContent = 'window.__injected = true';
            document.body.append(s);
        })"""
    )
    assert blocked.startswith("script-src")
    assert await page.evaluate("() => window.__injected") is None
    assert await axe_violations(page) == []
