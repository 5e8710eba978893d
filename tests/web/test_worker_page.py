"""The worker's inbox page in a real browser: an instruction arrives, is shown and acknowledged."""

from __future__ import annotations

from typing import Any

from tests.hub.conftest import PASSWORD, RunningHub


async def test_instruction_arrives_and_is_acknowledged(running: RunningHub, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(running.url + "/web/worker.html")
    await page.fill("input[name=username]", "worker1")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#link-state:has-text('online')")
    async with await running.client("coordinator") as c:
        r = await c.post(
            "/api/instructions",
            json={"text": "Gas leak: clear block 4", "priority": "emergency", "targets": {"people": ["worker1"]}},
        )
        iid = r.json()["instruction"]["id"]
        card = f"li[data-id='{iid}']"
        await page.wait_for_selector(f"{card}.priority-emergency:has-text('Gas leak: clear block 4')")
        await page.wait_for_selector(f"{card} .state:has-text('read')")
        await page.click(f"{card} button.ack")
        await page.wait_for_selector(f"{card} .state:has-text('acknowledged')")
        receipt = (await c.get(f"/api/instructions/{iid}")).json()["receipts"][0]
        assert receipt["state"] == "acknowledged" and receipt["read_at"] is not None
        # A reload resumes from the saved cursor: nothing is shown twice.
        await page.reload()
        await page.fill("input[name=username]", "worker1")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("#link-state:has-text('online')")
        r = await c.post("/api/instructions", json={"text": "second", "targets": {"people": ["worker1"]}})
        await page.wait_for_selector("li:has-text('second')")
        assert await page.locator("li.instruction").count() == 1
    await page.close()
