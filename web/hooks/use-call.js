// @ts-check
// The call this page is in: one at a time, as the hub allows (busy means in any call). It is kept
// in a signal of this module, not in a component, so that it goes on while the views around it
// change; the CallPanel shows it wherever it is mounted, and the last panel to go hangs it up
// (no call goes on unseen with the camera and microphone open).
// A call: our camera and microphone (getUserMedia), the hub's call (POST /api/calls or
// /api/briefings), our media to it (POST /api/calls/{id}/media), its changes on /ws/calls. Losing
// the media connection is not leaving: the hub keeps our place for a while, and we offer again.
// A reload is the same: this tab remembers its call (sessionStorage), and the reloaded page offers
// again at once; a live call of ours that no page has (the browser was closed) is offered to rejoin.
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { HttpError, api, currentUser, loadCurrentUser } from "../api/client.js";
import * as rtc from "../api/rtc.js";

/** @typedef {import("../api/rtc.js").Call} Call */
/** @typedef {import("../api/rtc.js").MediaRole} MediaRole */
/** @typedef {import("../api/rtc.js").MediaLink} MediaLink */
/** @typedef {"none" | "connecting" | "connected" | "lost"} MediaState */
/** @typedef {"starting" | "ringing" | "connecting" | "connected" | "reconnecting" | "away" | "ended" | "failed"} CallPhase */
/** @typedef {"unreachable" | "busy" | "unknown" | "offline" | "media" | "failed" | "action" | "elsewhere"} CallProblem */
/** @typedef {"grant" | "revoke" | "request" | "release"} FloorAction */

/**
 * @typedef {object} CallSession
 * @property {number} seq This page's number for it (a new call is a new session).
 * @property {"call" | "briefing"} kind
 * @property {string} target The username called, or the node briefed.
 * @property {string} targetLabel Their name, for people.
 * @property {Call | null} call The hub's call, once started.
 * @property {MediaRole} role
 * @property {MediaState} media Our media connection.
 * @property {MediaStream | null} local Our camera and microphone.
 * @property {MediaStream | null} remoteVideo The video the hub sends us.
 * @property {MediaStream[]} remoteAudio The voices the hub sends us.
 * @property {boolean} micOn
 * @property {boolean} camOn
 * @property {{id: string, name: string} | null} cameraOffer A camera that can be shown in the call.
 * @property {string | null} cameraShown The camera shown in place of our video.
 * @property {CallProblem | null} problem Why it failed or what last went wrong.
 * @property {string} detail The hub's words for it.
 * @property {string | null} endedReason Once ended: the hub's reason.
 * @property {boolean} away We are still a party of the call, but this page is not in it (the
 *   browser was closed, or another page had it): the panel offers to rejoin.
 */

/**
 * What this tab remembers of its call, so that a reload carries on in it.
 * @typedef {object} CallMark
 * @property {string} id
 * @property {string} user Whose call it is (another login in this tab has none).
 * @property {"call" | "briefing"} kind
 * @property {string} target
 * @property {string} targetLabel
 * @property {{id: string, name: string} | null} cameraOffer
 */

/** @typedef {Pick<CallSession, "kind" | "target" | "targetLabel" | "role" | "cameraOffer">} CallWhat */

/** First delay before offering again after the media connection was lost, and the most. */
const REJOIN_FIRST_MS = 500;
const REJOIN_MAX_MS = 4_000;
/** Our picture: small enough for a phone's uplink, large enough to see a face. */
const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 360 } };

/** Where this tab keeps its call's mark (sessionStorage: one per tab, kept over a reload). */
const MARK_KEY = "skyhub.call";
/** After a reload, how long to wait for the hub to let go of the old page's connection (it notices
 * a silent one within `calls.peer_timeout_s`), and how often to ask at first. */
const MEDIA_GONE_WAIT_MS = 30_000;
const MEDIA_GONE_POLL_MS = 250;

/** The call of this page, or null. */
export const callSession = signal(/** @type {CallSession | null} */ (null));

let seq = 0;
/** @type {MediaLink | null} */
let link = null;
/** @type {(() => void) | null} */
let stopWatch = null;
/** @type {(() => void) | null} */
let unfollow = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let rejoinTimer;
let rejoinDelay = REJOIN_FIRST_MS;
let hosts = 0;
let restored = false;

/** @param {number} n @param {Partial<CallSession>} patch */
function update(n, patch) {
  const s = callSession.value;
  if (s && s.seq === n) callSession.value = { ...s, ...patch };
}

const me = () => currentUser.value?.username ?? "";

