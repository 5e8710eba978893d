"""Prometheus figures, read from the live objects at scrape time (no global registry)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from hub.services import Hub
    from streams.workpool import WorkPool

CAMERA_GAUGES = {
    "input_fps": "Frames per second arriving from the camera.",
    "analysed_fps": "Frames per second decoded for analysis.",
    "bitrate_bps": "Bitrate of the camera stream.",
    "keyframe_interval_s": "Seconds between keyframes.",
    "last_frame_age_s": "Seconds since the last packet.",
    "viewers": "Subscribers to the camera's packets.",
}
CAMERA_COUNTERS = {
    "reconnects": "Reconnections of the camera.",
    "viewer_drops": "Packets dropped for slow viewers.",
    "analysis_skipped": "Decoded frames analysis skipped because it fell behind.",
    "corrupt_packets": "Packets (or JPEG parts) that could not be decoded and were skipped.",
}
CAMERA_STATES = ("starting", "online", "stalled", "offline", "disabled", "remote", "unassigned", "standby")
"""``remote``: another hub node ingests the camera; ``unassigned``: no node has taken it yet;
``standby``: read only while watched, and nobody watches it."""


def _pools(hub: Hub) -> list[WorkPool]:
    pools = [hub.auth.password_pool]
    if hub.cameras is not None:
        pools += [hub.cameras.pools.evidence, hub.cameras.pools.views]
    return pools


class HubCollector(Collector):
    """Yields the hub's figures on each scrape."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        yield CounterMetricFamily("skyhub_events_appended", "Events appended to the log.", value=hub.log.stats.appended)
        yield CounterMetricFamily(
            "skyhub_eventlog_batches", "Transactions committed by the log.", value=hub.log.stats.batches
        )
        yield GaugeMetricFamily(
            "skyhub_eventlog_last_id", "Newest event id delivered on this node.", value=hub.log.last_id
        )
        yield CounterMetricFamily(
            "skyhub_eventlog_followed", "Events other nodes appended, delivered here.", value=hub.log.stats.followed
        )
        yield CounterMetricFamily(
            "skyhub_keyed_replays",
            "Requests with an Idempotency-Key answered again from the first one (a phone's outbox resending).",
            value=hub.idempotency.replays,
        )
        yield CounterMetricFamily(
            "skyhub_keyed_reused",
            "Idempotency-Keys sent again with another request (refused, 422).",
            value=hub.idempotency.reused,
        )
        if hub.redis is not None:
            r = hub.redis.stats
            yield GaugeMetricFamily("skyhub_redis_connected", "Whether the Redis link listens now.", value=r.connected)
            yield CounterMetricFamily("skyhub_redis_announced", "Log heads told to other nodes.", value=r.announced)
            yield CounterMetricFamily("skyhub_redis_heard", "Other nodes' heads that woke this node.", value=r.heard)
            yield CounterMetricFamily("skyhub_redis_errors", "Redis failures (each retried).", value=r.errors)
            yield CounterMetricFamily("skyhub_nodes_gone", "Other hub nodes noticed to have stopped.", value=r.gone)
        cluster = hub.calls.cluster
        if cluster is not None:
            cs = cluster.stats
            yield CounterMetricFamily(
                "skyhub_call_states_relayed_out", "Call states sent to members on other nodes.", value=cs.relayed_out
            )
            yield CounterMetricFamily(
                "skyhub_call_states_relayed_in", "Call states received for members on this node.", value=cs.relayed_in
            )
            yield CounterMetricFamily(
                "skyhub_call_states_dropped",
                "Call states for other nodes dropped (outbox full or Redis failing).",
                value=cs.dropped,
            )
            yield CounterMetricFamily(
                "skyhub_calls_of_stopped_nodes_ended",
                "Calls of stopped nodes this node logged as ended.",
                value=cs.orphans_ended,
            )
        if hub.leases is not None:
            leases = hub.leases
            yield GaugeMetricFamily(
                "skyhub_camera_leases_held", "Cameras this node ingests by lease.", value=len(leases.held)
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_acquired", "Camera leases taken.", value=leases.stats.acquired
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_released",
                "Cameras handed back to even out the load.",
                value=leases.stats.released,
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_lost", "Cameras stopped because another node took them.", value=leases.stats.lost
            )
            yield CounterMetricFamily(
                "skyhub_camera_events_fenced",
                "Camera events the store refused: this node's lease on the camera had passed to another.",
                value=leases.stats.fenced,
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_expired",
                "Cameras stopped because their lease could not be renewed before its deadline.",
                value=leases.stats.expired,
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_held_off",
                "Times the node registry shrank suddenly and this node waited before taking cameras.",
                value=leases.stats.held_off,
            )
            yield CounterMetricFamily(
                "skyhub_camera_leases_errors",
                "Lease rounds and renewals Redis could not answer.",
                value=leases.stats.errors,
            )
        auth = hub.auth
        yield CounterMetricFamily(
            "skyhub_login_failures", "Logins refused for a wrong name or password.", value=auth.throttle.failures
        )
        yield CounterMetricFamily(
            "skyhub_logins_throttled",
            "Logins refused with 429 after too many failures, their password not checked.",
            value=auth.throttle.refused,
        )
        pools = CounterMetricFamily(
            "skyhub_work_refused", "Jobs a full thread pool refused at once (never queued).", labels=["pool"]
        )
        pending = GaugeMetricFamily("skyhub_work_pending", "Jobs waiting or running in a pool.", labels=["pool"])
        for pool in _pools(hub):
            pools.add_metric([pool.name], pool.refused)
            pending.add_metric([pool.name], pool.pending)
        yield pools
        yield pending
        yield GaugeMetricFamily("skyhub_ws_clients", "WebSocket feed clients connected.", value=hub.feeds.clients)
        yield GaugeMetricFamily(
            "skyhub_asyncio_tasks", "Tasks alive in the hub's event loop (a leak shows here).", value=_tasks()
        )
        yield CounterMetricFamily(
            "skyhub_ws_resyncs", "Feed clients that fell behind and were told to resync.", value=hub.feeds.resyncs
        )
        yield CounterMetricFamily("skyhub_bus_queue_drops", "Live bus queues that overflowed.", value=hub.bus.drops)
        calls = hub.calls.stats()
        sessions = GaugeMetricFamily("skyhub_rtc_sessions", "WebRTC peer connections by kind.", labels=["kind"])
        for kind, n in sorted(calls["by_kind"].items()):
            sessions.add_metric([kind], n)
        yield sessions
        yield GaugeMetricFamily("skyhub_calls", "Calls and briefings in progress.", value=calls["calls"])
        yield CounterMetricFamily(
            "skyhub_rtc_vanished", "Peers released because they disappeared.", value=calls["vanished"]
        )
        yield CounterMetricFamily(
            "skyhub_rtc_collections",
            "Full garbage collections run after peer connections closed (aiortc's objects form cycles).",
            value=hub.calls.sessions.collections,
        )
        yield CounterMetricFamily(
            "skyhub_rtc_collection_seconds",
            "Time those collections took, in all (the event loop waits for each).",
            value=hub.calls.sessions.collect_s,
        )
        dropped = CounterMetricFamily(
            "skyhub_rtc_dropped",
            "Lost by calls' bounded queues: video packets a slow member missed, voice frames pushed out, "
            "video frames the encoder skipped to keep up.",
            labels=["what"],
        )
        for what, n in sorted(calls["dropped"].items()):
            dropped.add_metric([what], n)
        yield dropped
        if hub.gb is not None:
            yield from hub.gb.metrics()
        whip = hub.whip.stats()
        yield GaugeMetricFamily(
            "skyhub_whip_publishers", "Field video publishers (WHIP) now.", value=whip["publishers"]
        )
        refused = CounterMetricFamily(
            "skyhub_whip_refused", "WHIP publish tokens refused (missing, wrong, expired, revoked).", labels=["reason"]
        )
        for reason, n in sorted(whip["refused"].items()):
            refused.add_metric([reason], n)
        yield refused
        if hub.analysis is not None:
            yield from analysis_metrics(hub.analysis)
        if hub.cameras is None:
            return
        health = hub.cameras.health_all()
        state = GaugeMetricFamily(
            "skyhub_camera_state", "1 for the camera's current state.", labels=["camera", "state"]
        )
        for h in health:
            for s in CAMERA_STATES:
                state.add_metric([h["id"], s], 1.0 if h.get("state") == s else 0.0)
        yield state
        for key, doc in CAMERA_GAUGES.items():
            g = GaugeMetricFamily(f"skyhub_camera_{key}", doc, labels=["camera"])
            for h in health:
                if isinstance(h.get(key), int | float):
                    g.add_metric([h["id"]], float(h[key]))
            yield g
        for key, doc in CAMERA_COUNTERS.items():
            c = CounterMetricFamily(f"skyhub_camera_{key}", doc, labels=["camera"])
            for h in health:
                value = h.get(key)
                if isinstance(value, dict):
                    value = value.get("total")
                if isinstance(value, int | float):
                    c.add_metric([h["id"]], float(value))
            yield c


