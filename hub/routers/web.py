"""The browser pages: HTML entry pages carrying one import map, and the pinned npm modules they import.

The pages are plain ES modules (no build step). Their npm dependencies are installed by
``npm ci`` in ``web/`` from ``web/package-lock.json``; this module reads the lock once at start-up
and builds the one import map every page gets, pointing the bare specifiers (``preact``,
``htm/preact``, ``@preact/signals``…) at versioned URLs under ``/web/vendor/NAME@VERSION/``. Those
files are served from ``web/node_modules`` with long cache headers (a new version is a new URL),
and only files of the packages in :data:`VENDOR_PACKAGES`: the rest of ``node_modules`` (dev tools,
type packages) is never served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import web
from hub.edge.deps import HubDep
from hub.services import Hub

log = logging.getLogger(__name__)

WEB_DIR = Path(web.__file__).resolve().parent
NODE_MODULES = "node_modules"
LOCK_FILE = "package-lock.json"
VENDOR_URL = "/web/vendor"

IMPORTMAP_PLACEHOLDER: Final = "<!-- skyhub:importmap -->"
"""Where a page's HTML gets the ``<script type="importmap">`` (before any module script)."""

PRELOAD_PLACEHOLDER: Final = "<!-- skyhub:modulepreload -->"
"""Where a page that asks for it gets ``<link rel="modulepreload">`` for every module it imports
before it runs, and the messages it shows first (in a JSON data block): over a slow link the
browser then fetches them all at once instead of one level of imports per round trip (the worker app
on a phone). The modules the page imports later (``import("./x.js")``) are listed inside
``<template id="skyhub-later">``, inert until the page puts them in its head once it has drawn
itself: fetched together then, without taking the link from what the first screen waits for."""

STYLE_PLACEHOLDER: Final = re.compile(r"<!-- skyhub:style ([\w/.-]+\.css) -->")
"""Where a page gets a style sheet of ``web/`` written in (``<!-- skyhub:style styles/x.css -->``): one
request fewer on a slow link. A sheet that refers to other files (``url(``, ``@import``) is linked
instead, since its relative addresses would no longer hold."""

MESSAGES_ID: Final = "skyhub-messages"
"""The id of the JSON data block that carries a page's first messages (see :func:`first_messages`)."""

LATER_TEMPLATE_ID: Final = "skyhub-later"
"""The id of the ``<template>`` that holds the preloads of a page's later modules."""

STATIC_IMPORT = re.compile(r"""\b(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?["']([^"']+)["']""")
"""A module's static imports (``import … from "x"``, ``import "x"``, ``export … from "x"``)."""

DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["']([^"']+)["']\s*\)""")
"""A module's imports on demand with a literal specifier (``import("./x.js")``)."""

BARE_IMPORTS: Final[dict[str, tuple[str, str]]] = {
    "preact": ("preact", "dist/preact.module.js"),
    "preact/hooks": ("preact", "hooks/dist/hooks.module.js"),
    "htm": ("htm", "dist/htm.module.js"),
    "htm/preact": ("htm", "preact/index.module.js"),
    "@preact/signals": ("@preact/signals", "dist/signals.module.js"),
    "@preact/signals-core": ("@preact/signals-core", "dist/signals-core.module.js"),
    "leaflet": ("leaflet", "dist/leaflet-src.esm.js"),
    "idb-keyval": ("idb-keyval", "dist/index.js"),
}
"""Bare specifier → (npm package, its ES module file). Every page's import map holds these."""

VENDOR_PACKAGES: Final = frozenset(pkg for pkg, _ in BARE_IMPORTS.values())
"""The only packages whose files the hub serves from ``node_modules``."""

VENDOR_SUFFIXES: Final = frozenset({".js", ".mjs", ".css", ".map", ".png", ".svg"})
"""Kinds of files served from those packages (code, styles, Leaflet's marker images)."""

VENDOR_CACHE: Final = "public, max-age=31536000, immutable"
"""A vendor URL names the package version, so its answer never changes."""

PAGES: Final[dict[str, str]] = {
    "desk": "pages/desk.html",
    "login": "pages/login.html",
    "console": "pages/console.html",
    "worker": "pages/worker.html",
}
"""Entry pages by name: HTML files under ``web/`` with the import map placeholder."""

LANGUAGES: Final = ("en", "zh")
"""The languages the pages have messages in (``web/locales/``)."""

FIRST_MESSAGES: Final[dict[str, tuple[str, ...]]] = {"worker": ("common", "worker")}
"""Message files (``web/locales/{lang}/{name}.json``) a page needs for its first screen, written into
the page, in English (every page's fallback) and the languages the request asks for."""


