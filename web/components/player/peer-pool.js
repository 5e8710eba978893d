// @ts-check
// WHEP offers made ahead of time. Making a peer connection and its offer costs the browser a few
// milliseconds each, on its busiest threads: a layout switch that brings 11 live tiles spent
// 100-300 ms there before the first offer left (scripts/bench_wall.py, "offer POSTed"). A page
// that knows it will need many (the wall) asks for some to be kept ready; they are made one at a
// time while the page is quiet, and a player takes one instead of making its own. A taken
// connection is the player's; an unused one is closed when the page stops asking.
// Only receive-only video offers are kept (the wall's); any other kind is made on the spot.
//
// Better still, connections are kept. When a wall tile goes (a layout switch), its player leaves
// its connected session here instead of ending it; a tile that comes takes it and asks the hub to
// switch it to its camera (POST {session}/switch): no offer, no ICE, no DTLS, and the camera's
// cached keyframe goes out at once. A left session is parked first (the hub sends nothing on it)
// and waits there for the next switch; one more than the page keeps is ended.
import { request } from "../../api/client.js";

/** After the last take, wait this long before making more (the switch's players come first). */
const REFILL_QUIET_MS = 1_500;
/** A kept session nobody took for this long is ended (the hub holds it for nothing). */
const KEPT_MS = 120_000;

/** @type {RTCPeerConnection[]} */
const ready = [];
/**
 * A connected viewer session left by a player, for another to switch to its camera.
 * @typedef {object} KeptSession
 * @property {RTCPeerConnection} pc
 * @property {string} location Its URL on this hub (absolute).
 * @property {MediaStreamTrack} track The video it receives.
 * @property {Promise<unknown>} busy Its last request to the hub (a park): the next waits for it.
 */
/** @type {KeptSession[]} */
const kept = [];
let wanted = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let filling = false;
let lastTake = 0;

/**
 * A peer connection receiving video (and audio when asked), its offer set as local description.
 * @param {boolean} audio
 */
async function make(audio) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  if (audio) pc.addTransceiver("audio", { direction: "recvonly" });
  // The offer goes without waiting for our candidates: the browser's host candidates are mDNS
  // names the hub cannot resolve, and it learns our address from our first checks.
  await pc.setLocalDescription(await pc.createOffer());
  return pc;
}

function refillLater(delay = REFILL_QUIET_MS) {
  clearTimeout(timer);
  if (ready.length >= wanted) return;
  timer = setTimeout(refill, delay);
}

async function refill() {
  if (filling) return;
  filling = true;
  try {
    while (ready.length < wanted) {
      // A switch is under way: its players come first; go on once it is quiet again.
      if (performance.now() - lastTake < REFILL_QUIET_MS) return refillLater();
      const pc = await make(false);
      if (ready.length >= wanted) {
        pc.close();
        break;
      }
      ready.push(pc);
      // One at a time, in the page's idle moments.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } catch {
    /* the browser refused: players make their own */
  } finally {
    filling = false;
  }
  return undefined;
}

/**
 * Keep `count` video offers ready for players of this page until the returned function is called.
 * @param {number} count
 * @returns {() => void}
 */
export function keepOffersReady(count) {
  wanted = Math.max(wanted, count);
  refillLater();
  return () => {
    wanted = 0;
    clearTimeout(timer);
    for (const pc of ready.splice(0)) pc.close();
    for (const k of kept.splice(0)) end(k);
  };
}

/**
 * End a kept session: DELETE it on the hub, then close the connection.
 * @param {KeptSession} k
 */
export function end(k) {
  const close = () => k.pc.close();
  k.busy.finally(() => request(k.location, { method: "DELETE", keepalive: true }).catch(() => {}).finally(close));
}

/**
 * A player is done with its connected session: keep it for the next player of this page (true),
 * or not (false: the page keeps none, it is not connected, or enough are kept), and the caller ends it.
 * @param {RTCPeerConnection} pc
 * @param {string} location
 * @returns {boolean}
 */
export function leaveSession(pc, location) {
  const track = pc.getReceivers().find((r) => r.track.kind === "video")?.track;
  if (!wanted || !track || pc.connectionState !== "connected" || kept.length >= wanted) return false;
  /** @type {KeptSession} */
  const k = { pc, location, track, busy: Promise.resolve() };
  kept.push(k);
  setTimeout(() => {
    const at = kept.indexOf(k);
    if (at < 0) return;
    kept.splice(at, 1);
    end(k);
  }, KEPT_MS);
  // Parked at once, even when a tile of this same switch takes it: that tile asks for its camera
  // once the park is answered, so no picture of the old camera still on its way reaches it.
  k.busy = request(`${k.location}/switch`, { method: "POST", body: { camera: null }, priority: "high" }).catch(
    () => {
      const at = kept.indexOf(k); // the hub no longer has it
      if (at >= 0) kept.splice(at, 1);
      k.pc.close();
    },
  );
  return true;
}

/**
 * Rejects when `signal` aborts; never without one.
 * @param {AbortSignal} [signal]
 * @returns {Promise<never>}
 */
function abortedBy(signal) {
  return new Promise((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    else signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/**
 * A kept session switched to `camera`, with its new URL; null when none is kept or the hub
 * refused (the session is ended then; the caller offers as usual and learns why from that).
 * Aborted through `signal`, the session is ended too.
 * @param {string} camera
 * @param {AbortSignal} [signal]
 * @returns {Promise<{pc: RTCPeerConnection, location: string, track: MediaStreamTrack} | null>}
 */
export async function takeSession(camera, signal) {
  let k;
  while ((k = kept.shift())) {
    if (k.pc.connectionState === "connected") break;
    end(k);
  }
  if (!k) return null;
  lastTake = performance.now();
  const own = k;
  try {
    await Promise.race([own.busy, abortedBy(signal)]);
    const r = await request(`${own.location}/switch`, {
      method: "POST",
      body: { camera },
      priority: "high",
      signal,
    });
    const answer = /** @type {{location: string}} */ (await r.json());
    return { pc: own.pc, location: new URL(answer.location, own.location).href, track: own.track };
  } catch {
    end(own);
    return null;
  }
}

/**
 * A peer connection for a player, its offer made: a ready one when there is one (and only video
 * is wanted), else a new one.
 * @param {{audio?: boolean}} [options]
 * @returns {Promise<RTCPeerConnection>}
 */
export async function takeOffer({ audio = false } = {}) {
  if (!audio) {
    lastTake = performance.now();
    let pc;
    while ((pc = ready.shift())) {
      if (pc.signalingState === "have-local-offer") {
        refillLater();
        return pc;
      }
      pc.close();
    }
    refillLater();
  }
  return make(audio);
}
