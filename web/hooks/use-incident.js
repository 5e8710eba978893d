// @ts-check
// One incident as its page shows it: GET /api/incidents/{id} (the incident, the caller's allowed
// next steps, evidence, history, deadlines), fetched again (debounced) when one of its events
// arrives on the feed; its transitions (a compare-and-set on the version: a 409 means someone
// else changed it, and the incident is fetched again); and whom to send (suggestions).
import { useEffect, useRef, useState } from "preact/hooks";
import { HttpError, api } from "../api/client.js";
import { useEventHandler } from "./use-events.js";
import { REFETCH_EVERY_MS } from "./use-incidents.js";

/** @typedef {import("./use-incidents.js").Incident} Incident */
/** @typedef {import("./use-incidents.js").IncidentState} IncidentState */
/** @typedef {import("../types/api").HubEvent} HubEvent */

/**
 * A snapshot, clip or photo linked to an incident.
 * @typedef {object} Evidence
 * @property {number} id
 * @property {number} incident_id
 * @property {"snapshot" | "clip" | "photo" | string} kind
 * @property {string | null} path
 * @property {string | null} content_type
 * @property {number | null} size
 * @property {string | null} ref
 * @property {string} added_by
 * @property {number} added_at Unix seconds.
 */

/**
 * A deadline of the incident: assign, acknowledge, arrive or resolve, at a level of the tree.
 * @typedef {object} Deadline
 * @property {number} id
 * @property {number} incident_id
 * @property {"assign" | "ack" | "arrive" | "resolve" | string} kind
 * @property {string | null} level The node answerable for it.
 * @property {number} due_at Unix seconds.
 * @property {number | null} fired_at Missed: when it escalated.
 * @property {number | null} cancelled_at Met or no longer needed.
 */

/**
 * `GET /api/incidents/{id}`.
 * @typedef {object} IncidentPage
 * @property {Incident} incident
 * @property {IncidentState[]} allowed Transitions the caller may make now.
 * @property {Evidence[]} evidence Oldest first.
 * @property {HubEvent[]} history Oldest first.
 * @property {Deadline[]} deadlines
 */

/**
 * A worker whom the hub suggests sending (`GET /api/incidents/{id}/suggestions`).
 * @typedef {object} Suggestion
 * @property {string} id Person id.
 * @property {string} name
 * @property {string[]} roles
 * @property {string[]} grids
 * @property {boolean} on_duty
 * @property {string | null} [username] Their login (what a call is addressed to), if they have one.
 * @property {string} grid The grid they would come from.
 * @property {"own grid" | "neighbouring grid" | string} reason
 */

/**
 * What a transition carries besides `to` and `version`.
 * @typedef {object} TransitionExtra
 * @property {string} [note]
 * @property {{person: string} | {grid: string}} [assignee]
 * @property {number} [merge_into]
 * @property {string} [node]
 */

/** @typedef {"loading" | "ready" | "missing" | "error"} IncidentStatus */

/** An incident number as routes give it, or null. @param {string | undefined} id */
export function incidentNumber(id) {
  return id && /^\d{1,15}$/.test(id) ? Number(id) : null;
}

/**
 * Whether the log holds any event of the incident the caller may read: it does for every incident
 * they may see. Asked first, so that a link to an incident that does not exist (or is not theirs)
 * is told without a refused request.
 * @param {number} id
 */
async function known(id) {
  const page = await api(`/api/events?${new URLSearchParams({ subject: `incident:${id}`, limit: "1" })}`);
  return page.events.length > 0;
}

/**
 * The incident `id` (a route parameter) with its page, kept up to date from the feed.
 * @param {string | undefined} id
 */
export function useIncident(id) {
  const n = incidentNumber(id);
  const [page, setPage] = useState(/** @type {IncidentPage | null} */ (null));
  const [status, setStatus] = useState(/** @type {IncidentStatus} */ ("loading"));
  const [error, setError] = useState(/** @type {unknown} */ (null));
  const seq = useRef(0);
  const found = useRef(false);
  const timer = useRef(/** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined));

  const load = async () => {
    const mine = ++seq.current;
    if (n === null) {
      setStatus("missing");
      return;
    }
    try {
      if (!found.current && !(await known(n))) {
        if (mine === seq.current) setStatus("missing");
        return;
      }
      found.current = true;
      /** @type {IncidentPage} */
      const fresh = await api(`/api/incidents/${n}`);
      if (mine !== seq.current) return;
      setPage(fresh);
      setStatus("ready");
      setError(null);
    } catch (err) {
      if (mine !== seq.current) return;
      setError(err);
      setStatus(err instanceof HttpError && err.status === 404 ? "missing" : "error");
    }
  };

  const latest = useRef(load);
  latest.current = load;

  useEffect(() => {
    found.current = false;
    setPage(null);
    setStatus("loading");
    void load();
    return () => {
      clearTimeout(timer.current);
      timer.current = undefined;
    };
  }, [n]);

  useEventHandler("incident.", (events) => {
    if (!events.some((e) => e.subject === `incident:${n}`)) return;
    timer.current ??= setTimeout(() => {
      timer.current = undefined;
      void latest.current();
    }, REFETCH_EVERY_MS);
  });

  /**
   * Move the incident to `to` from the version shown. Resolves to "done", or to "conflict" after a
   * 409 (the incident has been fetched again); other refusals throw their HttpError.
   * @param {IncidentState} to
   * @param {TransitionExtra} [extra]
   * @returns {Promise<"done" | "conflict">}
   */
  const transition = async (to, extra = {}) => {
    if (!page) throw new Error("no incident loaded");
    try {
      await api(`/api/incidents/${page.incident.id}/transitions`, {
        method: "POST",
        body: { to, version: page.incident.version, ...extra },
      });
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) {
        await load();
        return "conflict";
      }
      throw err;
    }
    await load();
    return "done";
  };

  return { page, status, error, reload: load, transition };
}

/**
 * Whom to send to the incident (staff only: others get an empty list without asking).
 * @param {number | null} id
 * @param {string | null} grid Fetched again when the incident's grid changes.
 * @param {boolean} enabled
 */
export function useIncidentSuggestions(id, grid, enabled) {
  const [list, setList] = useState(/** @type {Suggestion[]} */ ([]));
  useEffect(() => {
    if (!enabled || id === null) {
      setList([]);
      return undefined;
    }
    let live = true;
    api(`/api/incidents/${id}/suggestions`).then(
      (/** @type {Suggestion[]} */ s) => live && setList(s),
      () => live && setList([]),
    );
    return () => {
      live = false;
    };
  }, [id, grid, enabled]);
  return list;
}
