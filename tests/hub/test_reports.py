"""Reports over HTTP: a resident following a merged case, and uploads refused before they are read."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path

import httpx

from tests.hub.conftest import RunningHub, make_settings, serve
from tests.hub.test_incidents_api import jpeg

PHOTO_MAX = 64 * 1024
"""A small photo limit, so "too large" is a few hundred KiB."""

SEND_CAP = 16 * 1024 * 1024
"""The most a test client sends before giving up on an answer."""


async def public_report(anon: httpx.AsyncClient, text: str) -> httpx.Response:
    """A resident's report with one photo, sent without a login."""
    return await anon.post(
        "/api/public/reports", data={"text": text}, files={"photo": ("p.jpg", io.BytesIO(jpeg()), "image/jpeg")}
    )


async def test_receipt_of_a_merged_report_follows_the_surviving_incident(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path, incidents={"public_rate_per_min": 100})) as rh:
        async with httpx.AsyncClient(base_url=rh.url) as anon, await rh.client("dispatcher") as c:
            r = await public_report(anon, "streetlight out on Pier Road")
            receipt = r.json()["receipt"]
            mine = (await c.get("/api/incidents", params={"q": "Pier Road"})).json()[0]["id"]
            # Another resident reported it first: the dispatcher merges this report into that one.
            r = await public_report(anon, "lamp out by the ferry steps")
            assert r.status_code == 201, r.text
            kept_id = (await c.get("/api/incidents", params={"q": "ferry steps"})).json()[0]["id"]
            await c.post(f"/api/incidents/{kept_id}/transitions", json={"to": "verified", "version": 1})
            r = await c.post(
                f"/api/incidents/{mine}/transitions", json={"to": "merged", "version": 1, "merge_into": kept_id}
            )
            assert r.status_code == 200

            async def status() -> dict[str, str]:
                r = await anon.get(f"/api/public/reports/{receipt}")
                assert r.status_code == 200
                return dict(r.json())

            assert (await status())["status"] == "accepted"
            url = f"/api/incidents/{kept_id}/transitions"
            await c.post(url, json={"to": "assigned", "version": 2, "assignee": {"person": "worker1"}})
            assert (await status())["status"] == "in progress"
            async with await rh.client("worker1") as w:
                await w.post(url, json={"to": "acknowledged", "version": 3})
                await w.post(url, json={"to": "resolved", "version": 4, "note": "lamp replaced"})
            body = await status()
            assert (body["status"], body["feedback"], body["receipt"]) == ("resolved", "lamp replaced", receipt)
            await c.post(url, json={"to": "closed", "version": 5})
            assert (await status())["status"] == "closed"

            # Merged into a staff incident instead: its status, but never its internal notes.
            r = await public_report(anon, "bench broken at Quay Square")
            other_receipt = r.json()["receipt"]
            bench = (await c.get("/api/incidents", params={"q": "Quay Square"})).json()[0]["id"]
            staff = (await c.post("/api/incidents", json={"category": "bench", "title": "bench", "node": "g1"})).json()
            staff_id = staff["incident"]["id"]
            merge = {"to": "merged", "version": 1, "merge_into": staff_id}
            assert (await c.post(f"/api/incidents/{bench}/transitions", json=merge)).status_code == 200
            url = f"/api/incidents/{staff_id}/transitions"
            version = staff["incident"]["version"]
            for step in (
                {"to": "assigned", "assignee": {"person": "worker1"}},
                {"to": "acknowledged"},
                {"to": "resolved", "note": "contractor B-17 invoice 4471"},
            ):
                r = await c.post(url, json={**step, "version": version})
                assert r.status_code == 200, r.text
                version = r.json()["incident"]["version"]
            r = await anon.get(f"/api/public/reports/{other_receipt}")
            assert r.json()["status"] == "resolved" and "feedback" not in r.json()


async def raw_upload(rh: RunningHub, path: str, token: str, declared: int | None) -> tuple[int, int, bytes]:
    """POST an endless photo to ``path``: with a ``Content-Length`` of ``declared`` bytes, or chunked.

    Returns the status, how many body bytes were sent before the answer came, and the answer's body.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", rh.port)
    boundary = "b0undary"
    length = f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n{length}\r\n\r\n"
        ).encode()
    )
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="huge.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + b"\xff\xd8\xff"
    answer = asyncio.create_task(reader.read(65536))
    sent = 0
    try:
        chunk = head
        while not answer.done() and sent < SEND_CAP:
            writer.write(chunk if declared is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(0.001)
            chunk = b"\0" * 65536
        if not answer.done() and declared is None:
            writer.write(b"0\r\n\r\n")  # give up: end the body and take whatever answer comes
        async with asyncio.timeout(30):
            raw = await answer
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), sent, rest


async def test_oversized_uploads_are_refused_before_they_are_read(tmp_path: Path) -> None:
    async with serve(make_settings(tmp_path, incidents={"photo_max_bytes": PHOTO_MAX})) as rh:
        token = await rh.token("worker1")
        async with await rh.client("worker1") as w:
            inc = (await w.post("/api/reports", data={"text": "x", "category": "road"})).json()["incident"]
        for path in ("/api/reports", f"/api/incidents/{inc['id']}/evidence"):
            # Declared too large: refused at once, without waiting for (or reading) the body.
            status, sent, body = await raw_upload(rh, path, token, declared=10 * 1024**3)
            assert status == 413 and b"bytes allowed" in body and sent < 1024 * 1024, (path, sent)
            # Streamed without a length: refused once it has grown past what 5 photos could be.
            status, sent, _ = await raw_upload(rh, path, token, declared=None)
            assert status == 413 and sent < 4 * 1024 * 1024, (path, sent)
        async with await rh.client("worker1") as w:
            # Photos within the limit still go through; nothing refused opened an incident.
            files = [("photos", (f"{i}.jpg", jpeg(), "image/jpeg")) for i in range(5)]
            r = await w.post("/api/reports", data={"text": "y", "category": "road"}, files=files)
            assert r.status_code == 201, r.text
            assert len((await w.get("/api/incidents")).json()) == 2
