// @ts-check
// Routes inside a page, in the address's hash: #/wall, #/incidents, #/incidents/42, #/map.
import { signal } from "@preact/signals";

/**
 * @typedef {object} Route
 * @property {string} view The first part: "wall", "incidents", "map"… ("" for none).
 * @property {string[]} params The parts after it, decoded (["42"] for #/incidents/42).
 * @property {string} path The whole route, "/incidents/42".
 */

/**
 * The route of a hash such as "#/incidents/42".
 * @param {string} hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const path = hash.replace(/^#/, "") || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { view: parts[0] ?? "", params: parts.slice(1), path: `/${parts.map(encodeURIComponent).join("/")}` };
}

const route = signal(parseRoute(location.hash));
window.addEventListener("hashchange", () => {
  route.value = parseRoute(location.hash);
});

/** The current in-page route; the component re-renders when it changes. */
export function useRoute() {
  return route.value;
}

/**
 * The href of a route ("#/incidents/42" from "incidents", 42).
 * @param {...(string | number)} parts
 */
export function routeHref(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(String(p))).join("/")}`;
}

/**
 * Go to a route (adds a history entry, like following a link).
 * @param {...(string | number)} parts
 */
export function navigate(...parts) {
  location.hash = routeHref(...parts);
}

/**
 * Replace the current route without a history entry (a default view).
 * @param {...(string | number)} parts
 */
export function redirectRoute(...parts) {
  history.replaceState(history.state, "", routeHref(...parts));
  route.value = parseRoute(location.hash);
}
