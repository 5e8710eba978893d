// @ts-check
// Live video first: a page holds its snapshot requests while live players are starting. Over
// HTTP/1.1 a browser has six connections to the hub, and a picture costs the hub a decode and an
// encode: a layout switch that brings many live tiles and many new overview tiles at once would
// otherwise queue offers behind pictures and share the hub's CPU between the pictures and the
// players' handshakes (scripts/bench_wall.py measures it). A live player holds the gate from the
// moment it is made until its first frame (or until it gives up or goes); a snapshot request
// waits for the gate to open, never longer than HOLD_MAX_MS.

/** A snapshot never waits longer than this for live players (one slow to start). */
export const HOLD_MAX_MS = 1_500;

let starting = 0;
/** @type {Array<() => void>} */
let waiting = [];

/**
 * A live player is starting: the returned function says it is done (playing, failed or gone);
 * calling it again does nothing.
 * @returns {() => void}
 */
export function holdForLive() {
  starting += 1;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    starting -= 1;
    if (starting > 0) return;
    const go = waiting;
    waiting = [];
    for (const f of go) f();
  };
}

/**
 * Resolves once no live player is starting (at the soonest after the current task, so that
 * players made in the same render hold the gate first), or after `maxMs`.
 * @param {number} [maxMs]
 * @returns {Promise<void>}
 */
export function afterLiveStarts(maxMs = HOLD_MAX_MS) {
  return new Promise((resolve) => {
    setTimeout(() => {
      if (starting === 0) return resolve();
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      const go = () => {
        clearTimeout(timer);
        resolve();
      };
      waiting.push(go);
      timer = setTimeout(() => {
        waiting = waiting.filter((f) => f !== go);
        resolve();
      }, maxMs);
    }, 0);
  });
}