class VendorMissing(RuntimeError):
    """The pages' npm modules are not installed (or not as the lock file says)."""


@dataclass(frozen=True)
class Vendor:
    """The installed npm packages the pages may import, as the lock file pins them."""

    versions: dict[str, str]
    """Package name → exact version (from ``package-lock.json``)."""
    import_map: dict[str, dict[str, str]]
    """The import map every page carries: ``{"imports": {specifier: URL}}``."""

    def script_text(self) -> str:
        """The text inside the page's ``<script type="importmap">``."""
        # "</" cannot occur in the JSON of these URLs, but never let it close the script element.
        body = json.dumps(self.import_map, indent=1, sort_keys=True).replace("</", "<\\/")
        return f"\n{body}\n"

    def script(self) -> str:
        """The ``<script type="importmap">`` element for a page."""
        return f'<script type="importmap">{self.script_text()}</script>'

    def script_hash(self) -> str:
        """The import map's CSP source (``'sha256-…'``): the only inline script a page may run."""
        digest = hashlib.sha256(self.script_text().encode("utf-8")).digest()
        return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def package_url(package: str, version: str) -> str:
    """The versioned URL folder of one vendor package, e.g. ``/web/vendor/preact@10.29.8``."""
    return f"{VENDOR_URL}/{package}@{version}"


def load_vendor(web_dir: Path = WEB_DIR) -> Vendor:
    """Read the lock file and check the installed packages; :class:`VendorMissing` says what to do."""
    lock_path = web_dir / LOCK_FILE
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VendorMissing(f"cannot read {lock_path}: {exc}") from None
    packages = lock.get("packages") if isinstance(lock, dict) else None
    if not isinstance(packages, dict):
        raise VendorMissing(f"{lock_path} has no 'packages' (lockfileVersion 2 or later is needed)")
    versions: dict[str, str] = {}
    for package in sorted(VENDOR_PACKAGES):
        entry = packages.get(f"{NODE_MODULES}/{package}")
        if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
            raise VendorMissing(f"{lock_path} does not pin {package}")
        installed = web_dir / NODE_MODULES / package / "package.json"
        try:
            have = json.loads(installed.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            raise VendorMissing(f"{package} is not installed in {web_dir / NODE_MODULES}") from None
        if have != entry["version"]:
            raise VendorMissing(f"{package} {have} is installed but the lock file pins {entry['version']}")
        versions[package] = entry["version"]
    imports: dict[str, str] = {}
    for specifier, (package, file) in BARE_IMPORTS.items():
        if not (web_dir / NODE_MODULES / package / file).is_file():
            raise VendorMissing(f"{package}@{versions[package]} has no {file}")
        imports[specifier] = f"{package_url(package, versions[package])}/{file}"
    # "leaflet/dist/leaflet.css" and the like resolve too (import.meta.resolve in a module).
    for package, version in versions.items():
        imports[f"{package}/"] = f"{package_url(package, version)}/"
    return Vendor(versions=versions, import_map={"imports": imports})


def _load_or_explain(web_dir: Path) -> Vendor | VendorMissing:
    try:
        return load_vendor(web_dir)
    except VendorMissing as exc:
        log.warning("web pages: %s; run `npm ci` in %s (scripts/setup.sh does)", exc, web_dir)
        return exc


VENDOR: Final = _load_or_explain(WEB_DIR)
"""Read once at start-up (restart the hub after ``npm ci``)."""


def render_page(
    name: str,
    vendor: Vendor | VendorMissing = VENDOR,
    web_dir: Path = WEB_DIR,
    img_origins: tuple[str, ...] = (),
    langs: tuple[str, ...] = (),
) -> HTMLResponse:
    """An entry page with the import map in place, or a 503 page that says how to install the modules.

    ``langs``: the languages the visitor is likely to read (from ``?lang=`` and ``Accept-Language``),
    whose first messages the page carries besides English's.
    """
    if isinstance(vendor, VendorMissing):
        text = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>skyhub: pages not installed</title>"
            "<h1>The pages' modules are not installed</h1>"
            f"<p>{_escape(str(vendor))}.</p><p>Run <code>npm ci</code> in the hub's <code>web/</code> folder "
            "(<code>scripts/setup.sh</code> does) and restart the hub.</p></html>"
        )
        return HTMLResponse(text, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "60"})
    html = (web_dir / PAGES[name]).read_text(encoding="utf-8")
    if IMPORTMAP_PLACEHOLDER not in html:
        raise RuntimeError(f"{PAGES[name]} has no {IMPORTMAP_PLACEHOLDER}")
    headers = {"Cache-Control": "no-cache", **page_headers(vendor.script_hash(), img_origins)}
    html = html.replace(IMPORTMAP_PLACEHOLDER, vendor.script(), 1)
    html = STYLE_PLACEHOLDER.sub(lambda m: inline_style(m.group(1), web_dir), html)
    if PRELOAD_PLACEHOLDER in html:
        html = html.replace(PRELOAD_PLACEHOLDER, preload_links(name, vendor, web_dir, langs), 1)
    return HTMLResponse(html, headers=headers)


