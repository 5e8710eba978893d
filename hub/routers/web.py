"""The browser pages (plain ES modules and CSS, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

import web

WEB_DIR = Path(web.__file__).resolve().parent

router = APIRouter(tags=["pages"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The start page: login, cameras and the live event feed."""
    return FileResponse(WEB_DIR / "index.html")
