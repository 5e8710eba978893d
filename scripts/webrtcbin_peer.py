#!/usr/bin/python3
"""A WHEP viewer (or WHIP publisher) built on GStreamer's ``webrtcbin``, at its default settings, for interop tests.

Run with Debian's own interpreter, not the virtualenv (it needs python3-gi, gir1.2-gst-plugins-bad-1.0,
gir1.2-nice-0.1, gstreamer1.0-nice and the good/bad/ugly plugins)::

    /usr/bin/python3 scripts/webrtcbin_peer.py --url http://127.0.0.1:8080/whep/cam-street \\
        --token TOKEN --seconds 15

It offers one receive-only H.264 video transceiver, as GStreamer's own WHEP elements do, POSTs the
offer with every candidate in it, applies the answer, decodes what arrives and counts the decoded
frames for ``--seconds`` after the first one; then it DELETEs its session and prints one line,
``RESULT {json}``: the HTTP statuses, the frames, the longest gap between two frames, the DTLS roles
and the connection states seen. Nothing of webrtcbin is tuned: its own certificate (RSA), its own
DTLS role choice (``actpass`` in the offer), its own RTCP timing, no STUN server (the default).

With ``--publish`` it is a WHIP publisher instead (``--url http://…/whip/field-worker1``): a live
``videotestsrc`` encoded by ``x264enc`` at its default settings (only its output held to constrained
baseline, which every browser plays), packetised by ``rtph264pay`` into a send-only transceiver. It
publishes for ``--seconds`` once connected, then DELETEs its session; the RESULT line has the
statuses, the DTLS roles, the states and ``sent_s`` (how long it was connected and sending).

Only for loopback tests: ``--address`` limits the ICE agent to one local address (127.0.0.1), and
``--offer-setup passive`` rewrites the offer's ``a=setup`` so that the hub must be the DTLS client
(webrtcbin follows the answer and becomes the DTLS server with its RSA certificate).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

VIDEO_CAPS = (
    "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,"
    "packetization-mode=(string)1,profile-level-id=(string)42e01f"
)
PUBLISH_ELEMENTS = ("webrtcbin", "nicesrc", "nicesink", "videotestsrc", "x264enc", "rtph264pay")
"""What the publisher's pipeline is made of (x264enc: gstreamer1.0-plugins-ugly)."""
PUBLISH_CHAIN = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! "
    "x264enc ! video/x-h264,profile=constrained-baseline ! rtph264pay ! "
    'capsfilter caps="application/x-rtp,media=video,encoding-name=H264,payload=96"'
)
"""The publisher's camera: a live test picture, x264enc at its defaults, RTP for webrtcbin."""
ELEMENTS = ("webrtcbin", "nicesrc", "nicesink", "dtlssrtpdec", "srtpdec", "rtph264depay", "h264parse", "fakesink")
"""What the viewer's pipeline is made of (webrtcbin, gstreamer1.0-nice, the good and bad plugins)."""
DECODERS = ("openh264dec", "avdec_h264")
"""H.264 decoders tried in order: gstreamer1.0-plugins-bad's OpenH264, then gstreamer1.0-libav's."""
HTTP_TIMEOUT_S = 10.0
GATHER_TIMEOUT_S = 10.0
FIRST_FRAME_TIMEOUT_S = 20.0


def http(method: str, url: str, token: str, body: str | None = None, ctype: str | None = None) -> tuple[int, Any, str]:
    """One HTTP request; returns (status, headers, body text) also for error statuses."""
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if ctype:
        request.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode(errors="replace")


