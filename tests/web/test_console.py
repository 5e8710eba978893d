"""The coordinators' console (/console) in Chromium against a real hub: compose on the district tree
with the hub's preview, send, templates, receipts counted live, re-send to exactly the
unacknowledged, and every screen in both languages and at phone size."""

from __future__ import annotations

import asyncio
import io
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from hub.config import Settings
from tests.hub.conftest import PASSWORD, SECRET, TEST_HASHER, RunningHub, make_settings
from tests.loadsim.workers import run_process
from tests.web.conftest import PHONE, NewPage, axe_violations, hub_and_pages, require_axe, screenshot
from tests.web.pages import LoginPage

SIZES = {"desktop": None, "phone": PHONE}


class ConsolePage:
    """``/console``: compose (tree, roles, people, preview), templates, the history and one instruction."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.text = page.locator("#compose-text")
        self.tree_search = page.locator("#tree-search")
        self.preview = page.locator(".preview")
        self.send = page.locator(".compose button[type=submit]")
        self.template_name = page.locator("#template-name")
        self.save_template = page.locator(".save-template button")
        self.history_search = page.locator("#history-search")
        self.detail = page.locator(".detail")
        self.status = page.locator(".compose p[role=status]")

    async def open(self, username: str = "coordinator", lang: str | None = None) -> ConsolePage:
        await self.page.goto(self.base_url + "/console" + (f"?lang={lang}" if lang else ""))
        await self.page.wait_for_url("**/login?**")
        login = LoginPage(self.page, self.base_url)
        await login.submit.wait_for()
        await login.log_in(username)
        await self.page.wait_for_url(lambda u: "/login" not in u)
        return self

    async def ready(self) -> ConsolePage:
        await self.page.locator(".tree [data-node]").first.wait_for()
        await self.page.wait_for_selector(".feed-status[data-status=live]")
        return self

    def node_box(self, node: str) -> Any:
        return self.page.locator(f'.tree li[data-node="{node}"] > .tree-row input[type=checkbox]')

    async def preview_count(self) -> int:
        """The preview's count once it agrees with the targets on the form."""
        await self.page.wait_for_selector(".preview[data-preview-count]:not([data-preview-count=''])")
        return int(await self.preview.get_attribute("data-preview-count") or -1)

    def row(self, iid: int) -> Any:
        return self.page.locator(f'[data-instruction="{iid}"]')

    def count(self, iid: int, state: str) -> Any:
        return self.row(iid).locator(f'[data-count="{state}"]')

    async def wait_count(self, iid: int, state: str, value: int, timeout_s: float = 30) -> None:
        """Wait until the row's count of ``state`` shows ``value`` (fails saying what it showed)."""
        sel = f'[data-instruction="{iid}"] [data-count="{state}"]'
        try:
            await self.page.wait_for_function(
                "([sel, want]) => document.querySelector(sel)?.textContent === want",
                arg=[sel, str(value)],
                timeout=timeout_s * 1000,
            )
        except Exception:
            shown = await self.count(iid, state).text_content() if await self.count(iid, state).count() else None
            raise AssertionError(f"instruction {iid}: {state} shows {shown!r}, not {value}") from None

    async def picked(self, before: int | None = None) -> int:
        """The instruction the console shows (after a send: a different one than ``before``)."""
        await self.page.wait_for_function(
            "(prev) => /^#\\/instructions\\/\\d+$/.test(location.hash) && location.hash !== prev",
            arg=f"#/instructions/{before}",
        )
        return int(self.page.url.rsplit("/", 1)[1])


