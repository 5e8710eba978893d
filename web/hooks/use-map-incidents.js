// @ts-check
// The incidents still open (new, verified, assigned, acknowledged, on site, reopened), kept up to
// date from the live feed: any `incident.*` event asks for the list again (one request at a time;
// events that come during one make one more).
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client.js";
import { useEventHandler } from "./use-events.js";

/** States in which an incident still needs work: what the map shows. */
export const OPEN_STATES = ["new", "verified", "assigned", "acknowledged", "on_site", "reopened"];
/** At most this many open incidents are drawn. */
export const MAP_INCIDENTS_LIMIT = 500;

/**
 * @typedef {object} MapIncident
 * @property {number} id
 * @property {string} title
 * @property {string} category
 * @property {"P1" | "P2" | "P3" | "P4"} severity
 * @property {string} state
 * @property {string | null} node
 * @property {string | null} grid
 * @property {string[]} [path]
 * @property {number | null} lat
 * @property {number | null} lon
 * @property {string | null} camera
 * @property {number} created_at Unix seconds.
 * @property {number} updated_at Unix seconds.
 */

/** @returns {{incidents: MapIncident[] | null, error: unknown}} */
export function useMapIncidents() {
  const [incidents, setIncidents] = useState(/** @type {MapIncident[] | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const run = useRef({ busy: false, again: false, alive: true });

  const load = async () => {
    const r = run.current;
    if (r.busy) {
      r.again = true;
      return;
    }
    r.busy = true;
    try {
      do {
        r.again = false;
        const query = new URLSearchParams(OPEN_STATES.map((s) => ["state", s]));
        query.set("limit", String(MAP_INCIDENTS_LIMIT));
        /** @type {MapIncident[]} */
        const list = await api(`/api/incidents?${query}`);
        if (!r.alive) return;
        setIncidents(list);
        setError(null);
      } while (r.again && r.alive);
    } catch (err) {
      if (r.alive) setError(err);
    } finally {
      r.busy = false;
    }
  };

  useEffect(() => {
    run.current.alive = true;
    void load();
    return () => {
      run.current.alive = false;
    };
  }, []);
  useEventHandler("incident.", () => void load());

  return { incidents, error };
}
