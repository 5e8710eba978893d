"""The district directory: the five-level tree, its people and where cameras stand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.config import LEVELS, CameraConfig, NodeConfig, Role, Settings, walk_nodes


@dataclass
class Node:
    """A node of the tree (district, street, community, grid or property)."""

    id: str
    """Unique id."""
    name: str
    """Display name."""
    level: str
    """One of :data:`hub.config.LEVELS`."""
    parent: str | None
    """Id of the node above; ``None`` for the district."""
    leader: str | None
    """Person id of the leader, if any."""
    neighbours: tuple[str, ...] = ()
    """Neighbouring grids (grids only)."""
    children: list[str] = field(default_factory=list)
    """Ids of the nodes one level down."""
    area: list[tuple[float, float]] | None = None
    """Outline on the map, [longitude, latitude] points; ``None`` when not drawn."""


@dataclass(frozen=True)
class Person:
    """Someone in the directory."""

    id: str
    """Unique id."""
    name: str
    """Display name."""
    roles: tuple[Role, ...]
    """Roles held."""
    grids: tuple[str, ...]
    """Grids served."""
    on_duty: bool
    """On duty now."""
    username: str | None = None
    """Their login, if they have one (what a call or a message is addressed to)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "grids": list(self.grids),
            "on_duty": self.on_duty,
            "username": self.username,
        }


class UnknownNode(KeyError):
    """A node id that is not in the tree."""


class Directory:
    """Read-only queries over the district tree built from the config."""

    def __init__(self, settings: Settings) -> None:
        self.nodes: dict[str, Node] = {}
        self.root: str | None = None
        if settings.directory.root is not None:
            self.root = settings.directory.root.id
            self._add(settings.directory.root, None)
        logins: dict[str, str] = {}
        for user in settings.users:
            logins.setdefault(user.person or user.username, user.username)
        self.people: dict[str, Person] = {
            p.id: Person(p.id, p.name, tuple(p.roles), tuple(p.grids), p.on_duty, logins.get(p.id))
            for p in settings.directory.people
        }
        self.cameras: dict[str, CameraConfig] = {c.id: c for c in settings.cameras}

    def _add(self, cfg: NodeConfig, parent: str | None) -> None:
        for node, _loc, depth in walk_nodes(cfg, ()):
            self.nodes[node.id] = Node(
                node.id,
                node.name,
                LEVELS[min(depth, len(LEVELS) - 1)],
                None,
                node.leader,
                tuple(node.neighbours),
                area=list(node.area) if node.area else None,
            )
        for node, _loc, _depth in walk_nodes(cfg, ()):
            for child in node.children:
                self.nodes[child.id].parent = node.id
                self.nodes[node.id].children.append(child.id)

    def node(self, node_id: str) -> Node:
        """The node, or :class:`UnknownNode`."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownNode(node_id) from None

    def subtree(self, node_id: str) -> list[str]:
        """Ids of the node and everything below it."""
        out, stack = [], [self.node(node_id).id]
        while stack:
            nid = stack.pop()
            out.append(nid)
            stack.extend(reversed(self.nodes[nid].children))
        return out

    def path(self, node_id: str) -> list[str]:
        """Ids from the district down to the node."""
        chain: list[str] = []
        cur: str | None = self.node(node_id).id
        while cur is not None:
            chain.append(cur)
            cur = self.nodes[cur].parent
        return chain[::-1]

    def grids_under(self, node_id: str) -> set[str]:
        """Grid ids at or below the node (the grid above, for a property)."""
        node = self.node(node_id)
        if node.level == "property":
            return {n for n in self.path(node_id) if self.nodes[n].level == "grid"}
        return {n for n in self.subtree(node_id) if self.nodes[n].level == "grid"}

    def members(self, node_id: str, on_duty_only: bool = False) -> list[Person]:
        """People serving any grid at or below the node, plus the leaders of those nodes."""
        grids = self.grids_under(node_id)
        leaders = {self.nodes[n].leader for n in self.subtree(node_id) if self.nodes[n].leader}
        out = [p for p in self.people.values() if p.id in leaders or grids.intersection(p.grids)]
        if on_duty_only:
            out = [p for p in out if p.on_duty]
        return out

    def leaders_up(self, node_id: str) -> list[dict[str, Any]]:
        """The chain of leaders from the node upward: the node's own first, the district's last."""
        out = []
        for nid in reversed(self.path(node_id)):
            node = self.nodes[nid]
            if node.leader:
                person = self.people.get(node.leader)
                out.append({"node": nid, "level": node.level, "person": person.as_dict() if person else None})
        return out

    def cameras_under(self, node_id: str) -> list[CameraConfig]:
        """Cameras placed at or below the node: on its grids, or on the property itself."""
        if self.node(node_id).level == "property":
            return [c for c in self.cameras.values() if c.property == node_id]
        grids = self.grids_under(node_id)
        return [c for c in self.cameras.values() if c.grid in grids]

    def grids_of(self, person_id: str | None) -> frozenset[str]:
        """The grids a person serves (empty for an unknown person)."""
        person = self.people.get(person_id or "")
        return frozenset(person.grids) if person else frozenset()

    def tree(self, visible_grids: frozenset[str] | None = None) -> dict[str, Any] | None:
        """The tree as nested dicts; with ``visible_grids``, only the branches leading to them."""
        if self.root is None:
            return None
        keep: set[str] | None = None
        if visible_grids is not None:
            keep = set()
            for g in visible_grids:
                if g in self.nodes:
                    keep.update(self.path(g))
                    keep.update(self.subtree(g))

        def build(nid: str) -> dict[str, Any]:
            n = self.nodes[nid]
            return {
                "id": n.id,
                "name": n.name,
                "level": n.level,
                "leader": n.leader,
                "neighbours": list(n.neighbours),
                "children": [build(c) for c in n.children if keep is None or c in keep],
            }

        return build(self.root)
