// @ts-check
// WebRTC for calls and briefings, over the one API client. The hub answers media offers
// WHEP-style: POST /api/calls/{id}/media with an SDP offer → 201, the answer and a Location to
// DELETE when done. It does not trickle ICE, so an offer carries its candidates. Calls are started
// and ended over HTTP (POST /api/calls, /api/briefings, …/hangup); what happens to them arrives on
// the calls channel, WS /ws/calls: {"op": "calls"} with every live call of ours on each connect,
// then {"op": "call"} whenever one changes. Having that channel open makes this user reachable.
import { HttpError, api, checkSession, request, socketUrl } from "./client.js";

/** @typedef {"call" | "briefing"} CallKind */
/** @typedef {"ringing" | "active" | "ended"} CallState */
/** @typedef {"invited" | "accepted" | "declined" | "left"} MemberState */
/** @typedef {"call" | "speaker" | "listener"} MediaRole */
/** @typedef {"connecting" | "connected" | "reconnecting" | "stopped"} ChannelState */

/**
 * @typedef {object} CallMember
 * @property {string} username
 * @property {string} role `caller`/`callee` in a call, `speaker`/`listener` in a briefing.
 * @property {MemberState} state
 * @property {boolean} media Their media reached the hub.
 * @property {number | null} rejoin_by While their media is lost: until when (Unix s) they may rejoin.
 */

/**
 * @typedef {object} Call
 * @property {string} id
 * @property {CallKind} kind
 * @property {string} owner Who started it.
 * @property {CallState} state
 * @property {string | null} node Briefings: the district node addressed.
 * @property {string | null} camera A camera shown in place of the owner's video.
 * @property {string | null} ended_reason
 * @property {CallMember[]} members
 * @property {{holder: string | null, waiting: Record<string, number>} | null} floor Briefings only.
 * @property {number} started Unix seconds.
 * @property {string | null} [url] Several hub nodes: the node hosting the call (its requests go there).
 */

/** @typedef {{op: "calls", calls: Call[]} | {op: "call", call: Call}} CallsMessage */

/**
 * A media connection to a call.
 * @typedef {object} MediaLink
 * @property {RTCPeerConnection} pc
 * @property {string | null} location Where to DELETE it.
 * @property {() => void} stop DELETE the session, then close the connection.
 * @property {() => void} close Close the connection only (the hub has ended the session already).
 */

/** How long ICE gathering may take before the offer goes out with what it has. */
const GATHER_WAIT_MS = 200;
/** How long a connection may stay "disconnected" before it counts as lost. */
export const DISCONNECTED_MS = 3_000;
/** After asking the hub to end a session, close the connection anyway after this long. */
const RELEASE_WAIT_MS = 2_000;
/** Reconnect delays of the calls channel: first, and the most they back off to. */
const CHANNEL_FIRST_MS = 500;
const CHANNEL_MAX_MS = 10_000;
/** Close code of a channel the hub dropped because it fell behind: reconnect at once. */
const OVERFLOW_CLOSE = 4000;

/**
 * The m-lines each role offers, in the order the hub expects them (see POST /api/calls/{id}/media).
 * @type {Record<MediaRole, Array<[kind: "audio" | "video", direction: RTCRtpTransceiverDirection]>>}
 */
export const LAYOUTS = {
  call: [
    ["audio", "sendrecv"],
    ["video", "sendrecv"],
  ],
  speaker: [
    ["audio", "sendrecv"],
    ["video", "sendonly"],
  ],
  listener: [
    ["audio", "sendrecv"],
    ["audio", "recvonly"],
    ["video", "recvonly"],
  ],
};

/**
 * Resolve when ICE gathering is complete, soon after the first host candidate, or after `ms`
 * (the hub learns peer-reflexive candidates from our checks, so one candidate is plenty).
 * @param {RTCPeerConnection} pc
 * @param {number} [ms]
 * @returns {Promise<void>}
 */
export function gathered(pc, ms = GATHER_WAIT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", onState);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onState = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    /** @param {RTCPeerConnectionIceEvent} e */
    const onCandidate = (e) => {
      if (!e.candidate || e.candidate.type === "host") setTimeout(done, 20);
    };
    pc.addEventListener("icegatheringstatechange", onState);
    pc.addEventListener("icecandidate", onCandidate);
    setTimeout(done, ms);
  });
}

/**
 * Offer `pc` to the hub at `path`, take its answer; the session's Location (absolute), if given.
 * @param {string} path
 * @param {RTCPeerConnection} pc
 * @param {string} [base] The hub node to send it to ("" for this one).
 */
export async function exchange(path, pc, base = "") {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const r = await request(path, { method: "POST", body: pc.localDescription?.sdp ?? "", contentType: "application/sdp", base });
  const where = r.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  return where ? new URL(where, base || window.location.href).href : null;
}

/** The hub node hosting each call we know of, when it is not the one that served this page. */
const hosts = new Map(/** @type {Array<[string, string]>} */ ([]));

/** @param {Call} call */
function noteHost(call) {
  if (call.url && new URL(call.url).origin !== window.location.origin) hosts.set(call.id, call.url);
  else hosts.delete(call.id);
}

