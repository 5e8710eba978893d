// @ts-check
// Leaflet layers of the map: markers made once per thing and then moved and restyled in place
// (an open popup stays open while the feed updates the map), their elements marked with data
// attributes and classes that survive Leaflet re-creating them, and the outlines of the tree.
import * as L from "leaflet";

/** @typedef {import("./map-tree.js").LatLon} LatLon */
/** @typedef {import("./map-tree.js").MapNode} MapNode */

/**
 * What a marker's element carries: attributes and classes (on or off).
 * @typedef {{attrs?: Record<string, string>, classes?: Record<string, boolean>}} Decoration
 */

/** @type {WeakMap<L.Marker, Decoration>} */
const decorations = new WeakMap();

/** @param {L.Marker} marker */
function redecorate(marker) {
  const el = marker.getElement();
  const d = decorations.get(marker);
  if (!el || !d) return;
  for (const [k, v] of Object.entries(d.attrs ?? {})) el.setAttribute(k, v);
  for (const [c, on] of Object.entries(d.classes ?? {})) el.classList.toggle(c, on);
}

/**
 * Mark a marker's element (now, and again whenever Leaflet makes it anew).
 * @param {L.Marker} marker
 * @param {Decoration} d
 */
export function decorate(marker, d) {
  decorations.set(marker, d);
  redecorate(marker);
}

const CAMERA_GLYPH =
  '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">' +
  '<path fill="currentColor" d="M4 7h10a2 2 0 0 1 2 2v1.5l4-2.5v8l-4-2.5V15a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z"/></svg>';

/** Each kind of mark's size (px). */
export const PIN_SIZE = { camera: 30, incident: 24, person: 18 };

/**
 * A marker drawn by the page's CSS (no image files), not in the tab order: the list beside the
 * map is the keyboard's way to each thing.
 * @param {LatLon} at
 * @param {"camera" | "incident" | "person"} kind
 * @param {string} [inner] Markup inside the pin (a glyph; never user text).
 */
export function pin(at, kind, inner = "") {
  const size = PIN_SIZE[kind];
  // An incident sits up and to the right of its point, so that one at a camera leaves the
  // camera's own marker free to click.
  const anchor = kind === "incident" ? [-9, size + 9] : [size / 2, size / 2];
  const icon = L.divIcon({
    className: `map-marker map-marker-${kind}`,
    html: `<span class="map-pin map-pin-${kind}">${inner}</span>`,
    iconSize: [size, size],
    iconAnchor: /** @type {[number, number]} */ (anchor),
    popupAnchor: kind === "incident" ? [size / 2 + 4, -size] : [0, -size / 2],
    tooltipAnchor: kind === "incident" ? [size + 4, -size / 2] : [size / 2, 0],
  });
  const marker = L.marker(at, { icon, keyboard: false, riseOnHover: true, zIndexOffset: kind === "incident" ? 500 : 0 });
  marker.on("add", () => redecorate(marker));
  return marker;
}

/** @param {LatLon} at */
export const cameraPin = (at) => pin(at, "camera", CAMERA_GLYPH);

/** What each marker was last updated from, to skip updates that change nothing. @type {WeakMap<L.Marker, string>} */
const shownFrom = new WeakMap();

/**
 * Add, move and remove markers so that `group` shows `items` (plain data), one marker per key;
 * `update` runs for new markers and for those whose item changed.
 * @template T
 * @param {L.LayerGroup} group
 * @param {Map<string, L.Marker>} store The markers made so far, by key.
 * @param {T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => L.Marker} make
 * @param {(marker: L.Marker, item: T) => void} update
 */
export function syncMarkers(group, store, items, keyOf, make, update) {
  const seen = new Set();
  for (const item of items) {
    const key = keyOf(item);
    seen.add(key);
    let marker = store.get(key);
    if (!marker) {
      marker = make(item);
      store.set(key, marker);
      marker.addTo(group);
    }
    const sig = JSON.stringify(item);
    if (shownFrom.get(marker) !== sig) {
      shownFrom.set(marker, sig);
      update(marker, item);
    }
  }
  for (const [key, marker] of store) {
    if (!seen.has(key)) {
      group.removeLayer(marker);
      store.delete(key);
    }
  }
}

/**
 * Move a marker unless it is already there (moving closes nothing, but costs a repaint).
 * @param {L.Marker} marker
 * @param {LatLon} at
 */
export function moveTo(marker, at) {
  const now = marker.getLatLng();
  if (now.lat !== at[0] || now.lng !== at[1]) marker.setLatLng(at);
}

/**
 * One outline of the tree. `role`: the focused node ("focus", its boundary), a region a click
 * drills into ("region"), or a node further down ("inner", faint, not clickable).
 * @param {MapNode} node
 * @param {"focus" | "region" | "inner"} role
 */
export function outline(node, role) {
  const polygon = L.polygon(/** @type {LatLon[]} */ (node.ring), {
    className: `map-outline map-outline-${role} map-level-${node.level}`,
    interactive: role === "region",
    bubblingMouseEvents: false,
    weight: role === "focus" ? 3 : role === "region" ? 2 : 1,
    fill: role !== "focus",
  });
  polygon.on("add", () => {
    const el = polygon.getElement();
    el?.setAttribute("data-node", node.id);
    el?.setAttribute("data-level", node.level);
    el?.setAttribute("data-role", role);
  });
  return polygon;
}

/**
 * An element with text (never markup from the hub: names and titles are text).
 * @param {string} tag
 * @param {string} cls
 * @param {string} text
 */
export function textElement(tag, cls, text) {
  const el = document.createElement(tag);
  el.className = cls;
  el.textContent = text;
  return el;
}
