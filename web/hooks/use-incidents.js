// @ts-check
// The incident desk's live list: GET /api/incidents and GET /api/incidents/counts under the same
// filters, fetched again (debounced) whenever incident events arrive on the feed, and sorted the
// way a dispatcher works through them: what needs attention first (new, escalated, emergency),
// the longest waiting first within it.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api/client.js";
import { useEventHandler } from "./use-events.js";

/** @typedef {"new" | "verified" | "assigned" | "acknowledged" | "on_site" | "resolved" | "closed" | "dismissed" | "merged" | "reopened"} IncidentState */
/** @typedef {"P1" | "P2" | "P3" | "P4"} Severity */
/** @typedef {"camera" | "worker" | "resident" | "manual"} Source */
/** @typedef {Record<IncidentState, number>} StateCounts */

/**
 * One incident as the hub gives it.
 * @typedef {object} Incident
 * @property {number} id
 * @property {string} category
 * @property {Severity} severity
 * @property {string} title
 * @property {string} description
 * @property {IncidentState} state
 * @property {number} version Transitions compare-and-set on it.
 * @property {Source} source
 * @property {string | null} node Where it is (most specific node of the tree).
 * @property {string | null} grid The grid it belongs to.
 * @property {string[]} path Node ids from the district down to `node`.
 * @property {number | null} lat
 * @property {number | null} lon
 * @property {string | null} assignee_person
 * @property {string | null} assignee_grid
 * @property {string | null} responsible The node answerable now (climbs when deadlines are missed).
 * @property {string | null} camera
 * @property {string | null} zone
 * @property {number} count Alerts folded into it.
 * @property {number} first_seen Unix seconds.
 * @property {number} last_seen
 * @property {number} created_at
 * @property {number} updated_at
 * @property {number | null} closed_at
 * @property {string | null} feedback
 * @property {number | null} merged_into
 * @property {string} reporter
 * @property {Record<string, unknown>} extra
 */

/**
 * What the list shows: one state tab ("open": every open state, "all": every state) and filters.
 * @typedef {object} IncidentFilters
 * @property {IncidentState | "open" | "all"} state
 * @property {Severity | ""} severity
 * @property {Source | ""} source
 * @property {string} category Exact category, or "".
 * @property {string} node A node of the tree (incidents at it and below), or "".
 * @property {string} q Text in the title, description or category.
 */

/** @type {readonly IncidentState[]} */
export const STATES = ["new", "verified", "assigned", "acknowledged", "on_site", "reopened", "resolved", "closed", "dismissed", "merged"];
/** @type {readonly IncidentState[]} */
export const OPEN_STATES = ["new", "verified", "assigned", "acknowledged", "on_site", "reopened"];
/** @type {readonly Source[]} */
export const SOURCES = ["camera", "worker", "resident", "manual"];
/** @type {readonly Severity[]} */
export const SEVERITIES = ["P1", "P2", "P3", "P4"];
/** @type {IncidentFilters} */
export const NO_FILTERS = { state: "open", severity: "", source: "", category: "", node: "", q: "" };

/** How many incidents the list fetches at most. */
export const LIST_LIMIT = 200;
/** Events arriving within this long cause one fetch (a storm of alerts, one fetch every so often). */
export const REFETCH_EVERY_MS = 250;

/** @param {Incident} inc */
export const isOpen = (inc) => OPEN_STATES.includes(inc.state);
/** Responsibility has climbed above the incident's own grid (or node): a deadline was missed. @param {Incident} inc */
export const isEscalated = (inc) => inc.responsible !== null && inc.responsible !== (inc.grid ?? inc.node);
/** @param {Incident} inc */
export const isEmergency = (inc) => inc.severity === "P1";
/** New, escalated or an emergency, and still open: at the top of the list. @param {Incident} inc */
export const needsAttention = (inc) => isOpen(inc) && (inc.state === "new" || isEscalated(inc) || isEmergency(inc));

/** Where an incident goes in the list: emergencies, escalated, new, the other open ones, finished ones. @param {Incident} i */
function rank(i) {
  if (!isOpen(i)) return 4;
  if (isEmergency(i)) return 0;
  if (isEscalated(i)) return 1;
  return i.state === "new" ? 2 : 3;
}

/**
 * What needs attention first (open emergencies, then escalated, then new incidents), then the
 * other open ones, then the finished ones; the longest waiting first among open ones, the latest
 * first among finished ones.
 * @param {Incident[]} list
 */
export function sortIncidents(list) {
  return [...list].sort((a, b) => {
    const r = rank(a) - rank(b);
    if (r) return r;
    return rank(a) === 4 ? b.updated_at - a.updated_at : a.created_at - b.created_at;
  });
}

/**
 * The query string of the filters (with the state tab's states unless `withState` is false).
 * @param {IncidentFilters} f
 * @param {boolean} [withState]
 */
export function filterQuery(f, withState = true) {
  const q = new URLSearchParams();
  if (withState && f.state !== "all") for (const s of f.state === "open" ? OPEN_STATES : [f.state]) q.append("state", s);
  if (f.severity) q.set("severity", f.severity);
  if (f.source) q.set("source", f.source);
  if (f.category.trim()) q.set("category", f.category.trim());
  if (f.node) q.set("node", f.node);
  if (f.q.trim()) q.set("q", f.q.trim());
  return q;
}

/**
 * The incidents under `filters` (sorted; null until the first answer) and the count per state.
 * @param {IncidentFilters} filters
 */
export function useIncidents(filters) {
  const [incidents, setIncidents] = useState(/** @type {Incident[] | null} */ (null));
  const [counts, setCounts] = useState(/** @type {StateCounts | null} */ (null));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const key = JSON.stringify(filters);
  const current = useRef({ key, seq: 0 });
  current.current.key = key;
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));

  const load = async () => {
    const seq = ++current.current.seq;
    const list = filterQuery(filters);
    list.set("limit", String(LIST_LIMIT));
    try {
      const [found, byState] = await Promise.all([
        api(`/api/incidents?${list}`),
        api(`/api/incidents/counts?${filterQuery(filters, false)}`),
      ]);
      if (seq !== current.current.seq) return; // an answer to older filters
      setIncidents(sortIncidents(found));
      setCounts(byState);
      setError(null);
    } catch (err) {
      if (seq === current.current.seq) setError(err);
    }
  };

  const latest = useRef(load);
  latest.current = load;

  useEffect(() => {
    void load();
    return () => {
      clearTimeout(timer.current);
      timer.current = undefined;
    };
  }, [key]);

  useEventHandler("incident.", () => {
    timer.current ??= setTimeout(() => {
      timer.current = undefined;
      void latest.current(); // with the filters of the moment, not those of the event's render
    }, REFETCH_EVERY_MS);
  });

  return { incidents, counts, error, reload: load };
}
