"""A small thread pool with a bounded backlog, for one kind of blocking work.

The event loop's default executor is shared by everything that calls ``asyncio.to_thread``.
When one kind of work floods it (argon2 password checks are slow on purpose), every other kind
waits behind it: an alert's snapshot took 11 s during a login flood and its clip timed out. So
each kind that matters gets its own pool, and a pool that is already full refuses more work at
once (:class:`PoolBusy`, counted) instead of queueing it without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class PoolBusy(Exception):
    """The pool's backlog is full; the work was not started."""


class WorkPool:
    """``workers`` threads and at most ``max_pending`` jobs waiting or running.

    Threads start lazily on first use; :meth:`shutdown` is idempotent and waits for running jobs.
    ``nice`` above 0 runs the threads (and any threads they start) at a lower priority, so that
    work nobody waits on in real time yields the CPU to work that is (Linux: niceness is per thread).
    """

    def __init__(self, name: str, workers: int, max_pending: int, nice: int = 0) -> None:
        if workers < 1 or max_pending < workers:
            raise ValueError("a pool needs at least one worker and room for each")
        self.name = name
        self.workers = workers
        self.max_pending = max_pending
        self.pending = 0
        """Jobs submitted and not finished (waiting or running)."""
        self.done = 0
        """Jobs finished (whatever their result)."""
        self.refused = 0
        """Jobs refused because the backlog was full."""
        self.nice = nice
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        if self.nice <= 0:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        except OSError as exc:  # not Linux, or not allowed: the pool still works, at normal priority
            log.warning("%s: could not lower the priority of its threads (%s)", self.name, exc)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` in the pool; :class:`PoolBusy` at once when it is full."""
        if self.pending >= self.max_pending:
            self.refused += 1
            raise PoolBusy(f"{self.name}: {self.pending} jobs already waiting")
        self.pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        finally:
            # Counted when the job is given up on too (cancelled): the thread may still finish it,
            # but the backlog bound is about callers waiting, and a cancelled caller waits no more.
            self.pending -= 1
            self.done += 1

    def shutdown(self) -> None:
        """Stop taking work; jobs already queued still run (idempotent, does not block)."""
        self._executor.shutdown(wait=False, cancel_futures=False)


EVIDENCE_THREADS = 2
EVIDENCE_PENDING = 64
"""Alerts' snapshots and clips: a storm of alerts on many cameras at once fits; more is refused, counted."""
VIEW_THREADS = 2
VIEW_PENDING = 32
"""Snapshots asked for by viewers (wall tiles, API clients): they wait at most this many deep."""


class MediaPools:
    """The pools of a camera manager: one for alerts' evidence, one for what viewers ask for.

    Kept apart so that no number of viewers' snapshot requests can delay an alert's evidence.
    """

    def __init__(self) -> None:
        self.evidence = WorkPool("evidence", EVIDENCE_THREADS, EVIDENCE_PENDING)
        """JPEGs and clips of alerts, and writing them to disk."""
        self.views = WorkPool("snapshots", VIEW_THREADS, VIEW_PENDING)
        """Snapshots for viewers and API clients."""
        self.closed = False
        """Shut down: a manager started again makes new pools."""

    def shutdown(self) -> None:
        """Stop both pools (idempotent)."""
        self.closed = True
        self.evidence.shutdown()
        self.views.shutdown()
