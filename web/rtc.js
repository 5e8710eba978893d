// WebRTC helpers for skyhub pages: a WHEP player for cameras, and media for calls and briefings.
// Plain ES module, no build step. The hub answers offers WHEP-style: POST SDP -> 201 answer +
// Location (DELETE it to hang up). The hub does not trickle ICE, so offers carry their candidates.
import { bearer, liveSocket } from "/web/skyhub.js";

const GATHER_WAIT_MS = 200;

// Resolve when ICE gathering is complete, or soon after the first host candidate, or after `ms`.
// Chromium keeps gathering on every interface for a while; the hub does not need all of that:
// it learns peer-reflexive candidates from our connectivity checks, so one candidate is plenty.
function gathered(pc, ms = GATHER_WAIT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", onState);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onState = () => { if (pc.iceGatheringState === "complete") done(); };
    const onCandidate = (e) => { if (!e.candidate || e.candidate.type === "host") setTimeout(done, 20); };
    pc.addEventListener("icegatheringstatechange", onState);
    pc.addEventListener("icecandidate", onCandidate);
    setTimeout(done, ms);
  });
}

export class HttpError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

async function exchange(url, pc) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const r = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${bearer()}` },
    body: pc.localDescription.sdp,
  });
  if (r.status !== 201) {
    let detail = "";
    try { detail = (await r.json()).detail; } catch { /* not JSON */ }
    throw new HttpError(r.status, detail, r.headers.get("Retry-After"));
  }
  const location = r.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  return location;
}

// How long a connection may stay "disconnected" before we give it up and offer again.
const DISCONNECTED_MS = 3000;

// Call `onLost` once when `pc` has failed or closed, or stayed "disconnected" for `ms`.
// Chromium reports a peer that went away — the hub closing the session when its camera stopped
// or the call member's network changed — as "disconnected", and calls it "failed" only after
// ICE's consent timeout (about 30 s); the hub has released its side long before that.
export function onConnectionLost(pc, onLost, ms = DISCONNECTED_MS) {
  let timer = null;
  let done = false;
  const lost = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    pc.removeEventListener("connectionstatechange", check);
    onLost(pc.connectionState);
  };
  const check = () => {
    const s = pc.connectionState;
    if (s === "failed" || s === "closed") lost();
    else if (s === "disconnected") { if (!timer) timer = setTimeout(lost, ms); }
    else { clearTimeout(timer); timer = null; }
  };
  pc.addEventListener("connectionstatechange", check);
  check();
}

function release(pc, location) {
  pc.close();
  if (location) fetch(location, { method: "DELETE", headers: { Authorization: `Bearer ${bearer()}` } }).catch(() => {});
}

// Watch a camera (or "@username", a call member's video) in `video`. Returns {pc, stop()}.
// `base`: the public URL of the hub node that ingests the camera when it is not the node this
// page came from (a camera's `owner_url`); the offer goes there directly, with the same token
// (valid on every node), because a browser cannot follow the 307 across origins with it.
export async function whepPlay(source, video, base = "") {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.ontrack = (e) => { video.srcObject = new MediaStream([e.track]); };
  let location = null;
  try {
    location = await exchange(`${base}/whep/${encodeURIComponent(source)}`, pc);
    // The session lives on the node that answered: DELETE it there.
    if (location) location = new URL(location, base || window.location.href).href;
  } catch (err) {
    pc.close();
    throw err;
  }
  return { pc, location, base, stop: () => release(pc, location) };
}

// The m-lines each role offers, in the order the hub expects them.
const LAYOUTS = {
  call: [["audio", "sendrecv"], ["video", "sendrecv"]],
  speaker: [["audio", "sendrecv"], ["video", "sendonly"]],
  listener: [["audio", "sendrecv"], ["audio", "recvonly"], ["video", "recvonly"]],
};

// Join a call's media. `role`: "call", "speaker" or "listener". `local`: a MediaStream from
// getUserMedia. `onTrack(track, index)` gets the hub's tracks (index of the m-line).
export async function joinMedia(callId, role, local, onTrack = () => {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const transceivers = LAYOUTS[role].map(([kind, direction]) => {
    const mine = direction.startsWith("send") && local ? local.getTracks().find((t) => t.kind === kind) : null;
    return pc.addTransceiver(mine || kind, { direction });
  });
  pc.ontrack = (e) => onTrack(e.track, transceivers.indexOf(e.transceiver));
  let location = null;
  try {
    location = await exchange(`/api/calls/${encodeURIComponent(callId)}/media`, pc);
  } catch (err) {
    pc.close();
    throw err;
  }
  return { pc, location, stop: () => release(pc, location) };
}

// Frames decoded so far on a peer connection's incoming video (0 before the first).
export async function framesDecoded(pc) {
  let n = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded || 0; });
  return n;
}

// Follow /ws/calls: onMessage gets {"op": "calls", calls} on connect, then {"op": "call", call}.
export function followCalls(onMessage, onState = () => {}) {
  // Reconnects with the current (refreshed) token, and stops once the login is gone.
  return liveSocket("/ws/calls", { onMessage: (msg) => onMessage(msg), onState });
}