/**
 * Where a call stands, for people.
 * @param {CallSession} s
 * @returns {CallPhase}
 */
export function phaseOf(s) {
  if (s.endedReason !== null) return "ended";
  if (s.problem && !s.call) return "failed";
  if (!s.call) return "starting";
  if (s.away) return "away";
  if (s.media === "lost") return "reconnecting";
  if (s.call.state === "ringing") return "ringing";
  return s.media === "connected" ? "connected" : "connecting";
}

/** True while a call is being made or is on (not ended or failed). */
export function inCall() {
  const s = callSession.value;
  return s !== null && !["ended", "failed"].includes(phaseOf(s));
}

/**
 * Our camera and microphone; the microphone alone when there is no camera.
 * @param {boolean} video
 */
async function localMedia(video) {
  if (!video) return navigator.mediaDevices.getUserMedia({ audio: true });
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO_CONSTRAINTS });
  } catch {
    return navigator.mediaDevices.getUserMedia({ audio: true });
  }
}

/**
 * A session's starting state.
 * @param {CallWhat} what
 * @param {Partial<CallSession>} [rest]
 * @returns {CallSession}
 */
function fresh(what, rest = {}) {
  return {
    ...what,
    seq: ++seq,
    call: null,
    media: "none",
    local: null,
    remoteVideo: null,
    remoteAudio: [],
    micOn: true,
    camOn: true,
    cameraShown: null,
    problem: null,
    detail: "",
    endedReason: null,
    away: false,
    ...rest,
  };
}

/**
 * Start a session and its media; `begin` asks the hub for the call.
 * @param {CallWhat} what
 * @param {() => Promise<Call>} begin
 */
async function open(what, begin) {
  if (inCall()) return false;
  teardown();
  const session = fresh(what);
  const n = session.seq;
  callSession.value = session;
  unfollow = rtc.followCalls(onCalls);
  /** @type {MediaStream} */
  let local;
  try {
    local = await localMedia(what.role !== "listener");
  } catch (err) {
    fail(n, "media", err instanceof Error ? err.message : String(err));
    return false;
  }
  if (callSession.value?.seq !== n) {
    for (const t of local.getTracks()) t.stop();
    return false;
  }
  update(n, { local, camOn: local.getVideoTracks().length > 0 });
  let call;
  try {
    call = await begin();
  } catch (err) {
    const problem = err instanceof ConnectedElsewhere ? "elsewhere" : rtc.refusal(err);
    fail(n, problem, err instanceof HttpError ? err.detail : err instanceof ConnectedElsewhere ? "" : String(err));
    return false;
  }
  if (callSession.value?.seq !== n) {
    void rtc.hangUp(call.id).catch(() => {});
    return false;
  }
  update(n, { call, cameraShown: call.camera });
  saveMark(callSession.value);
  await connect(n);
  return true;
}

/**
 * Ring a worker (by username).
 * @param {string} to
 * @param {{label?: string, camera?: {id: string, name: string} | null}} [options]
 */
export function placeCall(to, options = {}) {
  return open(
    { kind: "call", target: to, targetLabel: options.label ?? to, role: "call", cameraOffer: options.camera ?? null },
    () => rtc.startCall(to),
  );
}

/**
 * Brief everyone on duty under a node (we speak; they listen and may ask for the floor).
 * @param {string} node
 * @param {{label?: string}} [options]
 */
export function startBriefing(node, options = {}) {
  return open(
    { kind: "briefing", target: node, targetLabel: options.label ?? node, role: "speaker", cameraOffer: null },
    () => rtc.startBriefing(node),
  );
}

/**
 * Take part in a call we were invited to (a worker answering; a listener joining a briefing).
 * @param {Call} call
 */
export function joinCall(call) {
  const role = rtc.mediaRole(call, me());
  return open({ kind: call.kind, target: call.owner, targetLabel: call.owner, role, cameraOffer: null }, () =>
    rtc.acceptCall(call.id),
  );
}

