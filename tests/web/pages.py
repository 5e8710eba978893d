"""Page objects for the browser tests: they know the locators, the tests assert."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from tests.hub.conftest import PASSWORD


class LoginPage:
    """``/login``: username, password, the error alert and the language switch."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.username = page.locator("input[name=username]")
        self.password = page.locator("input[name=password]")
        self.submit = page.locator("button[type=submit]")
        self.error = page.get_by_role("alert")
        self.language = page.locator("select[name=lang]")
        self.heading = page.locator("h1")

    async def open(self, next_path: str | None = None, lang: str | None = None) -> LoginPage:
        query = {k: v for k, v in (("next", next_path), ("lang", lang)) if v is not None}
        await self.page.goto(self.base_url + "/login" + (f"?{urlencode(query)}" if query else ""))
        await self.submit.wait_for()
        return self

    async def log_in(self, username: str, password: str = PASSWORD) -> None:
        await self.username.fill(username)
        await self.password.fill(password)
        await self.submit.click()


async def until_true(page: Any, expression: str, timeout_s: float = 30.0) -> None:
    """Waits until ``expression`` (a function, which may be ``async``) is truthy in the page.

    Playwright's ``wait_for_function`` does not await a promise: an ``async`` predicate's promise is
    truthy at once, so that wait passes without having waited (the cause of a flaky offline test).
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {timeout_s:g} s: {expression}")
        await asyncio.sleep(0.05)


async def view_shows(page: Any, title: str) -> None:
    """Waits until the desk's view is titled ``title``: a route change draws after the click or
    the address that made it, and the view before it has a title too."""
    await page.wait_for_function("t => document.querySelector('#view-title')?.textContent === t", arg=title)


class DeskPage:
    """``/``: the desk shell's header, tabs and current view."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.brand = page.locator(".desk-header .brand")
        self.user = page.locator(".desk-user")
        self.feed = page.locator(".feed-status")
        self.language = page.locator("select[name=lang]")
        self.logout = page.locator("button.logout")
        self.nav = page.locator("nav.desk-nav")
        self.view_title = page.locator("#view-title")

    def tab(self, name: str) -> Any:
        return self.nav.get_by_role("link", name=name)

    async def wait_ready(self) -> DeskPage:
        await self.view_title.wait_for()
        return self

    async def shows(self, title: str) -> None:
        """Waits for the view titled ``title``: a route change draws after the click that made it."""
        await view_shows(self.page, title)

    async def current_tab(self) -> str:
        return str(await self.nav.locator("a[aria-current=page]").inner_text())

    async def feed_status(self) -> str:
        return str(await self.feed.get_attribute("data-status"))


async def log_in_to_desk(
    page: Any, base_url: str, username: str = "dispatcher", lang: str | None = None, view: str = ""
) -> DeskPage:
    """Open the desk (at ``view``, a route such as ``#/incidents``; the wall by default), be sent
    to the login, log in, and come back to it."""
    await page.goto(base_url + "/" + (f"?lang={lang}" if lang else "") + view)
    await page.wait_for_url("**/login?**")
    login = LoginPage(page, base_url)
    await login.submit.wait_for()
    await login.log_in(username)
    await page.wait_for_url(lambda u: "/login" not in u)
    return await DeskPage(page, base_url).wait_ready()
