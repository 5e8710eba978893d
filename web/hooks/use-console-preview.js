// @ts-check
// Whom the targets being composed reach, as the hub would freeze them now
// (POST /api/instructions/preview), asked again a moment after the targets stop changing.
import { useEffect, useState } from "preact/hooks";
import { HttpError, api } from "../api/client.js";

/** @typedef {import("../types/console").Targets} Targets */
/** @typedef {import("../types/console").Preview} Preview */

/** Wait this long after the last change before asking. */
const PREVIEW_DEBOUNCE_MS = 200;

/** @param {Targets} t */
export function isEmpty(t) {
  return !t.people.length && !t.roles.length && !t.nodes.length;
}

/**
 * @param {Targets} targets
 * @returns {{preview: Preview | null, pending: boolean, error: string | null}}
 */
export function useConsolePreview(targets) {
  const key = JSON.stringify(targets);
  const [state, setState] = useState(
    /** @type {{key: string, preview: Preview | null, error: string | null}} */ ({ key: "", preview: null, error: null }),
  );
  useEffect(() => {
    if (isEmpty(targets)) {
      setState({ key, preview: null, error: null });
      return;
    }
    const abort = new AbortController();
    const timer = setTimeout(() => {
      api("/api/instructions/preview", { method: "POST", body: targets, signal: abort.signal })
        .then((/** @type {Preview} */ preview) => setState({ key, preview, error: null }))
        .catch((/** @type {Error} */ err) => {
          if (abort.signal.aborted) return;
          setState({ key, preview: null, error: err instanceof HttpError ? err.detail : err.message });
        });
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [key]);
  return { preview: state.preview, pending: state.key !== key, error: state.error };
}