class Viewer:
    """webrtcbin as a receive-only WHEP client, counting decoded frames."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = GLib.MainLoop()
        self.result: dict[str, Any] = {"frames": 0, "states": [], "error": None}
        self.frame_times: list[float] = []
        self.started = time.monotonic()
        self.location: str | None = None
        self.pipeline = Gst.Pipeline.new("whep-viewer")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.pipeline.add(self.webrtc)
        if args.address:
            # Both wrappers are kept as long as the viewer: with the ICE object's wrapper dropped at
            # once, webrtcbin was seen to lose the object (GStreamer-WebRTC-CRITICAL, no offer).
            self.ice = self.webrtc.get_property("ice-agent")
            self.agent = self.ice.get_property("agent")
            address = Nice.Address()
            address.set_from_string(args.address)
            self.agent.add_local_address(address)
        if args.publish:
            source = Gst.parse_bin_from_description(PUBLISH_CHAIN, True)
            self.pipeline.add(source)
            sink = self.webrtc.request_pad_simple("sink_%u")
            source.get_static_pad("src").link(sink)
        else:
            direction = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
            self.webrtc.emit("add-transceiver", direction, Gst.Caps.from_string(VIDEO_CAPS))
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("pad-added", self.on_pad_added)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::connection-state", self.on_state)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)
        self.gathered = False
        self.connected_m: float | None = None
        if not args.publish:
            self.decoder = next(d for d in DECODERS if Gst.ElementFactory.find(d) is not None)
            self.result["decoder"] = self.decoder

    # -- signalling ------------------------------------------------------------------------------

    def on_negotiation_needed(self, _element: Gst.Element) -> None:
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer_created(self, promise: Gst.Promise, _data: Any) -> None:
        reply = promise.get_reply()  # kept in a name: the offer is read from it, not from a temporary
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        GLib.timeout_add(int(GATHER_TIMEOUT_S * 1000), self.gather_timeout)

    def on_gathering(self, _element: Gst.Element, _pspec: Any) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.gathered:
            self.gathered = True
            GLib.idle_add(self.send_offer)

    def gather_timeout(self) -> bool:
        if not self.gathered:
            self.fail("ICE gathering did not complete")
        return False

    def send_offer(self) -> bool:
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        if self.args.offer_setup:
            sdp = re.sub(r"a=setup:\w+", f"a=setup:{self.args.offer_setup}", sdp)
        self.result["offer_setup"] = re.findall(r"a=setup:(\w+)", sdp)
        status, headers, body = http("POST", self.args.url, self.args.token, sdp, "application/sdp")
        self.result["post_status"] = status
        if status != 201:
            self.result["post_body"] = body[:500]
            self.fail(f"POST answered {status}")
            return False
        self.location = urllib.parse.urljoin(self.args.url, headers["Location"])
        self.result["answer_setup"] = re.findall(r"a=setup:(\w+)", body)
        _res, msg = GstSdp.SDPMessage.new_from_text(body)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        if not self.args.publish:
            GLib.timeout_add(int(FIRST_FRAME_TIMEOUT_S * 1000), self.first_frame_timeout)
        return False

    def on_state(self, _element: Gst.Element, _pspec: Any) -> None:
        state = self.webrtc.get_property("connection-state").value_nick
        self.result["states"].append(state)
        if state == "connected" and self.args.publish and self.connected_m is None:
            self.connected_m = time.monotonic()
            GLib.timeout_add(int(self.args.seconds * 1000), self.done)
        if state in ("failed", "closed") and self.result["error"] is None:
            self.fail(f"connection {state}")

    # -- media -----------------------------------------------------------------------------------

    def on_pad_added(self, _element: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        branch = Gst.parse_bin_from_description(
            f"queue ! rtph264depay ! h264parse ! {self.decoder} ! fakesink name=frames signal-handoffs=true sync=false",
            True,
        )
        self.pipeline.add(branch)
        branch.get_by_name("frames").connect("handoff", self.on_frame)
        branch.sync_state_with_parent()
        if pad.link(branch.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            self.fail(f"cannot link {pad.get_current_caps()} to the decoder")

    def on_frame(self, _sink: Gst.Element, _buffer: Gst.Buffer, _pad: Gst.Pad) -> None:
        now = time.monotonic()
        self.frame_times.append(now)
        if len(self.frame_times) == 1:
            self.result["first_frame_s"] = round(now - self.started, 3)
            GLib.timeout_add(int(self.args.seconds * 1000), self.done)

    def first_frame_timeout(self) -> bool:
        if not self.frame_times:
            self.fail(f"no decoded frame within {FIRST_FRAME_TIMEOUT_S:.0f} s of the answer")
        return False

    # -- ending ----------------------------------------------------------------------------------

    def on_error(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        err, debug = message.parse_error()
        self.fail(f"GStreamer error: {err.message} ({debug})")

    def fail(self, reason: str) -> None:
        if self.result["error"] is None:
            self.result["error"] = reason
        self.loop.quit()

    def done(self) -> bool:
        self.loop.quit()
        return False

    def run(self) -> dict[str, Any]:
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: self.fail("terminated") or False)
        self.loop.run()
        first = self.frame_times[0] if self.frame_times else None
        # Frames of the measured window only (the first one and --seconds after it).
        window = [t for t in self.frame_times if first is not None and t - first <= self.args.seconds]
        gaps = [b - a for a, b in zip(window, window[1:], strict=False)]
        self.result["frames"] = len(window)
        self.result["max_gap_s"] = round(max(gaps), 3) if gaps else None
        self.result["span_s"] = round(window[-1] - window[0], 3) if window else 0.0
        if self.connected_m is not None:
            self.result["sent_s"] = round(time.monotonic() - self.connected_m, 3)
        if self.location is not None:
            self.result["delete_status"] = http("DELETE", self.location, self.args.token)[0]
        self.pipeline.set_state(Gst.State.NULL)
        return self.result


def missing_elements(publish: bool = False) -> list[str]:
    """GStreamer elements this viewer (or publisher) needs that are not installed."""
    if publish:
        return [e for e in PUBLISH_ELEMENTS if Gst.ElementFactory.find(e) is None]
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if all(Gst.ElementFactory.find(d) is None for d in DECODERS):
        missing.append(" or ".join(DECODERS))
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that everything needed is installed")
    parser.add_argument("--url", help="WHEP endpoint, e.g. http://127.0.0.1:8080/whep/cam-street")
    parser.add_argument("--token", help="bearer token")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to count frames after the first")
    parser.add_argument("--address", default=None, help="the only local address ICE may use (tests: 127.0.0.1)")
    parser.add_argument("--publish", action="store_true", help="be a WHIP publisher (--url is a /whip/ endpoint)")
    parser.add_argument("--offer-setup", choices=["actpass", "passive", "active"], default=None)
    args = parser.parse_args()
    Gst.init(None)
    missing = missing_elements(args.publish)
    if args.check or missing:
        print(f"MISSING GStreamer elements: {', '.join(missing)}" if missing else "OK", flush=True)
        return 2 if missing else 0
    if not args.url or not args.token:
        parser.error("--url and --token are required")
    result = Viewer(args).run()
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
