// @ts-check
// The outline of the zones an alert is about, drawn over the camera's picture: the camera's zones
// (GET /api/cameras: `{id, kind, polygon}` in 0..1 picture coordinates) scaled to where the picture
// sits in the tile (letterboxed by its own aspect ratio). A camera-wide alert outlines the picture.
import { html } from "htm/preact";

/** @typedef {{id: string, kind: string, polygon: number[][]}} Zone */
/** The zone id of an alert about the whole picture (tamper, motion without zones). */
export const CAMERA_ZONE = "camera";

/**
 * The camera's zones, checked (the list is `unknown` in the camera's type).
 * @param {unknown} zones
 * @returns {Zone[]}
 */
export function zonesOf(zones) {
  if (!Array.isArray(zones)) return [];
  return zones.filter(
    (z) => z && typeof z.id === "string" && Array.isArray(z.polygon) && z.polygon.every((/** @type {unknown} */ p) => Array.isArray(p)),
  );
}

/**
 * @param {{zones: Zone[], active: string[], aspect: number, ended?: boolean}} props
 *   `active`: the zone ids to outline ("camera" for the whole picture); `aspect`: width / height.
 */
export function ZoneOverlay({ zones, active, aspect, ended = false }) {
  const shown = zones.filter((z) => active.includes(z.id));
  const whole = active.includes(CAMERA_ZONE) || active.some((id) => !zones.some((z) => z.id === id));
  if (!shown.length && !whole) return null;
  return html`<svg
    class=${`zone-overlay${ended ? " zone-ended" : ""}`}
    style=${`--aspect: ${aspect}`}
    viewBox="0 0 1 1"
    preserveAspectRatio="none"
    aria-hidden="true"
    data-zones=${active.join(" ")}
  >
    ${whole && html`<rect class="zone-shape zone-camera" x="0.004" y="0.006" width="0.992" height="0.988" />`}
    ${shown.map((z) =>
      z.polygon.length === 2
        ? html`<polyline class="zone-shape zone-line" data-zone=${z.id} points=${z.polygon.map((p) => p.join(",")).join(" ")} />`
        : html`<polygon class="zone-shape" data-zone=${z.id} data-kind=${z.kind} points=${z.polygon.map((p) => p.join(",")).join(" ")} />`,
    )}
  </svg>`;
}
