// @ts-check
// The live feed's state, for the "live / reconnecting…" badge.
import { feedStatus } from "../api/feed.js";

/** "connecting" | "live" | "reconnecting" | "stopped"; the component re-renders when it changes. */
export function useFeedStatus() {
  return feedStatus.value;
}
