"""Schemathesis against a running hub: every operation of its own OpenAPI, as each role and as no one.

A case fails when the hub answers 5xx, when its answer breaks the schema the operation declares
(status code, content type, body), or when no answer comes within :data:`ANSWER_S`. Failures are
collected (not raised), so one run reports every route's, with a curl line to repeat each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from tests.fuzz.hubproc import ROLES, FuzzHub

ANSWER_S = 5.0
"""Longest an answer may take: past it, the case is a failure ("hangs")."""

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

LAST = ("/api/auth/logout", "/api/auth/users/{username}/revoke")
"""Operations that end sessions: fuzzed after every other, so the roles' logins stay valid meanwhile."""


@dataclass
class RouteResult:
    examples: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """First line of each distinct failure → a curl command that repeats it."""


@dataclass
class Run:
    results: dict[tuple[str, str], RouteResult] = field(default_factory=dict)
    """(``METHOD path``, role) → what was tried and found."""
    journal_ids: list[int] = field(default_factory=list)
    """Ids of the journal entries the hub answered 201 for: each must be in the log afterwards."""

    @property
    def examples(self) -> int:
        return sum(r.examples for r in self.results.values())

    def failures(self) -> list[str]:
        return [
            f"{route} as {role}: {what}\n    {curl}"
            for (route, role), r in self.results.items()
            for what, curl in r.failures.items()
        ]


def load_schema(hub: FuzzHub) -> Any:
    raw = httpx.get(f"{hub.url}/openapi.json", timeout=10).raise_for_status().json()
    return schemathesis.openapi.from_dict(raw)


def operations(schema: Any) -> list[Any]:
    ops = [result.ok() for result in schema.get_all_operations()]
    return sorted(ops, key=lambda op: (op.path in LAST, op.path, op.method))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Reproduce")]
    return " | ".join(lines[:3])[:300]


def fuzz_operation(
    hub: FuzzHub, op: Any, roles: list[str], examples: int, run: Run, session: requests.Session
) -> list[RouteResult]:
    """``examples`` generated cases of ``op`` (half valid, half not), each sent as every one of ``roles``.

    Each case is drawn once and sent as each role in turn: the same requests as a run per role
    (which, derandomized, would draw the very same cases), for a sixth of Hypothesis's work.
    """
    route = f"{op.method.upper()} {op.path}"
    results = {role: run.results.setdefault((route, role), RouteResult()) for role in roles}

    def send(case: Any, role: str) -> None:
        result = results[role]
        headers = hub.headers(role)
        result.examples += 1
        t0 = time.monotonic()
        try:
            response = case.call(base_url=hub.url, headers=headers, session=session, timeout=ANSWER_S)
        except requests.Timeout:
            result.failures.setdefault(f"no answer in {ANSWER_S:.0f} s", case.as_curl_command(headers))
            return
        except requests.ConnectionError as exc:
            result.failures.setdefault(f"connection failed: {_first_line(exc)}", case.as_curl_command(headers))
            return
        if time.monotonic() - t0 > ANSWER_S:
            result.failures.setdefault(f"answered after {ANSWER_S:.0f} s", case.as_curl_command(headers))
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, FailureGroup) as exc:  # a check's failure, or a group of them
            result.failures.setdefault(_first_line(exc), case.as_curl_command(headers))
        if route == "POST /api/journal" and response.status_code == 201:
            run.journal_ids.append(response.json()["id"])

    def one(case: Any) -> None:
        for role in roles:
            send(case, role)

    # Invalid input needs something to break: a query parameter or a body (any text is a valid path segment).
    breakable = bool(len(op.query)) or bool(len(op.body))
    modes = [(GenerationMode.POSITIVE, (examples + 1) // 2 if breakable else examples)]
    if breakable:
        modes.append((GenerationMode.NEGATIVE, examples // 2))
    for mode, share in modes:
        try:
            strategy = op.as_strategy(generation_mode=mode)
        except Exception:  # nothing of this operation can be made invalid (no parameters, no body)
            continue
        test: Callable[[], None] = settings(
            max_examples=share,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(case=strategy)(one))
        try:
            test()
        except Unsatisfiable:  # every distinct case was tried already (an operation without parameters)
            pass
    return [results[role] for role in roles]


def fuzz_all(
    hub: FuzzHub, examples: int, roles: list[str] | None = None, progress: Callable[[str], None] | None = None
) -> Run:
    schema = load_schema(hub)
    run = Run()
    roles = roles or list(ROLES)
    with requests.Session() as session:
        for op in operations(schema):
            for role, r in zip(roles, fuzz_operation(hub, op, roles, examples, run, session), strict=True):
                if progress:
                    progress(f"{op.method.upper():7} {op.path:55} {role:11} {r.examples:5} {len(r.failures):3}")
    return run
