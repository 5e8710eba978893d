"""Every HTTP route of the hub's own OpenAPI, fuzzed by Schemathesis as each role and as no one,
against a real hub process: no 5xx, no answer outside its declared schema, none slower than 5 s,
and afterwards a healthy hub whose event log lost nothing. ``scripts/fuzz.py`` runs a longer one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fuzz.http_fuzz import fuzz_all, load_schema, operations
from tests.fuzz.hubproc import ROLES, FuzzHub, event_log_gaps, log_problems

EXAMPLES = 6
"""Cases per route and role (half of them invalid where the route takes a query or a body)."""


@pytest.fixture
def fuzz_hub(tmp_path: Path) -> Iterator[FuzzHub]:
    with FuzzHub(tmp_path / "hub") as hub:
        yield hub


@pytest.mark.timeout(600)
def test_every_route_as_every_role_answers_within_its_schema(fuzz_hub: FuzzHub) -> None:
    ops = operations(load_schema(fuzz_hub))
    assert len(ops) >= 60, "the schema lost its routes"
    run = fuzz_all(fuzz_hub, EXAMPLES)
    assert len(run.results) == len(ops) * len(ROLES)
    assert run.examples >= len(ops) * len(ROLES)
    assert not run.failures(), "\n".join(run.failures())
    # Still healthy, nothing lost: every id from 1 to the head, each answered journal entry among them.
    assert fuzz_hub.alive(), fuzz_hub.log()[-3000:]
    assert httpx.get(f"{fuzz_hub.url}/healthz", timeout=5).status_code == 200
    head, missing = event_log_gaps(fuzz_hub)
    assert not missing, f"event ids missing from the log: {missing[:20]}"
    assert all(i <= head for i in run.journal_ids)
    assert run.journal_ids, "no journal entry was accepted: the fuzzer never reached the log"
    assert not log_problems(fuzz_hub), "\n".join(log_problems(fuzz_hub))
