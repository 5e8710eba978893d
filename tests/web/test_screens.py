"""Every screen in both languages and at phone size: no serious accessibility violation (axe-core),
Chinese where Chinese is asked for, and a screenshot for people to look at."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.hub.conftest import RunningHub
from tests.web.conftest import PHONE, NewPage, axe_violations, require_axe, screenshot
from tests.web.pages import DeskPage, LoginPage, log_in_to_desk

SIZES = {"desktop": None, "phone": PHONE}
SUBMIT = {"en": "Log in", "zh": "登录"}
WALL = {"en": "Video wall", "zh": "视频墙"}
HTML_LANG = {"en": "en", "zh": "zh-CN"}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_login_and_desk_screens(running: RunningHub, new_page: NewPage, lang: str, size: str) -> None:
    require_axe()
    page = await new_page(viewport=SIZES[size])
    login = await LoginPage(page, running.url).open(next_path="/", lang=lang)
    assert await login.submit.inner_text() == SUBMIT[lang]
    assert await page.evaluate("() => document.documentElement.lang") == HTML_LANG[lang]
    assert await axe_violations(page) == []
    await screenshot(page, f"login-{lang}-{size}")

    desk = await log_in_to_desk(page, running.url, lang=lang)
    assert await desk.view_title.inner_text() == WALL[lang]
    await desk.feed.locator(".feed-dot").wait_for()
    await page.wait_for_selector(".feed-status[data-status=live]")
    assert await axe_violations(page) == []
    await screenshot(page, f"desk-{lang}-{size}")
    await desk.tab({"en": "Incidents", "zh": "事件"}[lang]).click()
    await page.wait_for_url("**#/incidents")
    assert await axe_violations(page) == []


async def test_the_language_switch_is_remembered(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    login = await LoginPage(page, running.url).open(lang="zh")
    assert await login.submit.inner_text() == "登录"
    await login.language.select_option("en")
    await login.submit.filter(has_text="Log in").wait_for()
    assert await page.evaluate("() => document.documentElement.lang") == "en"
    assert "lang=en" in page.url  # the address agrees, so a reload keeps English
    await page.goto(running.url + "/login")
    await login.submit.filter(has_text="Log in").wait_for()
    # The desk uses the same choice, and switching there changes the page at once.
    desk = await log_in_to_desk(page, running.url)
    await desk.language.select_option("zh")
    await desk.view_title.filter(has_text="视频墙").wait_for()
    assert await desk.current_tab() == "视频墙"
    await desk.feed.filter(has_text="实时").wait_for()


async def test_the_browser_language_is_the_default(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page(locale="zh-CN")
    login = await LoginPage(page, running.url).open()
    assert await login.submit.inner_text() == "登录"
    page = await new_page(locale="fr-FR")  # neither language: English
    login = await LoginPage(page, running.url).open()
    assert await login.submit.inner_text() == "Log in"


async def test_desk_keeps_lang_through_the_login(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    desk = await log_in_to_desk(page, running.url, lang="zh")
    assert await desk.current_tab() == "视频墙"
    assert isinstance(desk, DeskPage)


async def test_the_language_follows_the_user_to_another_machine(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    desk = await log_in_to_desk(page, running.url)
    async with await running.client("dispatcher") as c:
        await desk.language.select_option("zh")
        await desk.view_title.filter(has_text="视频墙").wait_for()
        t0 = time.monotonic()
        while (await c.get("/api/me/prefs")).json().get("lang") != "zh":
            assert time.monotonic() - t0 < 10, "the choice was not saved on the hub"
            await asyncio.sleep(0.1)
    # Another browser (English, nothing stored): after the login, the desk is in Chinese.
    other = await new_page(locale="en-US")
    desk = await log_in_to_desk(other, running.url)
    await desk.view_title.filter(has_text="视频墙").wait_for()
