"""A long fuzzing run against a real hub process (the suite's tests/fuzz runs a bounded one).

Every operation of the hub's own OpenAPI, as each role and with no token, through Schemathesis:
``--examples`` cases per route and role (half invalid where the route takes a query or a body).
Prints, per route, the examples tried and the failures found (5xx, an answer outside the declared
schema, no answer within 5 s), each failure with a curl line to repeat it; then whether the hub is
still healthy, whether its event log is still whole (every id from 1 to the head), and what the hub
logged. ``--sockets N`` also runs the WebSocket and SDP fuzz tests with N times their examples.

    .venv/bin/python scripts/fuzz.py [--examples 100] [--roles admin,worker,none] [--sockets 10]

Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fuzz.http_fuzz import fuzz_all  # noqa: E402
from tests.fuzz.hubproc import ROLES, FuzzHub, event_log_gaps, log_problems  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=100, help="cases per route and role (default 100)")
    ap.add_argument("--roles", default=",".join(ROLES), help=f"comma-separated, of {', '.join(ROLES)}")
    ap.add_argument("--sockets", type=float, default=0, help="also run the WebSocket and SDP fuzz, scaled by this")
    args = ap.parse_args()
    roles = [r for r in args.roles.split(",") if r]
    unknown = set(roles) - set(ROLES)
    if unknown:
        ap.error(f"unknown roles: {', '.join(sorted(unknown))}")

    failed = False
    with tempfile.TemporaryDirectory(prefix="skyhub-fuzz-") as tmp, FuzzHub(Path(tmp) / "hub") as hub:
        t0 = time.monotonic()
        run = fuzz_all(hub, args.examples, roles)
        took = time.monotonic() - t0
        per_route: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (route, _role), r in run.results.items():
            per_route[route][0] += r.examples
            per_route[route][1] += len(r.failures)
        width = max(len(route) for route in per_route)
        print(f"{'route':{width}}  examples  failures")
        for route, (examples, failures) in sorted(per_route.items(), key=lambda kv: kv[0].split(" ", 1)[::-1]):
            print(f"{route:{width}}  {examples:8}  {failures:8}")
        print(
            f"\n{len(per_route)} routes x {len(roles)} roles, {run.examples} examples in {took:.0f} s, "
            f"{len(run.failures())} failures"
        )
        for line in run.failures():
            print("FAIL", line)
        failed |= bool(run.failures())

        healthy = hub.alive()
        head, missing = event_log_gaps(hub) if healthy else (0, [])
        lost = [i for i in run.journal_ids if i > head]
        print(
            f"hub alive: {healthy}; event log head {head}, ids missing: {missing[:20] or 'none'}; "
            f"{len(run.journal_ids)} journal entries answered, lost: {lost or 'none'}"
        )
        problems = log_problems(hub)
        print(f"hub log: {len(problems)} tracebacks or errors")
        for line in problems[:20]:
            print("  ", line)
        failed |= not healthy or bool(missing) or bool(lost) or bool(problems)

    if args.sockets:
        env = {**os.environ, "SKYHUB_FUZZ_SCALE": str(args.sockets)}
        tests = ["tests/fuzz/test_ws_fuzz.py", "tests/fuzz/test_sdp_fuzz.py"]
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "3600", *tests]
        print(f"\nWebSocket and SDP fuzz at {args.sockets}x: {' '.join(cmd[2:])}", flush=True)
        failed |= subprocess.call(cmd, cwd=REPO, env=env) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