/** Our media connection: a new offer (the hub replaces any older connection of ours). @param {number} n */
async function connect(n) {
  const s = callSession.value;
  if (!s || s.seq !== n || !s.call) return;
  update(n, { media: "connecting", remoteVideo: null, remoteAudio: [] });
  /** @type {MediaLink} */
  let media;
  try {
    media = await rtc.joinMedia(s.call.id, s.role, s.local, (track) => onTrack(n, track));
  } catch (err) {
    if (callSession.value?.seq !== n) return;
    if (err instanceof HttpError && [403, 404, 409].includes(err.status)) {
      ended(n, err.detail); // the call is over for us
      return;
    }
    update(n, { media: "lost", problem: "failed", detail: err instanceof Error ? err.message : String(err) });
    rejoin(n);
    return;
  }
  if (callSession.value?.seq !== n) {
    media.stop(); // hung up meanwhile
    return;
  }
  link = media;
  const pc = media.pc;
  pc.addEventListener("connectionstatechange", () => {
    if (link === media && pc.connectionState === "connected") {
      rejoinDelay = REJOIN_FIRST_MS;
      update(n, { media: "connected", problem: null, detail: "" });
    }
  });
  stopWatch = rtc.onConnectionLost(pc, () => {
    if (link !== media) return;
    media.stop();
    link = null;
    update(n, { media: "lost" });
    rejoin(n);
  });
}

/** Offer again after a delay, while the call goes on. @param {number} n */
function rejoin(n) {
  clearTimeout(rejoinTimer);
  rejoinTimer = setTimeout(() => {
    const s = callSession.value;
    if (!s || s.seq !== n || link || phaseOf(s) === "ended") return;
    void connect(n);
  }, rejoinDelay);
  rejoinDelay = Math.min(rejoinDelay * 2, REJOIN_MAX_MS);
}

/**
 * @param {number} n
 * @param {MediaStreamTrack} track
 */
function onTrack(n, track) {
  const s = callSession.value;
  if (!s || s.seq !== n) return;
  if (track.kind === "video") update(n, { remoteVideo: new MediaStream([track]) });
  else update(n, { remoteAudio: [...s.remoteAudio, new MediaStream([track])] });
}

/** @param {import("../api/rtc.js").CallsMessage} msg */
function onCalls(msg) {
  const s = callSession.value;
  if (!s || !s.call) return;
  const id = s.call.id;
  const n = s.seq;
  if (msg.op === "call") {
    if (msg.call.id !== id) return;
    if (s.away && msg.call.members.some((m) => m.username === me() && m.media)) {
      teardown(); // another page of ours has rejoined it
      return;
    }
    update(n, { call: msg.call, cameraShown: msg.call.camera });
    if (msg.call.state === "ended") ended(n, msg.call.ended_reason ?? "");
    return;
  }
  const mine = msg.calls.find((c) => c.id === id);
  if (mine && s.away && mine.members.some((m) => m.username === me() && m.media)) {
    teardown(); // another page of ours has rejoined it: not ours to offer any more
    return;
  }
  if (mine) update(n, { call: mine, cameraShown: mine.camera });
  // Not among our live calls after a reconnect: it may have ended meanwhile. Ask.
  else if (phaseOf(s) !== "ended") {
    rtc.getCall(id).then(
      (c) => {
        update(n, { call: c });
        if (c.state === "ended") ended(n, c.ended_reason ?? "");
      },
      (err) => {
        if (err instanceof HttpError && (err.status === 404 || err.status === 403)) ended(n, "");
      },
    );
  }
}

/**
 * The call could not be made.
 * @param {number} n
 * @param {CallProblem} problem
 * @param {string} detail
 */
function fail(n, problem, detail) {
  update(n, { problem, detail });
  releaseMedia(false);
  clearMark();
}

/**
 * The call is over (the other side hung up, or the hub ended it): keep it shown until dismissed.
 * @param {number} n
 * @param {string} reason
 */
function ended(n, reason) {
  update(n, { endedReason: reason, media: "none", away: false });
  releaseMedia(true);
  clearMark();
}

/**
 * Let go of our media: our camera and microphone, the calls channel, and the connection, which is
 * closed (`sessionGone`: the hub ended it with the call) or DELETEd first (a call that failed
 * half-way, a page that leaves).
 * @param {boolean} sessionGone
 */
function releaseMedia(sessionGone) {
  clearTimeout(rejoinTimer);
  rejoinDelay = REJOIN_FIRST_MS;
  stopWatch?.();
  stopWatch = null;
  if (sessionGone) link?.close();
  else link?.stop();
  link = null;
  const s = callSession.value;
  for (const t of s?.local?.getTracks() ?? []) t.stop();
  unfollow?.();
  unfollow = null;
}

function teardown() {
  releaseMedia(false);
  callSession.value = null;
  clearMark();
}

/** Hang up (ends a call, or a briefing we speak in; a listener leaves) and forget it. */
export async function hangUpCall() {
  const s = callSession.value;
  const media = link;
  link = null; // the hang-up ends the hub's side of it: close ours after
  teardown();
  if (s?.call && s.call.state !== "ended") {
    await rtc.hangUp(s.call.id).catch(() => {});
    media?.close();
  } else media?.stop();
}

