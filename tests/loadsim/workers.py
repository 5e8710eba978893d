"""Simulated grid workers: many WebSocket clients in one process, as a phone app behaves.

Each keeps its cursor, reconnects with ``since=cursor`` after any disconnect (to the next of its
hub's ports when it was given several, as a load balancer sends a phone to a live node when its
node dies), drops duplicate
instructions by id, answers every new instruction with ``delivered`` and ``ack``, and keeps
those receipts in an outbox until the hub confirms them (re-sent after a reconnect).
Used by the crash test and by ``scripts/bench_instructions.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import websockets

RANK = {"queued": 0, "delivered": 1, "read": 2, "acknowledged": 3, "replied": 3}


@dataclass
class SimWorker:
    """One simulated phone."""

    username: str
    token: str
    cursor: int = 0
    seen: dict[int, float] = field(default_factory=dict)
    """Instruction id -> when it first arrived (time.time())."""
    deliveries: dict[int, int] = field(default_factory=dict)
    """Instruction id -> how many times the hub sent it (duplicates too: the client drops them)."""
    raw_messages: int = 0
    outbox: dict[tuple[int, str], str] = field(default_factory=dict)
    confirmed: dict[int, str] = field(default_factory=dict)
    connects: int = 0


async def run_worker(
    w: SimWorker, port: int | list[int], stop: asyncio.Event, live: asyncio.Event | None, received: Any = None
) -> None:
    """Stay connected (reconnecting as needed) until ``stop`` is set. With several ports, the first
    is the worker's node; a connection that fails or breaks moves it on to the next."""
    ports = [port] if isinstance(port, int) else port
    turn = 0
    while not stop.is_set():
        try:
            url = f"ws://127.0.0.1:{ports[turn % len(ports)]}/ws/worker?since={w.cursor}&token={w.token}"
            async with websockets.connect(url, open_timeout=10, max_queue=None) as ws:
                w.connects += 1
                for text in list(w.outbox.values()):
                    await ws.send(text)
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    msg = json.loads(raw)
                    w.raw_messages += 1
                    kind = msg.get("type")
                    if kind == "live":
                        w.cursor = max(w.cursor, msg["cursor"])
                        if live is not None:
                            live.set()
                    elif kind == "instruction":
                        iid = msg["id"]
                        w.deliveries[iid] = w.deliveries.get(iid, 0) + 1
                        # Kept before anything else can fail (a send to a hub that just died):
                        # the phone has it, so a resume must not be sent it again.
                        w.cursor = max(w.cursor, msg["cursor"])
                        if iid not in w.seen:
                            w.seen[iid] = time.time()
                            if received is not None:
                                with received.get_lock():
                                    received.value += 1
                            # Both receipts go into the outbox before either is sent, so a
                            # connection lost in between still re-sends the acknowledgement.
                            texts = [json.dumps({"type": step, "id": iid}) for step in ("delivered", "ack")]
                            w.outbox[(iid, "delivered")], w.outbox[(iid, "ack")] = texts
                            for text in texts:
                                await ws.send(text)
                    elif kind == "receipt":
                        iid, state = msg["id"], msg["state"]
                        # Receipts only move forward: a late answer to an earlier step must not
                        # make the phone forget a confirmation it already heard.
                        if RANK.get(state, 0) >= RANK.get(w.confirmed.get(iid, ""), -1):
                            w.confirmed[iid] = state
                        w.outbox.pop((iid, "delivered"), None)
                        if state in ("acknowledged", "replied"):
                            w.outbox.pop((iid, "ack"), None)
                    elif "cursor" in msg:
                        w.cursor = max(w.cursor, msg["cursor"])
        except (OSError, websockets.WebSocketException, TimeoutError):
            turn += 1
            await asyncio.sleep(0.2)


def run_process(
    port: int | list[int],
    workers: list[tuple[str, str]],
    ready: Any,
    status: Any,
    stop_after_s: float,
    done_when: int | None = None,
    received: Any = None,
) -> None:
    """Child process: run ``workers`` until each has ``done_when`` confirmed acks (or time runs out).

    Puts ``len(workers)`` on ``ready`` once every client is live, then a summary dict on ``status``.
    """

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        sims = [SimWorker(u, t) for u, t in workers]
        lives = [asyncio.Event() for _ in sims]
        tasks = [
            asyncio.create_task(run_worker(s, port, stop, ev, received)) for s, ev in zip(sims, lives, strict=True)
        ]
        await asyncio.gather(*(ev.wait() for ev in lives))
        ready.put(len(sims))
        deadline = time.monotonic() + stop_after_s
        while time.monotonic() < deadline:
            if done_when is not None and all(
                sum(1 for st in s.confirmed.values() if st in ("acknowledged", "replied")) >= done_when and not s.outbox
                for s in sims
            ):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks)
        return {
            s.username: {
                "seen": s.seen,
                "deliveries": s.deliveries,
                "raw": s.raw_messages,
                "confirmed": s.confirmed,
                "outbox": len(s.outbox),
                "connects": s.connects,
            }
            for s in sims
        }

    status.put(asyncio.run(main()))
