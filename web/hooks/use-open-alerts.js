// @ts-check
// The alerts open now, by camera: GET /api/alerts/open once, then the live feed's alert.started /
// alert.updated / alert.ended, applied the moment they arrive (no request in between: a wall's
// badge must show within a few hundred milliseconds of the event). An ended alert stays a while,
// marked ended, so the wall can show it dimmed before it leaves (LINGER_MS after its end).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";
import { onEvents } from "../api/feed.js";

/** @typedef {import("../types/api").HubEvent} HubEvent */

/** How long an ended alert is still shown (dimmed), from its end. */
export const LINGER_MS = 60_000;

/**
 * @typedef {object} OpenAlert
 * @property {string} id The alert's id (`alert_id`), the same on each of its events.
 * @property {string} camera
 * @property {string} kind `motion`, `intrusion`, `tamper.covered`…
 * @property {string} zone The zone's id, or "camera" for the whole picture.
 * @property {number} score 0..1.
 * @property {number} ts When it started (ms since the epoch; the frame's time).
 * @property {number | null} eventId The id of its `alert.started` event, when seen on the feed.
 * @property {number | null} eventTs When that event was appended to the log (ms), when seen on the feed.
 * @property {number | null} endedAt When it ended (ms), or null while open.
 */

/** camera id → its alerts (open and lingering), oldest first. */
export const alertsByCamera = signal(/** @type {Map<string, OpenAlert[]>} */ (new Map()));

/** alert id → the incident it opened or folded into (from `incident.created` / `incident.folded`). */
export const incidentOfAlert = signal(/** @type {Map<string, number>} */ (new Map()));

/** @type {Map<string, OpenAlert>} */
const byId = new Map();
/** Alerts the feed ended: the first answer of GET /api/alerts/open must not bring them back. */
const endedIds = new Set();
let users = 0;
/** @type {(() => void) | undefined} */
let unsubscribe;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let sweepTimer;

/**
 * Milliseconds from a time in seconds (the alert's `ts`), or `fallback`.
 * @param {unknown} s
 * @param {number} fallback
 */
const msOf = (s, fallback) => (typeof s === "number" && Number.isFinite(s) ? s * 1000 : fallback);

function publish() {
  /** @type {Map<string, OpenAlert[]>} */
  const next = new Map();
  for (const a of [...byId.values()].sort((x, y) => x.ts - y.ts)) {
    const list = next.get(a.camera);
    if (list) list.push(a);
    else next.set(a.camera, [a]);
  }
  alertsByCamera.value = next;
  scheduleSweep();
}

/** Drop ended alerts whose time on the wall is over; plan the next sweep. */
function sweep() {
  const now = Date.now();
  let changed = false;
  for (const [id, a] of byId) {
    if (a.endedAt !== null && now - a.endedAt >= LINGER_MS) {
      byId.delete(id);
      changed = true;
    }
  }
  if (changed) publish();
  else scheduleSweep();
}

function scheduleSweep() {
  clearTimeout(sweepTimer);
  const ends = [...byId.values()].filter((a) => a.endedAt !== null).map((a) => Number(a.endedAt) + LINGER_MS);
  if (ends.length) sweepTimer = setTimeout(sweep, Math.max(0, Math.min(...ends) - Date.now()) + 50);
}

/**
 * An alert from an event's data or a row of GET /api/alerts/open.
 * @param {Record<string, unknown>} data
 * @param {string} camera
 * @param {number} fallbackTs
 * @param {number | null} eventId
 * @param {number | null} eventTs
 * @returns {OpenAlert}
 */
function alertOf(data, camera, fallbackTs, eventId, eventTs) {
  return {
    id: String(data.alert_id),
    camera: typeof data.camera === "string" ? data.camera : camera,
    kind: typeof data.kind === "string" ? data.kind : "motion",
    zone: typeof data.zone === "string" ? data.zone : "camera",
    score: typeof data.score === "number" ? data.score : 0,
    ts: msOf(data.ts, fallbackTs),
    eventId,
    eventTs,
    endedAt: null,
  };
}

/** @param {HubEvent[]} events */
function apply(events) {
  for (const ev of events) {
    const data = ev.data;
    if (typeof data.alert_id !== "string") continue;
    const id = data.alert_id;
    const at = Date.parse(ev.ts) || Date.now();
    if (ev.type === "alert.started") {
      if (!endedIds.has(id)) byId.set(id, alertOf(data, ev.subject, at, ev.id, at));
    } else if (ev.type === "alert.updated") {
      const known = byId.get(id);
      if (known && known.endedAt === null && typeof data.score === "number") byId.set(id, { ...known, score: data.score });
    } else if (ev.type === "alert.ended") {
      endedIds.add(id);
      const known = byId.get(id);
      // Replayed from long ago (the feed starts a little before the log's head): gone already.
      if (known && Date.now() - at < LINGER_MS) byId.set(id, { ...known, endedAt: at });
      else byId.delete(id);
    }
  }
  publish();
}

/**
 * Learn which incident each alert went to: the camera's alert opens an incident or folds into one
 * in the same moment, so a badge can lead straight to it.
 * @param {HubEvent[]} events
 */
function applyIncidents(events) {
  let next = null;
  for (const ev of events) {
    const id = Number(ev.subject.split(":")[1]);
    if (!Number.isInteger(id)) continue;
    /** @type {unknown[]} */
    let alerts = [];
    if (ev.type === "incident.folded") alerts = [ev.data.alert];
    else if (ev.type === "incident.created") {
      const inc = /** @type {{extra?: {alerts?: unknown[]}} | undefined} */ (ev.data.incident);
      alerts = inc?.extra?.alerts ?? [];
    }
    for (const a of alerts) {
      if (typeof a !== "string") continue;
      next ??= new Map(incidentOfAlert.value);
      next.set(a, id);
    }
  }
  if (next) incidentOfAlert.value = next;
}

async function loadOpen() {
  try {
    /** @type {Array<Record<string, unknown>>} */
    const rows = await api("/api/alerts/open");
    for (const row of rows) {
      const id = String(row.alert_id);
      if (endedIds.has(id) || byId.has(id)) continue;
      byId.set(id, alertOf(row, String(row.camera), msOf(row.started_at, Date.now()), null, null));
    }
    publish();
  } catch {
    /* the feed still brings new alerts; the client handles a refused login */
  }
}

/**
 * The alerts of every camera, open or lately ended (a Map camera → alerts, oldest first). One
 * subscription and one first load are shared by every component using it.
 */
export function useOpenAlerts() {
  useEffect(() => {
    if (users++ === 0) {
      const offAlerts = onEvents("alert.", apply);
      const offIncidents = onEvents("incident.", applyIncidents);
      unsubscribe = () => {
        offAlerts();
        offIncidents();
      };
      void loadOpen();
    }
    return () => {
      if (--users === 0) {
        unsubscribe?.();
        clearTimeout(sweepTimer);
        byId.clear();
        endedIds.clear();
        alertsByCamera.value = new Map();
      }
    };
  }, []);
  return alertsByCamera.value;
}
