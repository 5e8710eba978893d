// @ts-check
// The user's preferences kept on the hub (GET /api/me/prefs, PUT /api/me/prefs/{key}): wall
// layouts, patrol tours, the language. Read once per page into a signal every component shares;
// a save shows at once and goes to the hub (any JSON value, up to 64 KiB per key).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";

/** Every preference by key; null until the hub answered (or could not). */
export const prefs = signal(/** @type {Record<string, unknown> | null} */ (null));
/** True once the first load has finished (answered or failed): saved values are known. */
export const prefsLoaded = signal(false);

/** @type {Promise<void> | null} */
let loading = null;

/** Load the preferences (once; later calls share the first). */
export function loadPrefs() {
  if (!loading) {
    loading = api("/api/me/prefs")
      .then((/** @type {Record<string, unknown>} */ all) => {
        prefs.value = { ...all, ...prefs.value }; // a save made meanwhile wins
      })
      .catch(() => {
        prefs.value = prefs.value ?? {};
        loading = null; // try again next time someone asks
      })
      .finally(() => {
        prefsLoaded.value = true;
      });
  }
  return loading;
}

/**
 * Save one preference: shown at once, then sent. Rejects with the client's HttpError if refused.
 * @param {string} key e.g. "wall.layouts"
 * @param {unknown} value Any JSON value.
 */
export async function savePref(key, value) {
  prefs.value = { ...prefs.value, [key]: value };
  await api(`/api/me/prefs/${encodeURIComponent(key)}`, { method: "PUT", body: value });
}

/**
 * One preference: its value (`fallback` until loaded or when never saved) and whether the saved
 * preferences are known yet.
 * @template T
 * @param {string} key
 * @param {T} fallback
 * @returns {{value: T, loaded: boolean}}
 */
export function usePref(key, fallback) {
  useEffect(() => {
    void loadPrefs();
  }, []);
  const all = prefs.value;
  const value = all && key in all ? /** @type {T} */ (all[key]) : fallback;
  return { value, loaded: prefsLoaded.value };
}