/**
 * Where a call's requests go: "" for this node, else the URL of the node hosting it (several
 * hub nodes: the call page may be open on one node and the call hosted on another).
 * @param {string} callId
 */
export function baseOf(callId) {
  return hosts.get(callId) ?? "";
}

/**
 * A request about one call, sent to the node hosting it.
 * @param {string} callId
 * @param {string} action
 * @param {object} [body]
 * @returns {Promise<Call>}
 */
async function callApi(callId, action, body) {
  const path = `/api/calls/${encodeURIComponent(callId)}${action ? `/${action}` : ""}`;
  /** @type {Call} */
  const call = await api(path, body === undefined ? { base: baseOf(callId) } : { method: "POST", body, base: baseOf(callId) });
  noteHost(call);
  return call;
}

/**
 * DELETE the session first, then close: closed the other way round, the hub may notice the
 * connection end and drop the session before the DELETE arrives (a needless 404).
 * @param {RTCPeerConnection} pc
 * @param {string | null} location
 */
function release(pc, location) {
  if (!location) {
    pc.close();
    return;
  }
  const close = () => pc.close();
  setTimeout(close, RELEASE_WAIT_MS);
  request(location, { method: "DELETE", keepalive: true })
    .catch(() => {})
    .finally(close);
}

/**
 * Join a call's media as `role`, sending the tracks of `local` where the layout sends.
 * `onTrack(track, index)` gets the hub's tracks with the index of their m-line.
 * @param {string} callId
 * @param {MediaRole} role
 * @param {MediaStream | null} local
 * @param {(track: MediaStreamTrack, index: number) => void} [onTrack]
 * @returns {Promise<MediaLink>}
 */
export async function joinMedia(callId, role, local, onTrack = () => {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const transceivers = LAYOUTS[role].map(([kind, direction]) => {
    const mine = direction.startsWith("send") && local ? local.getTracks().find((t) => t.kind === kind) : undefined;
    return pc.addTransceiver(mine ?? kind, { direction });
  });
  pc.ontrack = (e) => onTrack(e.track, transceivers.indexOf(e.transceiver));
  /** @type {string | null} */
  let location = null;
  try {
    location = await exchange(`/api/calls/${encodeURIComponent(callId)}/media`, pc, baseOf(callId));
  } catch (err) {
    pc.close();
    throw err;
  }
  let stopped = false;
  return {
    pc,
    location,
    stop: () => {
      if (stopped) return;
      stopped = true;
      release(pc, location);
    },
    close: () => {
      stopped = true;
      pc.close();
    },
  };
}

/**
 * Call `onLost` once when `pc` has failed or closed, or stayed "disconnected" for `ms`. Chromium
 * reports a peer that went away as "disconnected" and calls it "failed" only after ICE's consent
 * timeout (about 30 s); the hub has released its side long before that. Returns the cancel.
 * @param {RTCPeerConnection} pc
 * @param {(state: RTCPeerConnectionState) => void} onLost
 * @param {number} [ms]
 */
export function onConnectionLost(pc, onLost, ms = DISCONNECTED_MS) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let done = false;
  const stop = () => {
    done = true;
    clearTimeout(timer);
    pc.removeEventListener("connectionstatechange", check);
  };
  const lost = () => {
    if (done) return;
    stop();
    onLost(pc.connectionState);
  };
  function check() {
    const s = pc.connectionState;
    if (s === "failed" || s === "closed") lost();
    else if (s === "disconnected") timer ??= setTimeout(lost, ms);
    else {
      clearTimeout(timer);
      timer = undefined;
    }
  }
  pc.addEventListener("connectionstatechange", check);
  check();
  return stop;
}

/**
 * Frames decoded so far on a connection's incoming video (0 before the first).
 * @param {RTCPeerConnection} pc
 */
export async function framesDecoded(pc) {
  let n = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded ?? 0;
  });
  return n;
}

/**
 * The media role `username` has in `call`.
 * @param {Call} call
 * @param {string} username
 * @returns {MediaRole}
 */
export function mediaRole(call, username) {
  if (call.kind === "call") return "call";
  return call.owner === username ? "speaker" : "listener";
}

// ------------------------------------------------------------------ control over HTTP

/**
 * Ring `to` (a username; they need their call page open). 409: busy or unreachable; 404: unknown.
 * @param {string} to
 * @param {string | null} [camera] Show this camera in place of our video from the start.
 * @returns {Promise<Call>}
 */
export function startCall(to, camera = null) {
  return api("/api/calls", { method: "POST", body: camera ? { to, camera } : { to } });
}

/**
 * Address everyone on duty under a node of the district tree.
 * @param {string} node
 * @returns {Promise<Call>}
 */
export function startBriefing(node) {
  return api("/api/briefings", { method: "POST", body: { node } });
}

/**
 * The live calls we are part of (whatever our role; staff asking without `mine` get every call).
 * @returns {Promise<Call[]>}
 */
export function myCalls() {
  return api("/api/calls?mine=true");
}

/**
 * One call's state (members, floor).
 * @param {string} callId
 * @returns {Promise<Call>}
 */
