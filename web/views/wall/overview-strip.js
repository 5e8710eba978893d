// @ts-check
// The rest of the wall at a glance: the cameras not in a live tile (up to 48), as snapshots
// refreshed every few seconds. Enter or a double click shows one live, full size.
import { html } from "htm/preact";
import { t } from "../../i18n.js";
import { STILL_INTERVAL_S } from "./tile-media.js";
import { WallTile } from "./wall-tile.js";

/** @typedef {import("../../types/api").Camera} Camera */

/**
 * @param {{ids: string[], cameras: Map<string, Camera>, current: number, onCurrent: (i: number) => void,
 *   onEnlarge: (id: string) => void}} props
 */
export function OverviewStrip({ ids, cameras, current, onCurrent, onEnlarge }) {
  return html`<section class="wall-overview" aria-labelledby="overview-title" data-count=${ids.length}>
    <h3 id="overview-title">
      ${t("wall.overview.title")}
      ${ids.length > 0 && html` <span class="overview-note">${t("wall.overview.note", { count: ids.length, seconds: STILL_INTERVAL_S })}</span>`}
    </h3>
    ${ids.length
      ? html`<div class="overview-tiles">
          ${ids.map((id, i) => {
            const camera = /** @type {Camera} */ (cameras.get(id));
            return html`<${WallTile}
              key=${id}
              camera=${camera}
              alerts=${[]}
              where="overview"
              still=${true}
              current=${i === Math.min(current, ids.length - 1)}
              label=${t("wall.overview.tile", { name: camera.name })}
              onFocus=${() => onCurrent(i)}
              onEnlarge=${() => onEnlarge(id)}
            />`;
          })}
        </div>`
      : html`<p class="overview-empty">${t("wall.overview.empty")}</p>`}
  </section>`;
}
