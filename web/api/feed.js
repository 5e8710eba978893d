// @ts-check
// The one live-feed module: it owns the WebSocket to /ws/events. It reconnects with backoff (capped),
// resumes from the last event id it has seen (so nothing is missed and nothing shown twice),
// follows the hub's `resync` (close 4000: reconnect at once from `last_id`), and exposes what it
// receives as signals: `feedStatus` for the "reconnecting…" badge, and one signal of recent
// events per event-type prefix, made on first use. Views use the one-line hooks in web/hooks/.
import { signal } from "@preact/signals";
import { api, checkSession, getToken, hasSession, socketUrl } from "./client.js";

/** @typedef {import("../types/api").HubEvent} HubEvent */
/** @typedef {import("../types/api").FeedMessage} FeedMessage */
/** @typedef {import("../types/api").EventPage} EventPage */
/** @typedef {"connecting" | "live" | "reconnecting" | "stopped"} FeedStatus */
/** @typedef {import("@preact/signals").Signal<HubEvent[]>} EventsSignal */

export const FEED_PATH = "/ws/events";
/** First reconnect delay, and the most the delay doubles up to. */
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 15_000;
/** Close code of a `resync`: the hub dropped a client that fell behind; reconnect from `last_id`. */
const RESYNC_CLOSE = 4000;
/** How many recent events each prefix signal holds (older ones are dropped from the signal only). */
export const KEEP_EVENTS = 200;
/** Without a cursor, start this many events before the log's head. */
const DEFAULT_BACKLOG = 100;

/**
 * "connecting" until the first replay is done, "live" while following, "reconnecting" after a
 * drop until live again, "stopped" after {@link stopFeed}.
 */
export const feedStatus = signal(/** @type {FeedStatus} */ ("connecting"));
/** The id of the newest event received: where the feed resumes. */
export const lastEventId = signal(0);

/** @type {Map<string, EventsSignal>} */
const topics = new Map();
/** The newest events of every type: a prefix's signal made later starts from these. */
const RECENT_EVENTS = 1000;
/** @type {HubEvent[]} */
let recent = [];
/** @type {Set<{prefix: string, fn: (events: HubEvent[]) => void}>} */
const listeners = new Set();

/** @type {WebSocket | null} */
let socket = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
let delay = RECONNECT_FIRST_MS;
let running = false;
/** null until the starting point is known. */
let cursor = /** @type {number | null} */ (null);
let backlog = DEFAULT_BACKLOG;

/**
 * Connect (once; later calls do nothing while it runs). `since`: resume after this event id;
 * without it, the feed starts `backlog` events before the log's head.
 * @param {{since?: number, backlog?: number}} [options]
 */
export function startFeed(options = {}) {
  if (running) return;
  running = true;
  backlog = options.backlog ?? DEFAULT_BACKLOG;
  cursor = options.since ?? (lastEventId.value || null);
  feedStatus.value = "connecting";
  delay = RECONNECT_FIRST_MS;
  window.addEventListener("online", reconnectNow);
  void connect();
}

/** Close the socket and stop reconnecting. */
export function stopFeed() {
  running = false;
  clearTimeout(timer);
  window.removeEventListener("online", reconnectNow);
  const s = socket;
  socket = null;
  s?.close();
  feedStatus.value = "stopped";
}

/**
 * The recent events whose type starts with `prefix` ("" for all), oldest first: a signal made on
 * first use (from the events already received), updated as events arrive.
 * @param {string} [prefix]
 * @returns {EventsSignal}
 */
export function eventsOf(prefix = "") {
  let s = topics.get(prefix);
  if (!s) {
    const seen = prefix ? recent.filter((ev) => ev.type.startsWith(prefix)) : recent;
    s = signal(seen.slice(-KEEP_EVENTS));
    topics.set(prefix, s);
  }
  return s;
}

/**
 * Call `fn` with every new batch of events whose type starts with `prefix`, in id order, each
 * once. Returns the unsubscribe.
 * @param {string} prefix
 * @param {(events: HubEvent[]) => void} fn
 */
export function onEvents(prefix, fn) {
  const entry = { prefix, fn };
  listeners.add(entry);
  return () => {
    listeners.delete(entry);
  };
}

/** @param {HubEvent[]} batch */
function deliver(batch) {
  const fresh = batch.filter((ev) => ev.id > lastEventId.value);
  if (!fresh.length) return;
  lastEventId.value = fresh[fresh.length - 1].id;
  cursor = lastEventId.value;
  recent = recent.concat(fresh).slice(-RECENT_EVENTS);
  for (const [prefix, s] of topics) {
    const mine = prefix ? fresh.filter((ev) => ev.type.startsWith(prefix)) : fresh;
    if (mine.length) s.value = [...s.value, ...mine].slice(-KEEP_EVENTS);
  }
  for (const { prefix, fn } of [...listeners]) {
    const mine = prefix ? fresh.filter((ev) => ev.type.startsWith(prefix)) : fresh;
    if (mine.length) fn(mine);
  }
}

/** Where to start when no cursor is known: a little before the log's head. */
async function startingPoint() {
  /** @type {EventPage} */
  const page = await api("/api/events?limit=1");
  return Math.max(0, page.head_id - backlog);
}

async function connect() {
  if (!running) return;
  if (!getToken() || !hasSession()) {
    await checkSession(); // sends the page to the login
    return;
  }
  if (cursor === null) {
    try {
      cursor = await startingPoint();
    } catch {
      again();
      return;
    }
    if (!running) return;
  }
  let opened = false;
  const s = new WebSocket(socketUrl(FEED_PATH, { since: cursor }));
  socket = s;
  s.onopen = () => {
    opened = true;
  };
  s.onmessage = (m) => {
    if (socket !== s) return;
    /** @type {FeedMessage} */
    const msg = JSON.parse(m.data);
    if (Array.isArray(msg)) {
      deliver(msg);
    } else if (msg.control === "live") {
      delay = RECONNECT_FIRST_MS;
      feedStatus.value = "live";
    } else if (msg.control === "resync") {
      cursor = Math.max(cursor ?? 0, msg.last_id);
    }
  };
  s.onclose = async (e) => {
    if (socket !== s || !running) return;
    socket = null;
    feedStatus.value = "reconnecting";
    if (e.code === RESYNC_CLOSE) {
      timer = setTimeout(connect, 0);
      return;
    }
    // A refused handshake (an expired token) looks like a network error: ask before retrying.
    if (!opened && !(await checkSession())) return;
    again();
  };
}

function again() {
  if (!running) return;
  feedStatus.value = "reconnecting";
  clearTimeout(timer);
  // A little jitter so that a hub restart is not met by every page at the same instant.
  timer = setTimeout(connect, delay * (0.8 + Math.random() * 0.4));
  delay = Math.min(delay * 2, RECONNECT_MAX_MS);
}

/** The network is back: try now rather than at the end of the backoff. */
function reconnectNow() {
  if (!running || socket) return;
  clearTimeout(timer);
  delay = RECONNECT_FIRST_MS;
  void connect();
}