def inline_style(sheet: str, web_dir: Path = WEB_DIR) -> str:
    """A ``<style>`` element with the sheet ``web/{sheet}``, or a link to it (see :data:`STYLE_PLACEHOLDER`)."""
    text = (web_dir / sheet).read_text("utf-8")
    if "url(" in text or "@import" in text or "</" in text:
        return f'<link rel="stylesheet" href="/web/{sheet}">'
    return f"<style>\n{text}</style>"


def preload_links(name: str, vendor: Vendor, web_dir: Path = WEB_DIR, langs: tuple[str, ...] = ()) -> str:
    """The page's preloads: its modules, its first messages (in the page itself), and its later
    modules in a template."""
    graph = module_graph(name, vendor, web_dir)
    links = [f'<link rel="modulepreload" href="{u}">' for u in graph.first]
    if name in FIRST_MESSAGES:
        links.append(first_messages(name, langs, web_dir))
    if graph.later:
        later = "".join(f'<link rel="modulepreload" href="{u}">' for u in graph.later)
        links.append(f'<template id="{LATER_TEMPLATE_ID}">{later}</template>')
    return "\n".join(links)


def first_messages(name: str, langs: tuple[str, ...] = (), web_dir: Path = WEB_DIR) -> str:
    """The messages of the page's first screen, in English and the asked languages, as a JSON data
    block that i18n.js reads instead of fetching them: no request, no round trip. A data block is
    never run, so the page's script policy does not concern it."""
    wanted = dict.fromkeys(["en", *(lang for lang in langs if lang in LANGUAGES)])
    data: dict[str, dict[str, object]] = {}
    for lang in wanted:
        for screen in FIRST_MESSAGES[name]:
            path = web_dir / "locales" / lang / f"{screen}.json"
            data.setdefault(lang, {})[screen] = json.loads(path.read_text("utf-8"))
    # "</" would close the element: JSON lets "/" be written "\/".
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{MESSAGES_ID}">{text}</script>'


def asked_languages(query_lang: str | None, accept_language: str | None) -> tuple[str, ...]:
    """The supported languages a request asks for: ``?lang=`` alone when it names one (the page will
    speak it), else ``Accept-Language``'s (by q). The page may still pick the user's stored choice."""
    if query_lang and (asked := query_lang.split("-")[0].lower()) in LANGUAGES:
        return (asked,)
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            weighted.append((-q, i, tag.split("-")[0].lower()))
    return tuple(dict.fromkeys(lang for _, _, lang in sorted(weighted) if lang in LANGUAGES))


@dataclass(frozen=True)
class ModuleGraph:
    """The modules an entry page loads, as URLs (its entry script not among them)."""

    first: tuple[str, ...]
    """Imported before the page runs: the entry's static imports, directly or not."""
    later: tuple[str, ...]
    """Imported on demand (``import("./x.js")``) and what those import, less what ``first`` has."""


_GRAPHS: dict[tuple[str, Path], ModuleGraph] = {}


def module_graph(name: str, vendor: Vendor, web_dir: Path = WEB_DIR) -> ModuleGraph:
    """Every module the page's entry script imports, directly or not, at once or on demand (read once
    per page).

    The page's own modules are followed through their relative imports; bare specifiers map through
    the import map, and the vendor modules those import are followed inside their package.
    """
    key = (name, web_dir)
    if key in _GRAPHS:
        return _GRAPHS[key]
    entry = re.search(r'<script type="module" src="/web/([^"]+)"', (web_dir / PAGES[name]).read_text("utf-8"))
    seen: set[Path] = set()
    first, on_demand = _follow([web_dir / entry.group(1)] if entry else [], vendor, web_dir, seen)
    later: list[str] = []
    while on_demand:  # what the later modules import on demand is later too
        urls, on_demand = _follow(on_demand, vendor, web_dir, seen)
        later += urls
    entry_url = f"/web/{PAGES[name].rsplit('.', 1)[0]}"  # the entry loads itself
    _GRAPHS[key] = ModuleGraph(
        first=tuple(dict.fromkeys(u for u in first if not u.startswith(entry_url))),
        later=tuple(dict.fromkeys(u for u in later if not u.startswith(entry_url))),
    )
    return _GRAPHS[key]


