"""Evidence files (photos) on disk: checked, size-limited, written in a thread, served as what they are."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, UploadFile, status
from fastapi.responses import FileResponse

IMAGE_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}
READ_CHUNK = 64 * 1024
SHOWN_INLINE = frozenset({"image/jpeg", "image/png", "image/webp", "video/mp4", "video/webm"})
"""Types a page may show in place; anything else is a download."""
STORED_FILE_HEADERS = {
    # The browser takes the declared type as it is: a "JPEG" that carries a script is no page.
    "X-Content-Type-Options": "nosniff",
    # And opened on its own, it runs nothing and loads nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


@dataclass(frozen=True)
class StoredFile:
    """A saved evidence file."""

    relpath: str
    """Path under the data directory."""
    content_type: str
    """MIME type found from its content."""
    size: int
    """Bytes."""


def sniff_image(head: bytes) -> tuple[str, str] | None:
    """``(content type, extension)`` when ``head`` starts a JPEG, PNG or WebP image."""
    for magic, kind in IMAGE_TYPES.items():
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


async def read_photo(upload: UploadFile, max_bytes: int) -> tuple[bytes, str, str]:
    """The photo's bytes, type and extension; 413 when too large, 415 when not an image."""
    data = bytearray()
    while chunk := await upload.read(READ_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"photo {upload.filename!r} is larger than {max_bytes} bytes"
            )
    kind = sniff_image(bytes(data[:16]))
    if kind is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"{upload.filename!r} is not a JPEG, PNG or WebP image"
        )
    return bytes(data), kind[0], kind[1]


async def save(data_dir: Path, incident_id: int, data: bytes, content_type: str, ext: str) -> StoredFile:
    """Write evidence under ``data_dir/evidence/<incident>/`` (in a thread; never on the loop)."""
    return await save_file(data_dir, Path("evidence") / str(incident_id), data, content_type, ext)


async def save_file(data_dir: Path, folder: Path, data: bytes, content_type: str, ext: str) -> StoredFile:
    """Write a file under ``data_dir/folder`` with a fresh name, atomically, in a thread."""
    rel = folder / f"{uuid.uuid4().hex}.{ext}"

    def write() -> None:
        path = data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    await asyncio.to_thread(write)
    return StoredFile(str(rel), content_type, len(data))


def serve_file(path: Path, content_type: str | None, name: str) -> FileResponse:
    """A stored file as a response: its checked type, no sniffing, and a file name to save it as."""
    media_type = content_type or "application/octet-stream"
    disposition = "inline" if media_type in SHOWN_INLINE else "attachment"
    return FileResponse(
        path,
        media_type=media_type,
        headers=STORED_FILE_HEADERS,
        filename=name + path.suffix,
        content_disposition_type=disposition,
    )