/** Forget an ended or failed call (its panel closes). */
export function dismissCall() {
  if (!inCall()) teardown();
}

/** Our microphone on or off. @param {boolean} on */
export function setMic(on) {
  const s = callSession.value;
  if (!s) return;
  for (const t of s.local?.getAudioTracks() ?? []) t.enabled = on;
  update(s.seq, { micOn: on });
}

/** Our camera on or off (the other side sees black). @param {boolean} on */
export function setCamera(on) {
  const s = callSession.value;
  if (!s) return;
  for (const t of s.local?.getVideoTracks() ?? []) t.enabled = on;
  update(s.seq, { camOn: on });
}

/**
 * Our video from another camera of this device (a phone's front or back camera): the new track
 * replaces the old one in the connection, without a new offer.
 * @param {"user" | "environment"} facing
 */
export async function switchCamera(facing) {
  const s = callSession.value;
  if (!s?.local) return false;
  /** @type {MediaStream} */
  let got;
  try {
    got = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO_CONSTRAINTS, facingMode: { ideal: facing } } });
  } catch {
    return false;
  }
  const track = got.getVideoTracks()[0];
  track.enabled = s.camOn;
  const sender = link?.pc.getSenders().find((x) => x.track?.kind === "video");
  await sender?.replaceTrack(track);
  for (const old of s.local.getVideoTracks()) old.stop();
  const local = new MediaStream([...s.local.getAudioTracks(), track]);
  update(s.seq, { local });
  return true;
}

/**
 * Show a camera to the others in place of our video (no transcoding), or our video again (null).
 * @param {string | null} camera
 */
export async function showCamera(camera) {
  const s = callSession.value;
  if (!s?.call) return;
  try {
    const call = await rtc.putCamera(s.call.id, camera);
    update(s.seq, { call, cameraShown: call.camera, problem: null, detail: "" });
  } catch (err) {
    update(s.seq, { problem: "action", detail: err instanceof HttpError ? err.detail : String(err) });
  }
}

/**
 * Floor control in our briefing. The speaker gives a listener who joined the floor (`grant`, `to`)
 * or takes it back (`revoke`): only the holder's voice reaches the group, so taking the floor back
 * is how a speaker mutes someone. A listener asks for it (`request`) or gives it up (`release`).
 * @param {FloorAction} action
 * @param {string} [to]
 */
export async function floorAction(action, to) {
  const s = callSession.value;
  if (!s?.call) return;
  try {
    const call = await rtc.floorAction(s.call.id, action, to ? { to } : {});
    update(s.seq, { call, problem: null, detail: "" });
  } catch (err) {
    update(s.seq, { problem: "action", detail: err instanceof HttpError ? err.detail : String(err) });
  }
}

// ------------------------------------------------------------------ after a reload

/** @param {CallSession | null} s */
function saveMark(s) {
  if (!s?.call) return;
  /** @type {CallMark} */
  const mark = { id: s.call.id, user: me(), kind: s.kind, target: s.target, targetLabel: s.targetLabel, cameraOffer: s.cameraOffer };
  try {
    sessionStorage.setItem(MARK_KEY, JSON.stringify(mark));
  } catch {
    // Storage refused (a private window's quota): a reload then offers the call instead.
  }
}

/** @returns {CallMark | null} */
function readMark() {
  try {
    const raw = sessionStorage.getItem(MARK_KEY);
    return raw ? /** @type {CallMark} */ (JSON.parse(raw)) : null;
  } catch {
    return null;
  }
}

function clearMark() {
  try {
    sessionStorage.removeItem(MARK_KEY);
  } catch {
    // Nothing kept, nothing to forget.
  }
}

/**
 * A call's session as this user sees it, named as the tab's mark named it (if any).
 * @param {Call} call
 * @param {string} user
 * @param {CallMark | null} mark
 * @returns {CallWhat}
 */
function describe(call, user, mark) {
  const other = call.members.find((m) => m.username !== user);
  const target = call.kind === "briefing" ? (call.node ?? call.owner) : (other?.username ?? call.owner);
  return {
    kind: call.kind,
    target,
    targetLabel: mark?.targetLabel ?? target,
    role: rtc.mediaRole(call, user),
    cameraOffer: mark?.cameraOffer ?? null,
  };
}

/**
 * When the page starts: carry on in the call this tab was in before a reload (the hub keeps our
 * place for `calls.rejoin_grace_s`, and a new offer replaces a connection it still holds). A live
 * call of ours that this tab was not in, with no page of ours connected to it (the browser was
 * closed), is offered to rejoin; one connected from another page is left there. A call that ended
 * while the page reloaded is shown as ended.
 */