def _follow(start: list[Path], vendor: Vendor, web_dir: Path, seen: set[Path]) -> tuple[list[str], list[Path]]:
    """The URLs of the modules ``start`` imports statically, directly or not (skipping and adding to
    ``seen``), and the files they import on demand."""
    urls: list[str] = []
    on_demand: list[Path] = []
    todo = list(start)
    while todo:
        path = todo.pop(0).resolve()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        if path.is_relative_to(web_dir / NODE_MODULES):
            rel = path.relative_to(web_dir / NODE_MODULES).as_posix()
            package = "/".join(rel.split("/")[:2]) if rel.startswith("@") else rel.split("/")[0]
            urls.append(f"{package_url(package, vendor.versions[package])}{rel[len(package) :]}")
        else:
            urls.append("/web/" + path.relative_to(web_dir).as_posix())
        text = path.read_text("utf-8")
        for spec in STATIC_IMPORT.findall(text):
            if spec.startswith("."):
                todo.append(path.parent / spec)
            elif spec in BARE_IMPORTS:
                package, file = BARE_IMPORTS[spec]
                todo.append(web_dir / NODE_MODULES / package / file)
        for spec in DYNAMIC_IMPORT.findall(text):
            if spec.startswith("."):
                on_demand.append(path.parent / spec)
            elif spec in BARE_IMPORTS:
                package, file = BARE_IMPORTS[spec]
                on_demand.append(web_dir / NODE_MODULES / package / file)
    return urls, [p for p in on_demand if p.resolve() not in seen]


def page_headers(script_hash: str, img_origins: tuple[str, ...] = ()) -> dict[str, str]:
    """Security headers of every page: scripts only from the hub (and the page's own import map),
    never inline; no framing; no sniffing; no referrer to other sites.

    Styles may be inline (Leaflet positions its panes with style attributes); images also from
    ``blob:`` (snapshots and evidence fetched with the token) and the district's tile server;
    connections to any host, because a camera ingested by another hub node is played from that
    node's own URL (see README "Several hub nodes").
    """
    csp = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {script_hash}",
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' blob: data:", *img_origins]),
            "media-src 'self' blob:",
            "connect-src 'self' blob: http: https: ws: wss:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vendor_file(asset: str, vendor: Vendor | VendorMissing = VENDOR, web_dir: Path = WEB_DIR) -> Path:
    """The file behind ``/web/vendor/{asset}`` (``NAME@VERSION/path``); 404 for anything else."""
    not_found = HTTPException(status.HTTP_404_NOT_FOUND, "no such module file")
    if isinstance(vendor, VendorMissing):
        raise not_found
    parts = asset.split("/")
    scoped = parts[0].startswith("@")
    head, rest = ("/".join(parts[:2]), parts[2:]) if scoped else (parts[0], parts[1:])
    package, _, version = head.rpartition("@")
    if package not in VENDOR_PACKAGES or vendor.versions.get(package) != version or not rest:
        raise not_found
    root = (web_dir / NODE_MODULES / package).resolve()
    try:
        path = root.joinpath(*rest).resolve(strict=True)
    except (OSError, RuntimeError):
        raise not_found from None
    # No way out of the package's folder: not by "..", not by a symbolic link.
    if not path.is_relative_to(root) or not path.is_file() or path.suffix not in VENDOR_SUFFIXES:
        raise not_found
    return path


router = APIRouter(tags=["pages"])


def _tile_origins(hub: Hub) -> tuple[str, ...]:
    tile_url = hub.settings.map.tile_url
    if not tile_url:
        return ()
    parts = urlsplit(tile_url if "://" in tile_url else "https:" + tile_url)
    return (f"{parts.scheme}://{parts.netloc}",)


@router.get("/", include_in_schema=False)
async def desk(hub: HubDep) -> HTMLResponse:
    """The dispatchers' desk: wall, incidents and map (it sends a visitor without a login to /login)."""
    return render_page("desk", img_origins=_tile_origins(hub))


@router.get("/console", include_in_schema=False)
async def console() -> HTMLResponse:
    """The coordinators' console: compose instructions on the district tree, watch receipts land."""
    return render_page("console")


@router.get("/worker", include_in_schema=False)
async def worker(request: Request) -> HTMLResponse:
    """The grid worker's phone app: inbox, calls and briefings, my incidents, reports, go live."""
    langs = asked_languages(request.query_params.get("lang"), request.headers.get("accept-language"))
    return render_page("worker", langs=langs)


