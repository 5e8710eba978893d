// @ts-check
// Events from the live feed, by event-type prefix ("incident.", "camera.", "" for all).
import { useEffect, useRef } from "preact/hooks";
import { eventsOf, onEvents } from "../api/feed.js";

/** @typedef {import("../types/api").HubEvent} HubEvent */

/**
 * The recent events whose type starts with `prefix`, oldest first (at most KEEP_EVENTS).
 * @param {string} prefix
 * @returns {HubEvent[]}
 */
export function useEvents(prefix) {
  return eventsOf(prefix).value;
}

/**
 * Run `handler` for every new batch of events whose type starts with `prefix`, each event once
 * (for views that keep their own state: counts, a table patched in place).
 * @param {string} prefix
 * @param {(events: HubEvent[]) => void} handler
 */
export function useEventHandler(prefix, handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => onEvents(prefix, (events) => latest.current(events)), [prefix]);
}
