"""The console's hub side: a preview of whom targets reach (the very people sending then freezes),
templates kept by the hub, the history searched with its counts, receipts as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.hub.conftest import RunningHub, make_settings, serve

TARGETS: list[dict[str, Any]] = [
    {"nodes": ["c1"]},
    {"nodes": ["c1"], "on_duty_only": True},
    {"roles": ["worker"]},
    {"people": ["dispatcher"], "nodes": ["c2", "g1"]},
    {"nodes": ["d"]},
]


async def test_the_preview_is_who_sending_freezes(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        for targets in TARGETS:
            preview = (await c.post("/api/instructions/preview", json=targets)).json()
            sent = await c.post("/api/instructions", json={"text": "Sandbags to the east gate", "targets": targets})
            assert sent.status_code == 201, sent.text
            iid = sent.json()["instruction"]["id"]
            frozen = [r["person"] for r in (await c.get(f"/api/instructions/{iid}")).json()["receipts"]]
            assert preview["count"] == len(frozen) == sent.json()["instruction"]["recipients"], targets
            assert [p["id"] for p in preview["sample"]] == frozen[: len(preview["sample"])], targets
            assert preview["unreachable"] == sent.json()["unreachable"], targets
        whole = (await c.post("/api/instructions/preview", json={"nodes": ["c1"]})).json()
        assert {p["name"] for p in whole["sample"]} == {"Worker One", "Worker Two"}
        assert whole["unreachable"] == ["comm-lead"]  # the community's leader has no login


async def test_the_preview_refuses_what_sending_refuses(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        for targets, name in (({"nodes": ["atlantis"]}, "atlantis"), ({"roles": ["pilot"]}, "pilot")):
            r = await c.post("/api/instructions/preview", json=targets)
            assert r.status_code == 422 and name in r.json()["detail"], r.text
        r = await c.post("/api/instructions/preview", json={"nodes": ["g3"]})
        assert r.json() == {"count": 0, "sample": [], "unreachable": ["worker3"]}  # nobody who could receive
        r = await c.post("/api/instructions/preview", json={"nodes": ["c1"], "colour": "red"})
        assert r.status_code == 422
    async with await running.client("worker1") as w:
        assert (await w.post("/api/instructions/preview", json={"nodes": ["c1"]})).status_code == 403


TYPHOON = {
    "name": "Typhoon level 2: secure the stalls",
    "text": "Typhoon level 2: secure the market stalls and report when done",
    "priority": "urgent",
    "targets": {"nodes": ["c1"], "roles": [], "people": [], "on_duty_only": True},
    "reply_options": ["Done", "Need help"],
    "deadline_s": 1800,
}


async def test_templates_are_kept_by_the_hub(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with serve(settings) as rh, await rh.client("coordinator") as c:
        saved = await c.post("/api/instruction-templates", json=TYPHOON)
        assert saved.status_code == 201, saved.text
        tid = saved.json()["id"]
        again = await c.post("/api/instruction-templates", json={**TYPHOON, "priority": "emergency"})
        assert again.json()["id"] == tid  # the same name replaces it
        other = await c.post("/api/instruction-templates", json={**TYPHOON, "name": "Drill", "text": "Drill"})
        bad = await c.post("/api/instruction-templates", json={**TYPHOON, "name": "x", "targets": {"nodes": ["zz"]}})
        assert bad.status_code == 422 and "zz" in bad.json()["detail"]
        blank = await c.post("/api/instruction-templates", json={**TYPHOON, "name": "   "})
        assert blank.status_code == 422
    # Another coordinator, after a restart, finds them (by name) and sends one as it was saved.
    async with serve(settings) as rh, await rh.client("admin") as c:
        listed = (await c.get("/api/instruction-templates")).json()
        assert [t["name"] for t in listed] == ["Drill", TYPHOON["name"]]
        tpl = listed[1]
        assert (tpl["priority"], tpl["targets"], tpl["reply_options"], tpl["deadline_s"]) == (
            "emergency",
            TYPHOON["targets"],
            ["Done", "Need help"],
            1800,
        )
        body = {k: tpl[k] for k in ("text", "priority", "targets", "reply_options", "deadline_s")}
        sent = await c.post("/api/instructions", json=body)
        assert sent.json()["instruction"]["recipients"] == 1  # c1 on duty: worker1
        assert (await c.delete(f"/api/instruction-templates/{other.json()['id']}")).status_code == 204
        assert (await c.delete(f"/api/instruction-templates/{other.json()['id']}")).status_code == 404
        assert [t["name"] for t in (await c.get("/api/instruction-templates")).json()] == [TYPHOON["name"]]
    async with serve(settings) as rh, await rh.client("worker1") as w:
        assert (await w.get("/api/instruction-templates")).status_code == 403
        assert (await w.post("/api/instruction-templates", json=TYPHOON)).status_code == 403


async def test_history_search_counts_and_receipts_csv(running: RunningHub) -> None:
    async with await running.client("coordinator") as c:
        flood = await c.post(
            "/api/instructions",
            json={"text": "Flood 100% certain: open the pumps", "targets": {"nodes": ["c1"]}, "reply_options": ["OK"]},
        )
        iid = flood.json()["instruction"]["id"]
        await c.post("/api/instructions", json={"text": "Routine check", "targets": {"nodes": ["c1"]}})
    async with await running.client("worker1") as w:
        await w.post(f"/api/instructions/{iid}/ack", json={"reply": '=HYPERLINK("x")'})
    async with await running.client("coordinator") as c:
        found = (await c.get("/api/instructions", params={"q": "flood"})).json()
        assert [i["id"] for i in found] == [iid]
        assert found[0]["per_state"] == {"queued": 1, "delivered": 0, "read": 0, "acknowledged": 0, "replied": 1}
        assert (await c.get("/api/instructions", params={"q": "100%"})).json()[0]["id"] == iid
        assert (await c.get("/api/instructions", params={"q": "_"})).json() == []  # no wildcards
        assert len((await c.get("/api/instructions")).json()) == 2
        r = await c.get(f"/api/instructions/{iid}/receipts.csv")
        assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert [(x["person"], x["name"], x["state"]) for x in rows] == [
            ("worker1", "Worker One", "replied"),
            ("worker2", "Worker Two", "queued"),
        ]
        assert rows[0]["reply"] == '\'=HYPERLINK("x")'  # shown as text, never run as a formula
        assert rows[0]["done_at"].endswith("Z") and rows[1]["done_at"] == ""
        assert (await c.get("/api/instructions/999/receipts.csv")).status_code == 404
