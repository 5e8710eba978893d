"""``skyhub cluster``: several hub nodes on one machine, one ``skyhub run`` process each.

The nodes share the config's PostgreSQL store and Redis. Each gets its own port (``--base-port``,
then the next ones), its own public URL (``http(s)://host:port``, so that a node's 307 to a
camera's owner names that node and never loops back through a shared address) and its own data
directory (``DIR/node-1`` ...). This command supervises them and nothing more:

- SIGINT or SIGTERM is forwarded to every node (a second one kills them);
- a node that exits by itself is reported, the others are stopped, and the command exits non-zero:
  nothing is restarted behind the operator's back (a process manager above it decides that);
- each node's output is printed line by line behind its name, as honcho and foreman do.

The nodes run in their own process groups, so a Ctrl-C at the terminal reaches them once, through
this command, not twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.config import Settings
from hub.logsafe import mask

READY_WAIT_S = 120.0
"""How long a node has to answer ``/readyz`` with 200 before the command says it is not ready yet."""
KILL_AFTER_S = 10.0
"""After a node's own shutdown budget, how much longer it has before SIGKILL."""
MAX_NODES = 64


@dataclass(frozen=True)
class NodePlan:
    """One node of the cluster, as it will be started."""

    name: str
    """``node-1``, ``node-2``, ...: the prefix of its output lines."""
    port: int
    """The TCP port it listens on."""
    url: str
    """Its public URL (``server.public_url``), given to it as ``SKYHUB_PUBLIC_URL``."""
    data: Path
    """Its own data directory (caches, snapshots, clips)."""


def refusals(settings: Settings, nodes: int) -> list[str]:
    """Why this config cannot run as a cluster on one machine (empty: it can)."""
    problems: list[str] = []
    if not 1 <= nodes <= MAX_NODES:
        problems.append(f"--nodes must be between 1 and {MAX_NODES}")
    if not settings.storage_url().startswith("postgresql"):
        problems.append(
            "the nodes share one event log: set storage.url to a PostgreSQL URL (or SKYHUB_STORAGE_URL); "
            "the SQLite default serves a single node"
        )
    if not settings.storage.redis_url:
        problems.append(
            "the nodes share the cameras and tell each other of new events through Redis: set storage.redis_url "
            "(or SKYHUB_REDIS_URL)"
        )
    if settings.gb28181.enabled and settings.gb28181.port != 0:
        problems.append(
            f"gb28181 is enabled: every node would bind SIP port {settings.gb28181.port}; run the GB/T 28181 "
            "platform on one node with `skyhub run`, or set gb28181.port: 0"
        )
    return problems


def plan(settings: Settings, nodes: int, host: str, base_port: int, data: Path) -> list[NodePlan]:
    """Ports, public URLs and data directories of ``nodes`` nodes."""
    scheme = "https" if settings.server.tls is not None else "http"
    shown = host
    if host in ("", "0.0.0.0", "::"):  # bound to every interface: the machine's name reaches it
        shown = socket.getfqdn()
    if ":" in shown:
        shown = f"[{shown}]"
    return [
        NodePlan(f"node-{i + 1}", base_port + i, f"{scheme}://{shown}:{base_port + i}", data / f"node-{i + 1}")
        for i in range(nodes)
    ]