export function getCall(callId) {
  return callApi(callId, "");
}

/**
 * Hang up: ends a one-to-one call, or a briefing for its speaker; a listener just leaves.
 * @param {string} callId
 * @returns {Promise<Call>}
 */
export function hangUp(callId) {
  return callApi(callId, "hangup", {});
}

/**
 * Answer a call we are invited to (sending media answers it too).
 * @param {string} callId
 * @returns {Promise<Call>}
 */
export function acceptCall(callId) {
  return callApi(callId, "accept", {});
}

/**
 * Turn down a call we are invited to.
 * @param {string} callId
 * @returns {Promise<Call>}
 */
export function declineCall(callId) {
  return callApi(callId, "decline", {});
}

/**
 * Show a camera's own packets in place of our video (the caller only), or our video again (null).
 * @param {string} callId
 * @param {string | null} camera
 * @returns {Promise<Call>}
 */
export function putCamera(callId, camera) {
  return callApi(callId, "camera", { camera });
}

/**
 * Floor control in a briefing.
 * @param {string} callId
 * @param {"request" | "release" | "grant" | "revoke"} action
 * @param {{to?: string, priority?: number}} [extra]
 * @returns {Promise<Call>}
 */
export function floorAction(callId, action, extra = {}) {
  return callApi(callId, "floor", { action, ...extra });
}

/** Why the hub refused to start a call, from its answer. @param {unknown} err */
export function refusal(err) {
  if (!(err instanceof HttpError)) return "failed";
  if (err.status === 404) return "unknown";
  if (err.status === 409 && /no call page/.test(err.detail)) return "unreachable";
  if (err.status === 409 && /busy|already in a call/.test(err.detail)) return "busy";
  if (err.status === 0) return "offline";
  return "failed";
}

// ------------------------------------------------------------------ the calls channel

/** @type {Set<(msg: CallsMessage) => void>} */
const listeners = new Set();
/** @type {Set<(state: ChannelState) => void>} */
const stateListeners = new Set();
/** The live calls of ours as the channel last told them. */
const known = new Map(/** @type {Array<[string, Call]>} */ ([]));
/** @type {WebSocket | null} */
let channel = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let channelTimer;
let channelDelay = CHANNEL_FIRST_MS;
/** @type {ChannelState} */
let channelState = "stopped";
/** True while someone follows the channel (it reconnects until the last one stops). */
let following = false;

/** @param {ChannelState} s */
function setChannelState(s) {
  channelState = s;
  for (const fn of [...stateListeners]) fn(s);
}

/** @param {CallsMessage} msg */
function dispatch(msg) {
  if (msg.op === "calls") {
    known.clear();
    for (const c of msg.calls) {
      known.set(c.id, c);
      noteHost(c);
    }
  } else {
    noteHost(msg.call);
    if (msg.call.state === "ended") known.delete(msg.call.id);
    else known.set(msg.call.id, msg.call);
  }
  for (const fn of [...listeners]) fn(msg);
}

function openChannel() {
  if (!following) return;
  let opened = false;
  const ws = new WebSocket(socketUrl("/ws/calls"));
  channel = ws;
  ws.onopen = () => {
    opened = true;
    channelDelay = CHANNEL_FIRST_MS;
    setChannelState("connected");
  };
  ws.onmessage = (m) => {
    if (channel === ws) dispatch(/** @type {CallsMessage} */ (JSON.parse(m.data)));
  };
  ws.onclose = async (e) => {
    if (channel !== ws) return;
    channel = null;
    if (!following) return;
    setChannelState("reconnecting");
    if (e.code === OVERFLOW_CLOSE) {
      channelTimer = setTimeout(openChannel, 0);
      return;
    }
    // A refused handshake (an expired token) looks like a network error: ask before retrying.
    if (!opened && !(await checkSession())) return;
    channelTimer = setTimeout(openChannel, channelDelay * (0.8 + Math.random() * 0.4));
    channelDelay = Math.min(channelDelay * 2, CHANNEL_MAX_MS);
  };
}

function closeChannel() {
  following = false;
  clearTimeout(channelTimer);
  const ws = channel;
  channel = null;
  ws?.close();
  known.clear();
  setChannelState("stopped");
}

/**
 * Follow the calls channel: `onMessage` gets {"op": "calls"} with our live calls (at once, when
 * the channel already knows them), then {"op": "call"} for every change. One socket is shared by
 * every follower and closed when the last one stops. Returns the stop.
 * @param {(msg: CallsMessage) => void} onMessage
 * @param {(state: ChannelState) => void} [onState]
 */
export function followCalls(onMessage, onState) {
  listeners.add(onMessage);
  if (onState) stateListeners.add(onState);
  if (!following) {
    following = true;
    setChannelState("connecting");
    openChannel();
  } else {
    if (channelState === "connected") onMessage({ op: "calls", calls: [...known.values()] });
    onState?.(channelState);
  }
  return () => {
    listeners.delete(onMessage);
    if (onState) stateListeners.delete(onState);
    if (!listeners.size) closeChannel();
  };
}
