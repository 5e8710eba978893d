"""District directory queries and GET /api/directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.people.directory import Directory, UnknownNode
from tests.hub.conftest import RunningHub, make_settings


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(
        make_settings(
            tmp_path,
            cameras=[
                {"id": "cam-g1", "url": "synthetic://street", "grid": "g1"},
                {"id": "cam-g3", "url": "synthetic://plaza", "grid": "g3"},
                {"id": "cam-p1", "url": "synthetic://plaza", "grid": "g1", "property": "p1"},
            ],
        )
    )


def test_levels_and_paths(directory: Directory) -> None:
    assert [directory.nodes[n].level for n in directory.path("p1")] == [
        "district",
        "street",
        "community",
        "grid",
        "property",
    ]
    assert directory.path("g3") == ["d", "s2", "c2", "g3"]


def test_members_are_recursive(directory: Directory) -> None:
    assert {p.id for p in directory.members("g1")} == {"worker1"}
    assert {p.id for p in directory.members("c1")} == {"worker1", "worker2", "comm-lead"}
    assert {p.id for p in directory.members("c1", on_duty_only=True)} == {"worker1", "comm-lead"}
    assert {p.id for p in directory.members("d")} >= {"worker1", "worker2", "worker3", "chief", "street-lead"}


def test_leaders_upward_from_a_grid(directory: Directory) -> None:
    chain = directory.leaders_up("g1")
    assert [(c["node"], c["person"]["id"]) for c in chain] == [
        ("g1", "worker1"),
        ("c1", "comm-lead"),
        ("s1", "street-lead"),
        ("d", "chief"),
    ]


def test_cameras_under_a_node(directory: Directory) -> None:
    assert [c.id for c in directory.cameras_under("s1")] == ["cam-g1", "cam-p1"]
    assert {c.id for c in directory.cameras_under("d")} == {"cam-g1", "cam-g3", "cam-p1"}
    assert [c.id for c in directory.cameras_under("g1")] == ["cam-g1", "cam-p1"]
    # A property holds only the cameras placed on it, not every camera of its grid.
    assert [c.id for c in directory.cameras_under("p1")] == ["cam-p1"]


def test_unknown_node(directory: Directory) -> None:
    with pytest.raises(UnknownNode):
        directory.members("nope")


def test_tree_narrowed_to_grids(directory: Directory) -> None:
    tree = directory.tree(frozenset({"g1"}))
    assert tree is not None
    ids = []

    def walk(n: dict) -> None:  # type: ignore[type-arg]
        ids.append(n["id"])
        for c in n["children"]:
            walk(c)

    walk(tree)
    assert ids == ["d", "s1", "c1", "g1", "p1"]


async def test_api_directory_full_and_worker_view(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        full = (await c.get("/api/directory")).json()
        assert len(full["people"]) == 10
        r = await c.get("/api/directory/nodes/c1/members")
        assert {p["id"] for p in r.json()} == {"worker1", "worker2", "comm-lead"}
        r = await c.get("/api/directory/nodes/g1/leaders")
        assert [x["node"] for x in r.json()] == ["g1", "c1", "s1", "d"]
        assert (await c.get("/api/directory/nodes/nowhere/members")).status_code == 404
    async with await running.client("worker1") as c:
        mine = (await c.get("/api/directory")).json()
        assert {p["id"] for p in mine["people"]} == {"worker1"}
        assert mine["tree"]["children"][0]["id"] == "s1" and len(mine["tree"]["children"]) == 1
        assert (await c.get("/api/directory/nodes/g1/members")).status_code == 200
        # Asking about the whole district names no one outside the worker's own grids.
        r = await c.get("/api/directory/nodes/d/members")
        assert r.status_code == 200 and {p["id"] for p in r.json()} == {"worker1"}
        assert (await c.get("/api/directory/nodes/g3/members")).status_code == 403


async def test_people_carry_their_login_for_calls_and_messages(running: RunningHub) -> None:
    async with await running.client("dispatcher") as c:
        people = {p["id"]: p for p in (await c.get("/api/directory")).json()["people"]}
    assert people["worker1"]["username"] == "worker1"
    assert people["comm-lead"]["username"] is None  # in the directory, without a login
