// @ts-check
// Which cameras have an alert open now: GET /api/alerts/open at the start, then `alert.started`
// and `alert.ended` from the live feed. Events that arrive before the first answer are applied
// on top of it, so an alert that ends meanwhile does not stay lit.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client.js";
import { useEventHandler } from "./use-events.js";

/** @typedef {import("../types/api").HubEvent} HubEvent */
/** Camera id → the ids of its open alerts. @typedef {Map<string, Set<string>>} OpenAlerts */

/**
 * The state after one alert event (a new Map when something changed).
 * @param {OpenAlerts} open
 * @param {HubEvent} ev
 * @returns {OpenAlerts}
 */
function apply(open, ev) {
  const camera = typeof ev.data.camera === "string" ? ev.data.camera : ev.subject;
  const id = typeof ev.data.alert_id === "string" ? ev.data.alert_id : `${ev.data.kind}|${ev.data.zone}`;
  const had = open.get(camera);
  if (ev.type === "alert.started") {
    if (had?.has(id)) return open;
    const next = new Map(open);
    next.set(camera, new Set([...(had ?? []), id]));
    return next;
  }
  if (ev.type === "alert.ended") {
    if (!had?.has(id)) return open;
    const next = new Map(open);
    const left = new Set(had);
    left.delete(id);
    if (left.size) next.set(camera, left);
    else next.delete(camera);
    return next;
  }
  return open;
}

/** @returns {OpenAlerts} */
export function useMapAlerts() {
  const [open, setOpen] = useState(/** @type {OpenAlerts} */ (new Map()));
  /** Events seen before the first answer (null once it came). */
  const early = useRef(/** @type {HubEvent[] | null} */ ([]));

  useEffect(() => {
    let alive = true;
    api("/api/alerts/open")
      .then((/** @type {Array<{camera: string, alert_id?: string, kind?: string, zone?: string}>} */ list) => {
        if (!alive) return;
        /** @type {OpenAlerts} */
        let now = new Map();
        for (const a of list) {
          const id = a.alert_id ?? `${a.kind}|${a.zone}`;
          now.set(a.camera, new Set([...(now.get(a.camera) ?? []), id]));
        }
        for (const ev of early.current ?? []) now = apply(now, ev);
        early.current = null;
        setOpen(now);
      })
      .catch(() => {
        if (!alive) return;
        // No list (an older hub): follow the feed from here.
        const seen = early.current ?? [];
        early.current = null;
        setOpen((m) => seen.reduce(apply, m));
      });
    return () => {
      alive = false;
    };
  }, []);

  useEventHandler("alert.", (events) => {
    if (early.current) early.current.push(...events);
    else setOpen((m) => events.reduce(apply, m));
  });
  return open;
}