ANALYSIS_COUNTERS = {
    "frames": "Frames analysed.",
    "restarts": "Times the camera's analysis crashed and was restarted.",
    "alerts": "Alerts the analysis raised.",
    "suppressed": "Alert starts a cool-down held back (since the analysis last started).",
    "busy_s": "Seconds spent analysing.",
}


def analysis_metrics(runner: Any) -> Iterator[Metric]:
    """Frame analysis, per camera and for the whole runner."""
    per_camera = runner.stats()
    for key, doc in ANALYSIS_COUNTERS.items():
        c = CounterMetricFamily(f"skyhub_analysis_{key}", doc, labels=["camera"])
        for cam_id, figures in sorted(per_camera.items()):
            c.add_metric([cam_id], float(figures[key]))
        yield c
    yield CounterMetricFamily(
        "skyhub_analysis_clips_dropped", "Alerts that got no clip (too many being written).", value=runner.clips_dropped
    )
    yield CounterMetricFamily(
        "skyhub_analysis_emit_failures", "Alert events the log could not take.", value=runner.emit_failures
    )


def _tasks() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # rendered outside the loop (a test)
        return 0


def build_registry(hub: Hub) -> CollectorRegistry:
    """A registry of this hub alone, so several hubs in one process do not mix."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format."""
    return generate_latest(registry)
