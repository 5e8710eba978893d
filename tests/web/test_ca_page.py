"""/ca on a phone: how to trust the hub's CA, in Chinese and English, axe-clean, with its screenshots."""

from __future__ import annotations

from pathlib import Path

from hub.edge import tls
from tests.hub.conftest import make_settings
from tests.web.conftest import NewPage, axe_violations, hub_and_pages, screenshot

PHONE = {"width": 390, "height": 844}


async def test_the_ca_page_reads_on_a_phone_in_both_languages(tmp_path: Path, new_page: NewPage) -> None:
    settings = make_settings(tmp_path)
    tls.ensure(settings.data_dir)
    async with hub_and_pages(settings, new_page) as (rh, make):
        for lang, locale, heading in (
            ("zh", "zh-CN", "在手机上信任本指挥中心"),
            ("en", "en-US", "Trust this hub on your phone"),
        ):
            page = await make(viewport=PHONE, locale=locale)
            await page.goto(f"{rh.url}/ca")  # the language from the browser's
            assert (await page.locator("h1").inner_text()) == heading
            assert await page.get_attribute("a.button", "href") == "/ca.crt"
            assert len(await page.locator("ol li").all()) == 8
            assert await axe_violations(page) == []
            await screenshot(page, f"ca-page-phone-{lang}")
            await page.click("nav a")  # the other language
            assert (await page.locator("html").get_attribute("lang")) != lang