def busy_ports(host: str, ports: list[int]) -> list[int]:
    """Those of ``ports`` that something on this machine already listens on."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                busy.append(port)
    return busy


class Node:
    """One running ``skyhub run`` process."""

    def __init__(self, plan: NodePlan, proc: asyncio.subprocess.Process) -> None:
        self.plan = plan
        self.proc = proc
        self.ready = False


class Cluster:
    """Starts the planned nodes, relays their output, forwards signals and reports an exit."""

    def __init__(
        self, config: Path, plans: list[NodePlan], host: str, log_level: str, stop_budget_s: float, probe_host: str
    ) -> None:
        self.config = config
        self.plans = plans
        self.host = host
        self.log_level = log_level
        self.stop_budget_s = stop_budget_s
        self.probe_host = probe_host
        self.nodes: list[Node] = []
        self._signalled: asyncio.Queue[int] = asyncio.Queue(maxsize=8)  # a few presses at most matter

    def say(self, line: str) -> None:
        print(f"skyhub cluster: {line}", flush=True)

    async def run(self) -> int:
        """Run until a signal or a node's exit; the exit code (0 after a clean stop on a signal)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            for p in self.plans:
                await self._spawn(p)
            async with asyncio.TaskGroup() as tg:
                pumps = [tg.create_task(self._pump(n), name=f"pump-{n.plan.name}") for n in self.nodes]
                ready = tg.create_task(self._await_ready(), name="readiness")
                rc = await self._supervise()
                ready.cancel()
                await asyncio.wait(pumps, timeout=5)  # the nodes' last lines
                for t in pumps:
                    t.cancel()
            return rc
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            for n in self.nodes:  # never leave a node behind, whatever happened here
                if n.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        n.proc.kill()
                    await n.proc.wait()

    def _on_signal(self, sig: int) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._signalled.put_nowait(sig)

    async def _spawn(self, p: NodePlan) -> None:
        p.data.mkdir(parents=True, exist_ok=True)
        args = ["--config", str(self.config), "--host", self.host, "--port", str(p.port), "--data", str(p.data)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "run",
            *args,
            "--log-level",
            self.log_level,
            env={**os.environ, "SKYHUB_PUBLIC_URL": p.url},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the node once, through us
        )
        self.nodes.append(Node(p, proc))
        self.say(f"{p.name} {p.url} (pid {proc.pid}, data {p.data})")

    async def _pump(self, node: Node) -> None:
        """Copy a node's output, each line behind its name."""
        out = node.proc.stdout
        assert out is not None
        width = max(len(p.name) for p in self.plans)
        while True:
            try:
                line = await out.readline()
            except ValueError:  # a line longer than the stream's limit: pass it on in pieces
                line = await out.read(65536)
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\n")
            print(f"{node.plan.name:<{width}} | {text}", flush=True)

    async def _await_ready(self) -> None:
        """Say when each node answers ``/readyz`` with 200, and when all do."""
        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WAIT_S
        # A node's own CA is not ours to trust: this probe only asks our child on this machine.
        async with httpx.AsyncClient(timeout=3, verify=False) as client:
            waiting = list(self.nodes)
            while waiting:
                for node in list(waiting):
                    scheme = node.plan.url.split(":", 1)[0]
                    try:
                        r = await client.get(f"{scheme}://{self.probe_host}:{node.plan.port}/readyz")
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 200:
                        node.ready = True
                        waiting.remove(node)
                        self.say(f"{node.plan.name} ready at {node.plan.url}")
                if waiting and loop.time() > deadline:
                    names = ", ".join(n.plan.name for n in waiting)
                    self.say(f"not ready after {READY_WAIT_S:.0f} s: {names} (still waiting)")
                    deadline = loop.time() + READY_WAIT_S
                await asyncio.sleep(0.25)
        self.say(f"all {len(self.nodes)} nodes ready; stop them with Ctrl-C or SIGTERM")

    async def _supervise(self) -> int:
        exits = {asyncio.ensure_future(n.proc.wait()): n for n in self.nodes}
        signalled = asyncio.ensure_future(self._signalled.get())
        try:
            done, _ = await asyncio.wait([*exits, signalled], return_when=asyncio.FIRST_COMPLETED)
            if signalled in done:
                sig = signalled.result()
                self.say(f"{signal.Signals(sig).name}: stopping {len(self.nodes)} nodes")
                await self._stop_all(sig)
                # A node ends with 0, or by the signal uvicorn re-raises once it has shut down.
                failed = [n for n in self.nodes if n.proc.returncode not in (0, -sig, 128 + sig)]
                for n in failed:
                    self.say(f"{n.plan.name} ended with code {n.proc.returncode}")
                self.say("every node stopped" if not failed else f"{len(failed)} node(s) did not stop cleanly")
                return 1 if failed else 0
            gone = next(exits[f] for f in done)
            self.say(
                f"{gone.plan.name} ({gone.plan.url}, pid {gone.proc.pid}) exited by itself with code "
                f"{gone.proc.returncode}; stopping the others (nothing is restarted)"
            )
            await self._stop_all(signal.SIGTERM)
            return 1
        finally:
            signalled.cancel()
            for f in exits:
                f.cancel()

    async def _stop_all(self, sig: int) -> None:
        """Forward ``sig`` to every live node; SIGKILL those still there after their budget (or at a
        second signal)."""
        live = [n for n in self.nodes if n.proc.returncode is None]
        for n in live:
            with contextlib.suppress(ProcessLookupError):
                n.proc.send_signal(sig)
        waits: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*(n.proc.wait() for n in live)))
        again: asyncio.Future[Any] = asyncio.ensure_future(self._signalled.get())
        try:
            done, _ = await asyncio.wait(
                [waits, again], timeout=self.stop_budget_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            again.cancel()
        if waits in done:
            return
        left = [n for n in live if n.proc.returncode is None]
        why = "a second signal" if again in done else f"{self.stop_budget_s:.0f} s"
        self.say(f"killing {', '.join(n.plan.name for n in left)} after {why}")
        for n in left:
            with contextlib.suppress(ProcessLookupError):
                n.proc.kill()
        await waits


def run_cluster(
    config: Path,
    settings: Settings,
    nodes: int,
    host: str | None,
    base_port: int | None,
    data: Path | None,
    log_level: str,
) -> int:
    """``skyhub cluster``: check, plan, run; the exit code."""
    problems = refusals(settings, nodes)
    if problems:
        for p in problems:
            print(f"skyhub cluster: {config}: {p}", file=sys.stderr)
        return 1
    host = host or settings.server.host
    base_port = base_port if base_port is not None else settings.server.port
    plans = plan(settings, nodes, host, base_port, data or settings.data_dir)
    if base_port == 0 or plans[-1].port > 65535:
        print(f"skyhub cluster: ports {base_port}..{plans[-1].port} are not all valid ports", file=sys.stderr)
        return 1
    busy = busy_ports(host, [p.port for p in plans])
    if busy:
        print(f"skyhub cluster: port(s) {', '.join(map(str, busy))} already in use on {host}", file=sys.stderr)
        return 1
    redis_url = settings.storage.redis_url or ""
    print(
        f"skyhub cluster: {nodes} nodes on {mask(settings.storage_url())} and {mask(redis_url)} "
        f"(Redis prefix {settings.storage.redis_prefix})",
        flush=True,
    )
    # Each node bounds its own shutdown by about ten stages of shutdown_timeout_s.
    budget = 12 * settings.server.shutdown_timeout_s + KILL_AFTER_S
    probe = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in probe:
        probe = f"[{probe}]"
    cluster = Cluster(config.resolve(), plans, host, log_level, budget, probe)
    return asyncio.run(cluster.run())
