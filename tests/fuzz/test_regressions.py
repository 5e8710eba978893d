"""What the fuzzers found, each kept as a plain test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hub.edge.serving import WS_MAX_FRAME_BYTES
from tests.fuzz.hubproc import FuzzHub
from tests.hub.conftest import make_settings, serve


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    with FuzzHub(Path(tmp_path_factory.mktemp("regressions"))) as h:
        yield h


async def test_a_refused_request_is_declared_in_the_schema(tmp_path: Path) -> None:
    # Schemathesis found 365 answers (65 of 70 operations, as some role) outside the declared
    # schema: 401/403/404/400/409/415/429 declared nowhere, and 422s whose "detail" is a sentence
    # where the schema promised a list of field errors.
    async with serve(make_settings(tmp_path)) as rh:
        async with httpx.AsyncClient(base_url=rh.url) as c:
            schema = (await c.get("/openapi.json")).json()
        paths = schema["paths"]
        login = paths["/api/auth/login"]["post"]["responses"]
        assert "401" not in login and "default" in login  # public: no token to refuse
        instructions = paths["/api/instructions"]["post"]["responses"]
        assert {"401", "403", "422", "default"} <= set(instructions)
        assert "404" in paths["/api/incidents/{incident_id}"]["get"]["responses"]
        assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
        error = schema["components"]["schemas"]["Error"]
        assert {"type": "string"} in error["properties"]["detail"]["anyOf"]

        async with await rh.client("dispatcher") as c:
            body = {"text": "x", "targets": {"people": ["nobody-of-that-name"]}}
            r = await c.post("/api/instructions", json=body)
        assert r.status_code == 422
        ref = instructions["422"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
        assert isinstance(r.json()["detail"], str) and "nobody-of-that-name" in r.json()["detail"]


def test_a_websocket_frame_over_the_limit_is_closed_with_1009_before_it_is_read(hub: FuzzHub) -> None:
    # The fuzzer's 15 MiB receipt was taken whole (uvicorn's default limit is 16 MiB) and parsed
    # on the event loop (0.3 s, every other client waiting); nothing a client sends is that large.
    url = f"ws://127.0.0.1:{hub.port}/ws/worker?token={hub.tokens['worker']}"
    with connect(url, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "live"
        with pytest.raises(ConnectionClosed):
            ws.send('{"type": "reply", "id": 1, "reply": "' + "x" * WS_MAX_FRAME_BYTES + '"}')
            ws.recv(timeout=10)
        assert ws.close_code == 1009


def test_the_longest_reply_a_worker_may_write_still_fits_in_a_frame(hub: FuzzHub) -> None:
    # The limit leaves room for a reply of instructions.text_max_chars' ceiling (20,000
    # characters) in 4-byte UTF-8: it is answered (the instruction is unknown), not cut off.
    url = f"ws://127.0.0.1:{hub.port}/ws/worker?token={hub.tokens['worker']}"
    with connect(url, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "live"
        ws.send(json.dumps({"type": "reply", "id": 1, "reply": "\U0001f4f7" * 20_000}, ensure_ascii=False))
        answer = json.loads(ws.recv(timeout=10))
        assert answer["type"] == "error" and answer["id"] == 1 and answer["status"] == 404, answer