def png() -> bytes:
    """A small picture, made here."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 90, 160)).save(out, format="PNG")
    return out.getvalue()


async def receipts_of(rh: RunningHub, iid: int) -> list[dict[str, Any]]:
    async with await rh.client("coordinator") as c:
        r = await c.get(f"/api/instructions/{iid}")
        r.raise_for_status()
        return list(r.json()["receipts"])


async def test_the_preview_of_a_community_is_who_gets_it(running: RunningHub, new_page: NewPage) -> None:
    page = await new_page()
    console = await (await ConsolePage(page, running.url).open()).ready()
    await console.tree_search.fill("Community 1")
    await console.node_box("c1").check()
    # Below a checked node everything is included (shown checked, not separately choosable).
    await console.tree_search.fill("")
    await page.get_by_role("button", name="Open Community 1").click()
    assert await console.node_box("g1").is_checked() and await console.node_box("g1").is_disabled()
    previewed = await console.preview_count()
    assert previewed == 2
    assert "Worker One" in await console.preview.inner_text()
    await console.text.fill("Flood warning: move the stalls off the river bank")
    await page.get_by_label("Urgent").check()
    picture = {"name": "bank.png", "mimeType": "image/png", "buffer": png()}
    await page.set_input_files("#compose-attach", files=[picture])
    await page.get_by_role("button", name="Remove bank.png").wait_for()  # uploaded
    await console.send.click()
    iid = await console.picked()
    async with await running.client("coordinator") as c:
        assert len((await c.get(f"/api/instructions/{iid}")).json()["instruction"]["attachments"]) == 1
    frozen = await receipts_of(running, iid)
    assert previewed == len(frozen) and {r["person"] for r in frozen} == {"worker1", "worker2"}
    await console.wait_count(iid, "sent", previewed)
    assert await console.count(iid, "acknowledged").inner_text() == "0"
    # Another target on top: the on-duty filter takes worker2 (off duty) away, before sending.
    await page.get_by_label("On duty only").check()
    assert await console.preview_count() == 1

    # Saved as a template, then sent again in two clicks: the same targets, resolved again.
    await console.template_name.fill("Flood: stalls")
    await console.save_template.click()
    tpl = page.locator(".templates li", has_text="Flood: stalls")
    await tpl.wait_for()
    await tpl.get_by_role("button", name="Send again").click()
    await tpl.get_by_role("button", name="Send now").click()
    again = await console.picked(before=iid)
    assert [r["person"] for r in await receipts_of(running, again)] == ["worker1"]
    await console.wait_count(again, "sent", 1)

    # The history finds instructions by their text.
    async with await running.client("coordinator") as c:
        await c.post("/api/instructions", json={"text": "Routine patrol", "targets": {"people": ["worker1"]}})
    rows = ".instruction-list [data-instruction]"
    await page.wait_for_function(f"() => document.querySelectorAll('{rows}').length === 3")  # it came live
    await console.history_search.fill("river bank")
    await page.wait_for_function(f"() => document.querySelectorAll('{rows}').length === 2")
    await console.history_search.fill("typhoon")
    await page.get_by_text("No instruction holds that text.").wait_for()


@pytest.mark.parametrize(("user", "lands"), [("worker1", "/worker"), ("dispatcher", "/")])
async def test_others_are_sent_where_they_belong(running: RunningHub, new_page: NewPage, user: str, lands: str) -> None:
    page = await new_page()
    await ConsolePage(page, running.url).open(user)
    await page.wait_for_url(lambda u: urlsplit(u).path == lands)


WORKERS = 200
LATE = ("late1", "late2")
"""In the community, but never connected: the ones a re-send must reach, and nobody else."""


def crowd_settings(tmp: Path) -> Settings:
    names = [f"w{i:03d}" for i in range(WORKERS)]
    return make_settings(
        tmp,
        users=[{"username": "coordinator", "roles": ["coordinator"], "password_hash": TEST_HASHER.hash(PASSWORD)}]
        + [{"username": n, "roles": ["worker"]} for n in [*names, *LATE]],
        directory={
            "root": {
                "id": "d",
                "name": "District",
                "children": [
                    {
                        "id": "s",
                        "name": "River Street",
                        "children": [
                            {
                                "id": "c",
                                "name": "Riverside Community",
                                "children": [{"id": "ga", "name": "Grid A"}, {"id": "gb", "name": "Grid B"}],
                            },
                            {"id": "c9", "name": "Hill Community", "children": [{"id": "g9", "name": "Grid 9"}]},
                        ],
                    }
                ],
            },
            "people": [{"id": "coordinator", "name": "Coordinator", "roles": ["coordinator"]}]
            + [
                {"id": n, "name": f"Worker {n}", "roles": ["worker"], "grids": ["ga" if i % 2 else "gb"]}
                for i, n in enumerate([*names, *LATE])
            ],
        },
        instructions={"progress_interval_ms": 200},
    )


def token(username: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


@pytest.mark.timeout(240)
async def test_two_hundred_acknowledge_and_a_resend_reaches_only_the_rest(tmp_path: Path, new_page: NewPage) -> None:
    settings = crowd_settings(tmp_path)
    async with hub_and_pages(settings, new_page) as (rh, make_page):
        page = await make_page()
        console = await (await ConsolePage(page, rh.url).open()).ready()
        ctx = mp.get_context("spawn")
        ready, status = ctx.Queue(), ctx.Queue()
        sims = [(f"w{i:03d}", token(f"w{i:03d}")) for i in range(WORKERS)]
        proc = ctx.Process(target=run_process, args=(rh.port, sims, ready, status, 120.0, 1))
        proc.start()
        try:
            await asyncio.to_thread(ready.get, True, 120)
            await console.tree_search.fill("Riverside")
            await console.node_box("c").check()
            assert await console.preview_count() == WORKERS + len(LATE)
            await console.text.fill("Evacuate the river bank now")
            await page.get_by_label("Emergency").check()
            await console.send.click()
            iid = await console.picked()
            results = await asyncio.to_thread(status.get, True, 150)
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        assert sum(1 for r in results.values() if r["confirmed"].get(iid) == "acknowledged") == WORKERS
        await console.wait_count(iid, "acknowledged", WORKERS)
        assert await console.count(iid, "sent").inner_text() == str(WORKERS + len(LATE))
        # The breakdown by place: the community, then its grids, then the people of one grid.
        detail = console.detail
        await detail.get_by_role("button", name="District").click()
        await detail.get_by_role("button", name="River Street").click()
        await detail.get_by_role("button", name="Riverside Community").click()
        grid_b = detail.locator('tr[data-node="gb"] [data-node-count=acknowledged]')
        await grid_b.filter(has_text=str(WORKERS // 2)).wait_for()
        await detail.get_by_role("button", name="Grid A").click()
        await detail.locator('.people [data-person="late2"]').wait_for()  # late2 is in grid A (odd index)
        # Who has not acknowledged: exactly the two who never connected; one click re-sends to them.
        waiting = detail.locator(".waiting [data-person]")
        await page.wait_for_function("() => document.querySelectorAll('.waiting [data-person]').length === 2")
        assert sorted(await waiting.evaluate_all("els => els.map(e => e.dataset.person)")) == list(LATE)
        await detail.locator("button.resend").click()
        await detail.get_by_text("Re-sent to 2 people.").wait_for()
        async with await rh.client("coordinator") as c:
            events = (await c.get("/api/events", params={"since": 0, "type": "instruction.renotified"})).json()
        assert [ev["data"]["persons"] for ev in events["events"]] == [list(LATE)]


async def _instruction_with_receipts(rh: RunningHub) -> int:
    async with await rh.client("coordinator") as c:
        r = await c.post(
            "/api/instructions",
            json={
                "text": "Typhoon level 2: secure the market stalls and report when done",
                "priority": "urgent",
                "targets": {"nodes": ["c1"], "people": ["dispatcher"]},
                "reply_options": ["Done", "Need help"],
                "deadline_s": 1800,
            },
        )
        iid = int(r.json()["instruction"]["id"])
        await c.post(
            "/api/instruction-templates",
            json={"name": "Typhoon level 2", "text": "Secure the stalls", "targets": {"nodes": ["c1"]}},
        )
    async with await rh.client("worker1") as w:
        await w.post(f"/api/instructions/{iid}/ack", json={"reply": "Done"})
    async with await rh.client("dispatcher") as w:
        await w.post(f"/api/instructions/{iid}/ack")
    return iid


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_console_screens(running: RunningHub, new_page: NewPage, lang: str, size: str) -> None:
    require_axe()
    iid = await _instruction_with_receipts(running)
    page = await new_page(viewport=SIZES[size])
    console = await (await ConsolePage(page, running.url).open(lang=lang)).ready()
    assert await page.evaluate("() => document.documentElement.lang") == {"en": "en", "zh": "zh-CN"}[lang]
    await console.node_box("c1").check()
    await console.preview_count()
    await console.text.fill({"en": "Close the river gates", "zh": "关闭河道闸门"}[lang])
    await page.locator(f'[data-instruction="{iid}"] a').click()
    await console.detail.locator("[data-reply-count]").first.wait_for()
    await console.wait_count(iid, "acknowledged", 2)
    await page.locator(".templates li").first.wait_for()
    title = await page.locator("#compose-title").inner_text()
    assert title == {"en": "New instruction", "zh": "新指令"}[lang]
    assert await axe_violations(page) == []
    await screenshot(page, f"console-{lang}-{size}")


async def test_receipts_download_as_csv(running: RunningHub, new_page: NewPage) -> None:
    iid = await _instruction_with_receipts(running)
    page = await new_page()
    console = await (await ConsolePage(page, running.url).open()).ready()
    await page.goto(f"{running.url}/console#/instructions/{iid}")
    await console.detail.locator("[data-reply-count]").first.wait_for()
    async with page.expect_download() as info:
        await console.detail.get_by_role("button", name="Receipts as CSV").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("person,name,grid,state,reply")
    assert "worker1,Worker One,g1,replied,Done" in text
