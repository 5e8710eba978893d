"""Loading the configuration from YAML, with errors that point at file and line."""

from __future__ import annotations

import copy
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.access.auth import MIN_SECRET_CHARS
from hub.config import SECRET_IN_FILE, Loc, Settings, apply_env, cross_check
from streams.urls import resolve


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    path: str
    """The file."""
    line: int | None
    """1-based line of the offending value, when known."""
    where: str
    """Dotted location inside the tree, e.g. ``cameras[2].grid``."""
    message: str
    """What is wrong, for a human."""

    def __str__(self) -> str:
        line = f":{self.line}" if self.line else ""
        return f"{self.path}{line}: {self.where}: {self.message}"


class ConfigError(Exception):
    """The configuration was refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _line_map(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _line_map(value, (*loc, key.value), out)
            # A key's own errors point at the key line, not at its first child.
            out[(*loc, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*loc, i), out)


def _where(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _nearest_line(lines: dict[Loc, int], loc: Loc) -> int | None:
    while True:
        if loc in lines:
            return lines[loc]
        if not loc:
            return None
        loc = loc[:-1]


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    # pydantic puts validator names (e.g. "function-after[...]") and tuple indices into locs.
    return tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "tagged-union")))


def load_settings(path: str | Path, env: dict[str, str] | None = None, *, for_run: bool = False) -> Settings:
    """Read, validate and cross-check a YAML config; raise :class:`ConfigError` with every problem.

    ``for_run`` adds what only a running hub needs from its environment (:func:`run_problems`).
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, "(file)", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(name, line, "(syntax)", str(getattr(exc, "problem", exc)))]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(name, 1, "(top)", "the file must hold a mapping of sections")])
    lines: dict[Loc, int] = {}
    found: list[tuple[Loc, str]] = []
    if root is not None:
        _line_map(root, (), lines)
        found += _duplicate_keys(root, ())
    environ = os.environ if env is None else env
    if isinstance(data.get("auth"), dict) and "secret" in data["auth"]:
        found.append((("auth", "secret"), SECRET_IN_FILE))
        data = {**data, "auth": {k: v for k, v in data["auth"].items() if k != "secret"}}
    data = apply_env(data, environ)
    context = {"defer_cross_checks": True, "config_dir": path.parent}
    try:
        settings = Settings.model_validate(data, context=context)
    except ValidationError as exc:
        found += _errors(exc)
        cross = _cross_checks_without(data, _errors(exc), context)
        problems = [_problem(name, lines, loc, msg) for loc, msg in found + (cross or [])]
        if cross is None:
            problems.append(ConfigProblem(name, None, "(file)", CROSS_CHECKS_LATER))
        raise ConfigError(problems) from None
    found += cross_check(settings)
    found += tls_problems(settings)
    if for_run:
        found += run_problems(settings, environ)
    if found:
        raise ConfigError([_problem(name, lines, loc, msg) for loc, msg in found])
    return settings


def _problem(name: str, lines: dict[Loc, int], loc: Loc, msg: str) -> ConfigProblem:
    return ConfigProblem(name, _nearest_line(lines, loc), _where(loc), msg)


def _errors(exc: ValidationError) -> list[tuple[Loc, str]]:
    return [(_clean_loc(err["loc"]), err["msg"]) for err in exc.errors()]


def _cross_checks_without(
    data: dict[str, Any], errors: list[tuple[Loc, str]], context: dict[str, Any]
) -> list[tuple[Loc, str]] | None:
    """The checks between sections (duplicate ids, references), on the tree without the values
    found wrong (defaults stand in; a list item goes), except those about what was left out;
    ``None`` when no such tree validates."""
    pruned: dict[str, Any] = copy.deepcopy(data)
    where_was = _positions(pruned, ())
    gone: set[str] = set()
    for _round in range(PRUNE_ROUNDS):
        gone |= _remove(pruned, [loc for loc, _ in errors])
        try:
            settings = Settings.model_validate(pruned, context=context)
            break
        except ValidationError as again:
            errors = _errors(again)
    else:
        return None
    return [
        (_original(pruned, loc, where_was), msg)  # list items may have moved up
        for loc, msg in cross_check(settings)
        if not any(f"'{i}'" in msg for i in gone)
    ]


PRUNE_ROUNDS = 6
"""Attempts at a valid tree without the wrong values (each may uncover what they hid)."""
CROSS_CHECKS_LATER = (
    "duplicate ids and references between sections (grids, people, cameras) are checked once the "
    "problems above are fixed"
)


