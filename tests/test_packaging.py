"""The built distribution holds every module and web asset the source tree has."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_every_package_module_and_web_asset(tmp_path: Path) -> None:
    # An editable install hides a package left out of pyproject.toml; a built wheel does not.
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("skyhub-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        str(f.relative_to(REPO))
        for top in ("hub", "streams", "alerts")
        for f in (REPO / top).rglob("*.py")
        if "__pycache__" not in f.parts
    }
    assets = {".html", ".js", ".css", ".py", ".json"}
    web = REPO / "web"
    wanted |= {
        str(f.relative_to(REPO))
        for f in web.rglob("*")
        if f.suffix in assets
        and f.is_file()
        and not f.name.startswith(".")
        and not {"node_modules", "types"} & set(f.relative_to(web).parts)
        and f.name != "tsconfig.json"
    }
    # The browser modules the pages import (served from the package, no npm on the host).
    wanted |= {
        "web/node_modules/preact/dist/preact.module.js",
        "web/node_modules/preact/hooks/dist/hooks.module.js",
        "web/node_modules/htm/preact/index.module.js",
        "web/node_modules/@preact/signals/dist/signals.module.js",
        "web/node_modules/@preact/signals-core/dist/signals-core.module.js",
        "web/node_modules/leaflet/dist/leaflet-src.esm.js",
        "web/node_modules/leaflet/dist/leaflet.css",
        "web/node_modules/idb-keyval/dist/index.js",
        "web/package-lock.json",
    }
    wanted.add("hub/demo.yaml")  # `skyhub demo` from an installed package
    wanted.add("hub/store/migrations/script.py.mako")  # new revisions from an installed package
    missing = sorted(wanted - inside)
    assert not missing, f"left out of the wheel: {missing}"
    assert any(name.endswith("entry_points.txt") for name in inside)
