// @ts-check
// Small line icons for the wall's buttons (drawn in currentColor; the button carries the name).
import { html } from "htm/preact";

/** @type {Record<string, string>} */
const PATHS = {
  enlarge: "M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5",
  shrink: "M9 4v5H4M20 9h-5V4M15 20v-5h5M4 15h5v5",
  swap: "M4 7h12l-3-3M20 17H8l3 3",
  close: "M6 6l12 12M18 6L6 18",
  play: "M8 5v14l11-7z",
  pause: "M8 5v14M16 5v14",
  stop: "M6 6h12v12H6z",
  next: "M6 5l9 7-9 7zM18 5v14",
  prev: "M18 5l-9 7 9 7zM6 5v14",
  cameras: "M3 7h12v10H3zM15 10l6-3v10l-6-3",
  keys: "M3 6h18v12H3zM7 10h1M11 10h1M15 10h1M8 14h8",
  screen: "M3 5h18v12H3zM8 21h8M12 17v4",
  up: "M12 19V5M5 12l7-7 7 7",
  down: "M12 5v14M5 12l7 7 7-7",
  left: "M19 12H5M12 5l-7 7 7 7",
  right: "M5 12h14M12 5l7 7-7 7",
  zoomIn: "M10.5 4a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13zM20 20l-4.9-4.9M7.5 10.5h6M10.5 7.5v6",
  zoomOut: "M10.5 4a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13zM20 20l-4.9-4.9M7.5 10.5h6",
};

/**
 * @param {{name: keyof typeof PATHS | string}} props
 */
export function Icon({ name }) {
  return html`<svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
    <path d=${PATHS[name] ?? ""} fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
  </svg>`;
}