WORKER_SW = "sw-worker.js"
WORKER_MANIFEST = "worker.webmanifest"


WORKER_LOCALES: Final = ("common", "worker", "incidents")
"""The message files the worker app loads (in both languages: the phone may switch offline)."""


def worker_shell(vendor: Vendor, web_dir: Path = WEB_DIR) -> tuple[str, list[str]]:
    """The worker app's shell (every URL it needs to start) and a version made from their contents."""
    files = ["/worker.webmanifest", "/web/pages/worker-boot.js", "/web/styles/worker.css", "/web/pages/worker.js"]
    graph = module_graph("worker", vendor, web_dir)
    files += [u for u in (*graph.first, *graph.later) if u not in files]
    files += [f"/web/locales/{lang}/{name}.json" for lang in ("en", "zh") for name in WORKER_LOCALES]
    files += ["/web/icons/worker-192.png", "/web/icons/worker-512.png", "/web/icons/worker.svg"]
    digest = hashlib.sha256(vendor.script_text().encode("utf-8"))
    for name in [PAGES["worker"], WORKER_SW, WORKER_MANIFEST, *[u.removeprefix("/web/") for u in files[1:]]]:
        path = web_dir / name if not name.startswith("vendor/") else None
        if path is not None and path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16], ["/worker", *files]


_WORKER_SW_TEXT: dict[Path, str] = {}


@router.get("/worker-sw.js", include_in_schema=False)
async def worker_service_worker() -> Response:
    """The worker app's service worker, served from the site's root so that its scope may be ``/worker``,
    with the shell's list and version written in (read once per hub start).

    ``no-cache``: the browser checks it on every start, so a new version of the app reaches phones.
    """
    headers = {"Cache-Control": "no-cache", "Service-Worker-Allowed": "/worker"}
    if isinstance(VENDOR, VendorMissing):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(VENDOR))
    text = _WORKER_SW_TEXT.get(WEB_DIR)
    if text is None:
        version, shell = worker_shell(VENDOR)
        text = (WEB_DIR / WORKER_SW).read_text("utf-8")
        for name, value in (("VERSION", version), ("SHELL", shell)):
            line = re.compile(rf"^const {name} = .*// skyhub:{name.lower()}$", re.M)
            text = line.sub(f"const {name} = {json.dumps(value)};", text, count=1)
        _WORKER_SW_TEXT[WEB_DIR] = text
    return Response(text, media_type="text/javascript", headers=headers)


@router.get("/worker.webmanifest", include_in_schema=False)
async def worker_manifest() -> FileResponse:
    """What makes the worker app installable: its name, start page and icons."""
    return FileResponse(
        WEB_DIR / WORKER_MANIFEST, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"}
    )


@router.get("/login", include_in_schema=False)
async def login() -> HTMLResponse:
    """The login form; it goes back to ``?next=`` (a path on this site) once logged in."""
    return render_page("login")


@router.get(VENDOR_URL + "/{asset:path}", include_in_schema=False)
async def vendor_module(asset: str) -> FileResponse:
    """A file of a pinned npm package the pages import (see :data:`VENDOR_PACKAGES`)."""
    return FileResponse(vendor_file(asset), headers={"Cache-Control": VENDOR_CACHE})


@router.get("/web/" + NODE_MODULES + "/{asset:path}", include_in_schema=False)
async def hide_node_modules(asset: str) -> Response:
    """``web/node_modules`` is served only through :func:`vendor_module` (listed packages, pinned)."""
    raise HTTPException(status.HTTP_404_NOT_FOUND, "not served")


PAGE_URLS: Final = frozenset({"/", "/login", "/console", "/worker", "/worker-sw.js", "/worker.webmanifest"})
"""The entry pages and the worker app's service worker and manifest: compressed like ``/web/``."""

GZIP_MIN_BYTES = 1024
"""Smaller answers go as they are (the header costs more than it saves)."""
GZIP_LEVEL = 6
"""zlib's default: most of level 9's saving on these text files for a fraction of its CPU."""


class WebGZip:
    """Gzip the pages and their modules, styles and messages (``/web/…``) for browsers that take it.

    Only those: a phone on a slow network fetches ~100 files of text that shrink to a quarter, while
    API answers, snapshots, clips, evidence and media sessions stay exactly as their routes send
    them (already compressed, streamed, or ranged). Bodies over Starlette's thread threshold are
    compressed off the event loop.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        wanted = path.startswith("/web/") and not path.startswith(f"/web/{NODE_MODULES}/")
        if wanted or path in PAGE_URLS:
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
