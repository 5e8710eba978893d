"""The hub serves the pages with one import map built from web/package-lock.json, and from
web/node_modules only the files of the packages that map names, at their pinned versions."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import HTTPException

from hub.routers import web as pages
from tests.hub.conftest import RunningHub

LOCK = json.loads((pages.WEB_DIR / "package-lock.json").read_text())
VERSIONS = {k.removeprefix("node_modules/"): v["version"] for k, v in LOCK["packages"].items() if k}
PACKAGE_OF = {
    "preact": "preact",
    "preact/hooks": "preact",
    "htm": "htm",
    "htm/preact": "htm",
    "@preact/signals": "@preact/signals",
    "@preact/signals-core": "@preact/signals-core",
    "leaflet": "leaflet",
    "idb-keyval": "idb-keyval",
}
"""The bare specifiers every page can import, and the package each comes from."""


def require_vendor() -> pages.Vendor:
    from tests.conftest import require

    vendor = pages.VENDOR
    require(isinstance(vendor, pages.Vendor), f"the pages' npm modules ({vendor}; run scripts/setup.sh)")
    assert isinstance(vendor, pages.Vendor)
    return vendor


def import_map(html: str) -> dict[str, Any]:
    maps = re.findall(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert len(maps) == 1, "exactly one import map"
    # It comes before the first module script, or the browser ignores it.
    assert html.index('type="importmap"') < html.index('type="module"')
    return dict(json.loads(maps[0]))


async def raw_get(port: int, path: str) -> int:
    """The status of a GET sent byte for byte (clients tidy up "..": this must not)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def test_pages_carry_one_import_map_pinned_by_the_lock_file(running: RunningHub) -> None:
    require_vendor()
    async with httpx.AsyncClient(base_url=running.url) as c:
        for path in ("/", "/login"):
            r = await c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html")
            imports = import_map(r.text)["imports"]
            assert set(PACKAGE_OF) <= set(imports)
            assert imports["preact"] == f"/web/vendor/preact@{VERSIONS['preact']}/dist/preact.module.js"
            for spec, package in PACKAGE_OF.items():
                assert imports[spec].startswith(f"/web/vendor/{package}@{VERSIONS[package]}/"), spec
                m = await c.get(imports[spec])
                assert m.status_code == 200, spec
                assert "javascript" in m.headers["content-type"]
                assert "immutable" in m.headers["cache-control"]
        # One Preact: every module that imports it does so by the bare name the map resolves.
        for spec in ("@preact/signals", "htm/preact"):
            body = (await c.get(imports[spec])).text
            assert 'from"preact"' in body.replace(" ", "")
        # Leaflet's stylesheet and marker images come through the package's prefix.
        css = await c.get(imports["leaflet/"] + "dist/leaflet.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        # The pages' own modules and messages, and the pages, are there too.
        for path in ("/web/api/client.js", "/web/locales/zh/common.json", "/web/index.html", "/worker"):
            assert (await c.get(path)).status_code == 200, path


async def test_nothing_else_leaves_node_modules(running: RunningHub) -> None:
    require_vendor()
    preact = f"preact@{VERSIONS['preact']}"
    refused = [
        f"/web/vendor/typescript@{VERSIONS['typescript']}/package.json",  # a dev tool, not listed
        f"/web/vendor/axe-core@{VERSIONS['axe-core']}/axe.min.js",
        "/web/vendor/preact@9.9.9/dist/preact.module.js",  # not the pinned version
        "/web/vendor/preact/dist/preact.module.js",  # no version
        f"/web/vendor/{preact}/package.json",  # not a kind of file served
        f"/web/vendor/{preact}/",
        f"/web/vendor/{preact}/dist",
        f"/web/vendor/{preact}/../typescript/package.json",
        f"/web/vendor/{preact}/dist/../../axe-core/axe.min.js",
        f"/web/vendor/{preact}/%2e%2e/axe-core/axe.min.js",
        f"/web/vendor/{preact}/..%2faxe-core%2faxe.min.js",
        f"/web/vendor/{preact}/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage-lock.json",
        f"/web/vendor/{preact}/%2e%2e%2f%2e%2e%2f%2e%2e%2f..%2f..%2fhub%2fauth.py",
        "/web/vendor/%2e%2e/node_modules/axe-core/axe.min.js",
        "/web/node_modules/preact/dist/preact.module.js",  # the static mount does not show it either
        "/web/node_modules/axe-core/axe.min.js",
        "/web/node_modules/%2e%2e/index.html",
    ]
    for path in refused:
        status = await raw_get(running.port, path)
        assert status in (400, 404), (path, status)
    assert await raw_get(running.port, f"/web/vendor/{preact}/dist/preact.module.js") == 200


def test_a_symbolic_link_out_of_a_package_is_not_followed(tmp_path: Path) -> None:
    vendor = require_vendor()
    fake = tmp_path / "web"
    (fake / "node_modules" / "preact" / "dist").mkdir(parents=True)
    (tmp_path / "secret.js").write_text("secret")
    (fake / "node_modules" / "preact" / "dist" / "leak.js").symlink_to(tmp_path / "secret.js")
    (fake / "node_modules" / "preact" / "dist" / "ok.js").write_text("ok")
    v = vendor.versions["preact"]
    assert pages.vendor_file(f"preact@{v}/dist/ok.js", vendor, fake).read_text() == "ok"
    with pytest.raises(HTTPException) as exc:
        pages.vendor_file(f"preact@{v}/dist/leak.js", vendor, fake)
    assert exc.value.status_code == 404


def test_without_the_modules_a_page_says_to_run_npm_ci(tmp_path: Path) -> None:
    # What a hub installed from the wheel alone answers: the wheel carries no node_modules.
    with pytest.raises(pages.VendorMissing):
        pages.load_vendor(tmp_path)
    r = pages.render_page("desk", pages.VendorMissing("web/package-lock.json is missing"))
    assert r.status_code == 503
    assert b"npm ci" in r.body


def test_a_lock_file_out_of_step_with_node_modules_is_noticed(tmp_path: Path) -> None:
    require_vendor()
    lock = json.loads((pages.WEB_DIR / "package-lock.json").read_text())
    lock["packages"]["node_modules/preact"]["version"] = "10.0.0"
    (tmp_path / "package-lock.json").write_text(json.dumps(lock))
    (tmp_path / "node_modules").symlink_to(pages.WEB_DIR / "node_modules")
    with pytest.raises(pages.VendorMissing, match="pins 10.0.0"):
        pages.load_vendor(tmp_path)


def messages_block(html: str) -> dict[str, Any]:
    found = re.findall(r'<script type="application/json" id="skyhub-messages">(.*?)</script>', html, re.S)
    assert len(found) == 1
    return dict(json.loads(found[0]))


async def test_the_worker_page_brings_its_first_screen_and_lists_the_rest(running: RunningHub) -> None:
    """What a phone on a slow link gets with the page: the modules of its first screen to fetch at
    once, that screen's messages in its language (and English), and the other screens' modules
    listed inertly, to be fetched once the inbox is drawn."""
    require_vendor()
    async with httpx.AsyncClient(base_url=running.url) as c:
        r = await c.get("/worker", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        assert r.status_code == 200
        html = r.text
        messages = messages_block(html)
        assert set(messages) == {"en", "zh"} and set(messages["zh"]) == {"common", "worker"}
        assert messages["zh"]["worker"]["inbox"]["title"] == "指令"
        # ?lang= wins over the browser's languages; English always comes as the fallback.
        asked = await c.get("/worker?lang=en", headers={"Accept-Language": "zh-CN"})
        assert set(messages_block(asked.text)) == {"en"}

        head, _, rest = html.partition('<template id="skyhub-later">')
        later_html, _, _ = rest.partition("</template>")
        first = re.findall(r'<link rel="modulepreload" href="([^"]+)">', head)
        later = re.findall(r'<link rel="modulepreload" href="([^"]+)">', later_html)
        assert "/web/views/worker/inbox-view.js" in first and "/web/views/worker/call-screen.js" in later
        assert not set(first) & set(later)
        for url in (*first, *later):
            assert (await c.get(url)).status_code == 200, url
        # The style sheet is in the page: one request fewer.
        assert "<style>" in html and 'href="/web/styles/worker.css"' not in html
        # The service worker keeps both, so that every screen opens in a dead spot.
        sw = (await c.get("/worker-sw.js")).text
        shell = json.loads(re.search(r"^const SHELL = (.*);$", sw, re.M).group(1))  # type: ignore[union-attr]
        assert set(first) | set(later) <= set(shell)


def test_a_message_cannot_close_the_element_that_carries_it(tmp_path: Path) -> None:
    for lang in ("en", "zh"):
        (tmp_path / "locales" / lang).mkdir(parents=True)
        (tmp_path / "locales" / lang / "common.json").write_text(json.dumps({"appName": "skyhub"}))
        hostile = {"title": "</script><script>alert(1)</script>", "note": "a < b"}
        (tmp_path / "locales" / lang / "worker.json").write_text(json.dumps(hostile))
    block = pages.first_messages("worker", ("zh", "fr"), tmp_path)
    assert block.count("</script>") == 1 and block.endswith("</script>")
    data = messages_block(block)
    assert set(data) == {"en", "zh"}  # no messages in French: not asked for
    assert data["zh"]["worker"]["title"] == "</script><script>alert(1)</script>"


def test_the_languages_a_request_asks_for() -> None:
    assert pages.asked_languages(None, "zh-CN,zh;q=0.9,en;q=0.8") == ("zh", "en")
    assert pages.asked_languages(None, "fr, en;q=0.2, zh;q=0.5") == ("zh", "en")
    assert pages.asked_languages("en", "zh") == ("en",)
    assert pages.asked_languages("xx", "zh") == ("zh",)
    assert pages.asked_languages(None, "zh;q=0, de") == ()
    assert pages.asked_languages(None, None) == ()
    assert pages.asked_languages(None, "en;q=banana") == ()
