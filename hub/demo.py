"""The demo: the demo district, its logins, and cameras that need no network."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from hub.config import Settings
from hub.configfile import load_settings

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
"""The demo district (shipped inside the package, so an installed skyhub runs the demo too)."""
SHARED_MEDIA = REPO.parent / "shared" / "media"

# The real CC-BY clips, when present, become looping cameras on these grids.
SHARED_CLIPS = (
    ("one-by-one-person-detection.mp4", "lab-entrance", "Office entrance (real clip)", "grid-d2", (31.2285, 121.4800)),
    ("car-detection.mp4", "harbour-road", "Harbour Road (real clip)", "grid-d1", (31.2448, 121.4760)),
    ("bottle-detection.mp4", "market-stall", "Market stall (real clip)", "grid-o1", (31.2300, 121.5030)),
)


def shared_clip_cameras(media_dir: Path = SHARED_MEDIA) -> list[dict[str, Any]]:
    """Camera entries for the shared clips that exist (read in place, never copied)."""
    out = []
    for filename, cam_id, name, grid, (lat, lon) in SHARED_CLIPS:
        path = media_dir / filename
        if path.is_file():
            url = path.resolve().as_uri()
            location = {"lat": lat, "lon": lon}
            out.append(
                {"id": cam_id, "name": name, "url": url, "grid": grid, "location": location, "stall_timeout_s": 5}
            )
    return out


def prepare_demo(data_dir: Path | None = None) -> tuple[Settings, str, list[tuple[str, str]]]:
    """Settings for the demo, the token secret, and the (username, password) logins to print."""
    base = load_settings(DEMO_CONFIG)
    password = os.environ.get("SKYHUB_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    secret = os.environ.get("SKYHUB_SECRET") or secrets.token_urlsafe(32)
    hasher = PasswordHasher()
    data = base.model_dump(mode="python", exclude={"auth": {"secret"}})
    for user in data["users"]:
        user["password_hash"] = hasher.hash(password)
    data["cameras"].extend(shared_clip_cameras())
    if data_dir is not None:
        data["data_dir"] = data_dir
    settings = Settings.model_validate(data)
    return settings, secret, [(u.username, password) for u in settings.users]
