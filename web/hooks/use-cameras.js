// @ts-check
// The cameras the user may see (GET /api/cameras), refreshed on camera events and every few seconds
// (health figures change without events).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";
import { onEvents } from "../api/feed.js";

/** @typedef {import("../types/api").Camera} Camera */

export const CAMERAS_REFRESH_MS = 5000;

const cameras = signal(/** @type {Camera[] | null} */ (null));
let users = 0;
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;
/** @type {(() => void) | undefined} */
let unsubscribe;

async function refresh() {
  try {
    cameras.value = await api("/api/cameras");
  } catch {
    /* keeps the last list; the client handles a refused login */
  }
}

/** The cameras (null until the first answer); one poll is shared by every component using it. */
export function useCameras() {
  useEffect(() => {
    if (users++ === 0) {
      void refresh();
      timer = setInterval(refresh, CAMERAS_REFRESH_MS);
      unsubscribe = onEvents("camera.", () => void refresh());
    }
    return () => {
      if (--users === 0) {
        clearInterval(timer);
        unsubscribe?.();
      }
    };
  }, []);
  return cameras.value;
}
