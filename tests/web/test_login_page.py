"""The login page in Chromium: the way in from a page that needs a login, and back to it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.hub.conftest import RunningHub
from tests.web.conftest import ConsoleWatch, NewPage, wait_focus
from tests.web.pages import DeskPage, LoginPage


async def test_the_desk_sends_a_visitor_to_the_login_and_the_login_back(
    running: RunningHub, new_page: NewPage, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401")  # the refused password below
    page = await new_page()
    await page.goto(running.url + "/")
    await page.wait_for_url("**/login?**")
    assert parse_qs(urlparse(page.url).query)["next"] == ["/"]
    login = LoginPage(page, running.url)
    await login.log_in("dispatcher", "wrong")
    await login.error.filter(has_text="Wrong username or password").wait_for()
    await login.log_in("dispatcher")
    await page.wait_for_url(running.url + "/#/wall")
    desk = await DeskPage(page, running.url).wait_ready()
    assert "dispatcher" in await desk.user.inner_text()


async def test_a_deep_link_survives_the_login(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    await page.goto(running.url + "/#/incidents/42")
    await page.wait_for_url("**/login?**")
    assert parse_qs(urlparse(page.url).query)["next"] == ["/#/incidents/42"]
    await LoginPage(page, running.url).log_in("dispatcher")
    await page.wait_for_url(running.url + "/#/incidents/42")
    desk = await DeskPage(page, running.url).wait_ready()
    await desk.shows("Incident 42")


async def test_next_leads_only_to_this_site(running: RunningHub, new_page: NewPage) -> None:
    evils = ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)")
    for evil in evils:
        page = await new_page()
        login = await LoginPage(page, running.url).open(next_path=evil)
        await login.log_in("dispatcher")
        await page.wait_for_url(lambda u: "/login" not in u)
        assert urlparse(page.url).netloc == urlparse(running.url).netloc, evil
        assert urlparse(page.url).path == "/", evil


async def test_the_login_form_is_usable_by_keyboard(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    login = await LoginPage(page, running.url).open(next_path="/#/map")
    # The username field has the focus; Tab, type, Enter: no mouse needed.
    await wait_focus(page, "el.name", "username")
    await page.keyboard.type("dispatcher")
    await page.keyboard.press("Tab")
    await wait_focus(page, "el.name", "password")
    from tests.hub.conftest import PASSWORD

    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(running.url + "/#/map")
    assert await login.page.locator("#view-title").inner_text() == "Map"
