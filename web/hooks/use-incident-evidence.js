// @ts-check
// One evidence file of an incident on screen: GET /api/incidents/{id}/evidence/{evidence_id} needs
// the bearer token, so it is fetched as a blob through the client and shown from an object URL
// (revoked when no longer shown). An alert's clip is linked when the alert starts and written
// after its post-roll: until then the hub answers 404 with Retry-After, and the file is asked for
// again after that long.
import { useEffect, useState } from "preact/hooks";
import { HttpError, blob } from "../api/client.js";

/** @typedef {"waiting" | "loading" | "ready" | "writing" | "missing" | "error"} EvidenceState */

/** Retry a clip still being written after at least this long, at most this long. */
const WRITING_RETRY_MIN_S = 1;
const WRITING_RETRY_MAX_S = 30;

/**
 * The object URL of an evidence file and where its loading stands; nothing is fetched until
 * `enabled` (the tile is on screen).
 * @param {number} incidentId
 * @param {number} evidenceId
 * @param {boolean} enabled
 * @returns {{url: string | null, state: EvidenceState}}
 */
export function useEvidenceFile(incidentId, evidenceId, enabled) {
  const [url, setUrl] = useState(/** @type {string | null} */ (null));
  const [state, setState] = useState(/** @type {EvidenceState} */ ("waiting"));

  useEffect(() => {
    if (!enabled) return undefined;
    let stopped = false;
    /** @type {string | null} */
    let made = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const controller = new AbortController();
    const fetchIt = async () => {
      setState((s) => (s === "writing" ? s : "loading"));
      try {
        const file = await blob(`/api/incidents/${incidentId}/evidence/${evidenceId}`, { signal: controller.signal });
        if (stopped) return;
        made = URL.createObjectURL(file);
        setUrl(made);
        setState("ready");
      } catch (err) {
        if (stopped) return;
        if (err instanceof HttpError && err.status === 404 && err.retryAfterS !== null) {
          setState("writing");
          const wait = Math.min(Math.max(err.retryAfterS, WRITING_RETRY_MIN_S), WRITING_RETRY_MAX_S);
          timer = setTimeout(fetchIt, wait * 1000);
        } else setState(err instanceof HttpError && err.status === 404 ? "missing" : "error");
      }
    };
    void fetchIt();
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
      if (made) URL.revokeObjectURL(made);
      setUrl(null);
    };
  }, [incidentId, evidenceId, enabled]);

  return { url, state };
}