def _duplicate_keys(node: yaml.Node, loc: Loc) -> list[tuple[Loc, str]]:
    """Keys given twice in one mapping: YAML keeps the last silently, which hides a typo."""
    out: list[tuple[Loc, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.value in seen:
                out.append(((*loc, key.value), f"{key.value!r} is given twice (first on line {seen[key.value]})"))
            else:
                seen[key.value] = line
            out += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _duplicate_keys(item, (*loc, i))
    return out


def _remove(data: dict[str, Any], locs: list[Loc]) -> set[str]:
    """Take the values at ``locs`` out of ``data`` (in place); the ids of list items removed.

    A key that is missing (a required one) takes the item holding it along.
    """
    items: dict[int, tuple[list[Any], int]] = {}
    for loc in locs:
        while loc:
            parent: Any = data
            try:
                for part in loc[:-1]:
                    parent = parent[part]
            except (KeyError, IndexError, TypeError):
                break
            last = loc[-1]
            if isinstance(parent, dict) and last in parent:
                del parent[last]
                break
            if isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
                items[id(parent[last])] = (parent, last)
                break
            loc = loc[:-1]  # nothing there to remove: the item holding it goes
    gone: set[str] = set()
    for parent, index in sorted(items.values(), key=lambda pi: -pi[1]):
        item = parent.pop(index)
        if isinstance(item, dict):
            gone |= {str(item[k]) for k in ("id", "username") if k in item}
    return gone


def _positions(node: Any, loc: Loc) -> dict[int, Loc]:
    """Where each mapping and list of the tree is, by identity (before anything is removed)."""
    out: dict[int, Loc] = {}
    if isinstance(node, dict | list):
        out[id(node)] = loc
        for key, value in node.items() if isinstance(node, dict) else enumerate(node):
            out.update(_positions(value, (*loc, key)))
    return out


def _original(data: Any, loc: Loc, where_was: dict[int, Loc]) -> Loc:
    """``loc`` in the pruned tree, as it was in the file."""
    best: Loc = loc
    node = data
    for i, part in enumerate(loc):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if id(node) in where_was:
            best = (*where_was[id(node)], *loc[i + 1 :])
    return best


def tls_problems(settings: Settings) -> list[tuple[Loc, str]]:
    """A ``server.tls`` certificate that cannot be read or does not match its key."""
    if settings.server.tls is None:
        return []
    from hub.edge.tls import mismatch

    why = mismatch(settings.server.tls.cert, settings.server.tls.key)
    return [(("server", "tls", "cert"), why)] if why else []


def run_problems(settings: Settings, env: dict[str, str] | os._Environ[str]) -> list[tuple[Loc, str]]:
    """What keeps ``skyhub run`` from starting: the token secret, and camera URLs whose ``${NAME}``
    the environment does not set (found now, not at the camera's first connect). Names only, never values."""
    out: list[tuple[Loc, str]] = []
    secret = settings.secret_value()
    if not secret:
        out.append((("auth", "secret"), "SKYHUB_SECRET is not set; it signs login tokens and is required by `run`"))
    elif len(secret) < MIN_SECRET_CHARS:
        out.append((("auth", "secret"), f"SKYHUB_SECRET must be at least {MIN_SECRET_CHARS} characters"))
    for j, address in enumerate(settings.server.ice_addresses):
        why = unbindable(address)
        if why:
            out.append(
                (
                    ("server", "ice_addresses", j),
                    f"ICE address {address!r} cannot be used on this host ({why}): media is sent from the "
                    "addresses announced, so each must belong to one of its interfaces",
                )
            )
    for i, cam in enumerate(settings.cameras):
        if not cam.enabled:
            continue
        for field in ("url", "analysis_url"):
            url = getattr(cam, field)
            if not url:
                continue
            try:
                resolve(url, env)
            except ValueError as exc:
                out.append((("cameras", i, field), f"camera {cam.id!r}: {exc}"))
    gb = settings.gb28181
    if gb.enabled:
        names = {d.password[2:-1] for d in gb.devices if d.password}
        if gb.accept_any or any(d.password is None for d in gb.devices):
            names.add("SKYHUB_GB_PASSWORD")
        for name in sorted(n for n in names if not env.get(n)):
            out.append((("gb28181", "devices"), f"{name} is not set: the devices that use it cannot register"))
        why = unbindable(gb.host) if gb.host not in ("0.0.0.0", "::") else None
        if why:
            out.append((("gb28181", "host"), f"SIP address {gb.host!r} cannot be used on this host ({why})"))
    return out


def unbindable(address: str) -> str | None:
    """Why a UDP socket cannot be bound to ``address`` here (None when it can).

    aioice silently skips an address it cannot bind: every call would then fail with no candidate.
    """
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None
