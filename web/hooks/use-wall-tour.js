// @ts-check
// A patrol tour running on the wall: the tour's cameras a layout's worth at a time, the next page
// every `interval_s` seconds, round and round. It pauses by itself when a new alert starts (the
// dispatcher looks; Space or the button resumes), and by hand.
import { useEffect, useRef, useState } from "preact/hooks";
import { tourPages, tourSlots } from "../views/wall/wall-model.js";

/** @typedef {import("../views/wall/wall-model.js").Tour} Tour */

/**
 * @typedef {object} TourRun
 * @property {string | null} name The running tour's name (null: no tour).
 * @property {number} step Pages shown so far (the page is step modulo the page count).
 * @property {"user" | "alert" | null} paused Why it is paused, or null while it runs.
 * @property {string | null} alertCamera The camera whose alert paused it.
 * @property {number} nextAt When the next page is due (ms), while running.
 */

/**
 * @typedef {object} WallTour
 * @property {Tour | null} tour The running (or paused) tour.
 * @property {number} page The page shown (0-based).
 * @property {number} pages How many pages it has at this layout.
 * @property {"user" | "alert" | null} paused
 * @property {string | null} alertCamera
 * @property {number | null} nextAt
 * @property {Array<string | null> | null} slots The cameras it shows now, per tile (null: no tour).
 * @property {(name: string) => void} start
 * @property {() => void} stop
 * @property {() => void} togglePause
 * @property {(delta: number) => void} skip Go forward (1) or back (-1) a page.
 */

/** @type {TourRun} */
const IDLE = { name: null, step: 0, paused: null, alertCamera: null, nextAt: 0 };

/**
 * @param {Tour[]} tours The user's tours.
 * @param {number} size The layout's tile count.
 * @param {Array<{id: string, camera: string}>} openAlerts Alerts open now (not the ended ones).
 * @returns {WallTour}
 */
export function useWallTour(tours, size, openAlerts) {
  const [run, setRun] = useState(IDLE);
  const tour = (run.name !== null && tours.find((t) => t.name === run.name)) || null;
  const intervalMs = (tour?.interval_s ?? 0) * 1000;

  // The next page when due.
  useEffect(() => {
    if (!tour || run.paused) return undefined;
    const id = setTimeout(
      () => setRun((r) => ({ ...r, step: r.step + 1, nextAt: Date.now() + intervalMs })),
      Math.max(0, run.nextAt - Date.now()),
    );
    return () => clearTimeout(id);
  }, [tour?.name, run.paused, run.nextAt, intervalMs]);

  // A new alert pauses a running tour.
  const seen = useRef(/** @type {Set<string> | null} */ (null));
  const alertKey = openAlerts.map((a) => a.id).join(" ");
  useEffect(() => {
    const before = seen.current;
    seen.current = new Set(openAlerts.map((a) => a.id));
    if (!before) return; // the alerts open when the wall opened are not news
    const fresh = openAlerts.find((a) => !before.has(a.id));
    if (fresh) {
      setRun((r) => (r.name !== null && !r.paused ? { ...r, paused: "alert", alertCamera: fresh.camera } : r));
    }
  }, [alertKey]);

  const pages = tour ? tourPages(tour, size) : 1;
  return {
    tour,
    page: tour ? run.step % pages : 0,
    pages,
    paused: tour ? run.paused : null,
    alertCamera: run.alertCamera,
    nextAt: tour && !run.paused ? run.nextAt : null,
    slots: tour ? tourSlots(tour, size, run.step) : null,
    start: (name) => {
      const t = tours.find((x) => x.name === name);
      if (t) setRun({ name, step: 0, paused: null, alertCamera: null, nextAt: Date.now() + t.interval_s * 1000 });
    },
    stop: () => setRun(IDLE),
    togglePause: () =>
      setRun((r) =>
        r.name === null
          ? r
          : r.paused
            ? { ...r, paused: null, alertCamera: null, nextAt: Date.now() + intervalMs }
            : { ...r, paused: "user" },
      ),
    skip: (delta) =>
      setRun((r) => (r.name === null ? r : { ...r, step: Math.max(0, r.step + delta + pages) % pages, nextAt: Date.now() + intervalMs })),
  };
}
