"""``python -m hub`` under tracemalloc, for ``scripts/soak.py --trace-memory``.

    SKYHUB_TRACE_DIR=DIR python -X tracemalloc=8 scripts/traced_hub.py run ...

Each SIGUSR2 writes a snapshot of Python's allocations to ``DIR/snapshot-N.pickle`` (N from 1).
The hub's own code knows nothing of it; tracing slows the hub down, so figures of a traced soak are
not its speed.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

OUT = Path(os.environ["SKYHUB_TRACE_DIR"])
taken = 0


def snapshot(signum: int, frame: FrameType | None) -> None:
    global taken
    taken += 1
    path = OUT / f"snapshot-{taken}.pickle"
    tracemalloc.take_snapshot().dump(str(path.with_suffix(".part")))
    path.with_suffix(".part").rename(path)  # whole, or not there: scripts/soak.py waits for the name


if not tracemalloc.is_tracing():
    tracemalloc.start(8)
signal.signal(signal.SIGUSR2, snapshot)
sys.argv = ["skyhub", *sys.argv[1:]]
runpy.run_module("hub", run_name="__main__", alter_sys=True)