async function restore() {
  const mark = readMark();
  /** @type {Call[]} */
  let calls;
  /** @type {string} */
  let user;
  try {
    user = (currentUser.value ?? (await loadCurrentUser())).username;
    calls = await rtc.myCalls();
  } catch {
    return; // not logged in (the client goes to the login) or the hub is away: nothing to resume
  }
  if (callSession.value) return; // a call was started meanwhile
  const mine = (/** @type {Call} */ c) => c.members.find((m) => m.username === user);
  const live = calls.filter((c) => c.state !== "ended" && mine(c)?.state === "accepted");
  const ours = mark?.user === user ? mark : null;
  if (mark && !ours) clearMark(); // another login's, in this tab
  const marked = ours ? live.find((c) => c.id === ours.id) : undefined;
  if (marked) {
    // Our connection from before the reload is gone, though the hub may not have noticed yet. A
    // duplicated tab carries the mark too, while the first tab is still connected: that one keeps it.
    await open(describe(marked, user, ours), async () => {
      const free = await mediaGone(marked, user);
      if (!free) throw new ConnectedElsewhere();
      return free;
    });
    return;
  }
  const left = live.find((c) => !mine(c)?.media);
  if (left) {
    const what = { ...describe(left, user, null) };
    what.targetLabel = await nameOf(what).catch(() => what.target);
    if (callSession.value) return;
    const session = fresh(what, { call: left, cameraShown: left.camera, away: true });
    callSession.value = session;
    unfollow = rtc.followCalls(onCalls);
    return;
  }
  if (!ours) return;
  try {
    const gone = await rtc.getCall(ours.id);
    if (gone.state === "ended" && !callSession.value) {
      callSession.value = fresh(describe(gone, user, ours), { call: gone, endedReason: gone.ended_reason ?? "" });
    }
  } catch {
    // Forgotten by the hub (long ago, or another node's): nothing to say.
  }
  clearMark();
}

/**
 * The call once the hub holds no media connection of `user`'s in it (at once, or within a few
 * seconds: it notices a silent connection within `calls.peer_timeout_s`), or null if one stays.
 * @param {Call} call
 * @param {string} user
 * @returns {Promise<Call | null>}
 */
async function mediaGone(call, user) {
  const deadline = Date.now() + MEDIA_GONE_WAIT_MS;
  let delay = MEDIA_GONE_POLL_MS;
  for (let c = call; ; ) {
    if (c.state === "ended" || !c.members.some((m) => m.username === user && m.media)) return c;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 2_000);
    c = await rtc.getCall(call.id); // an ended one: open() finds that out and says so
  }
}

/** Our call is connected from another page of ours: this one leaves it there. */
class ConnectedElsewhere extends Error {}

/**
 * The name of whom a call is with (a person, by login) or of the place a briefing addresses, for a
 * call this tab knew nothing about.
 * @param {CallWhat} what
 * @returns {Promise<string>}
 */
async function nameOf(what) {
  /** @typedef {{id: string, name: string, children?: TreeNode[]}} TreeNode */
  /** @type {{tree: TreeNode | null, people: {name: string, username?: string | null}[]}} */
  const d = await api("/api/directory");
  if (what.kind === "call") return d.people.find((p) => p.username === what.target)?.name ?? what.target;
  const stack = d.tree ? [d.tree] : [];
  for (let n = stack.pop(); n; n = stack.pop()) {
    if (n.id === what.target) return n.name;
    stack.push(...(n.children ?? []));
  }
  return what.target;
}

/** Rejoin, from this page, a call we are still a party of (see {@link restore}). */
export async function rejoinHere() {
  const s = callSession.value;
  if (!s?.away || !s.call) return false;
  const call = s.call;
  teardown();
  return open({ kind: s.kind, target: s.target, targetLabel: s.targetLabel, role: s.role, cameraOffer: s.cameraOffer }, async () => call);
}

/** The call of this page (re-renders as it changes). */
export function useCall() {
  return callSession.value;
}

/**
 * For a component that shows the call: while at least one is mounted the call may go on; when the
 * last one goes, the call is hung up.
 */
export function useCallHost() {
  useEffect(() => {
    hosts += 1;
    if (!restored) {
      restored = true;
      void restore();
    }
    return () => {
      hosts -= 1;
      if (hosts === 0 && callSession.value) void hangUpCall();
    };
  }, []);
}
