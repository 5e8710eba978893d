// @ts-check
// WHEP offers made ahead of time. Making a peer connection and its offer costs the browser a few
// milliseconds each, on its busiest threads: a layout switch that brings 11 live tiles spent
// 100-300 ms there before the first offer left (scripts/bench_wall.py, "offer POSTed"). A page
// that knows it will need many (the wall) asks for some to be kept ready; they are made one at a
// time while the page is quiet, and a player takes one instead of making its own. A taken
// connection is the player's; an unused one is closed when the page stops asking.
// Only receive-only video offers are kept (the wall's); any other kind is made on the spot.

/** After the last take, wait this long before making more (the switch's players come first). */
const REFILL_QUIET_MS = 1_500;

/** @type {RTCPeerConnection[]} */
const ready = [];
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
  };
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
