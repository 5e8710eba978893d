// @ts-check
// The live grid: one tile per place of the layout (1, 4, 9 or 16), each with its camera, or empty
// (pick one), or a note that its camera went to the alarm lane, or that the hub no longer lists it.
// One tile is in the tab order at a time; the arrow keys move between them (use-wall-keys).
import { html } from "htm/preact";
import { t } from "../../i18n.js";
import { PlaceholderTile, WallTile } from "./wall-tile.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../hooks/use-open-alerts.js").OpenAlert} OpenAlert */

/**
 * @typedef {object} WallGridProps
 * @property {Array<string | null>} slots The camera of each tile (as many as the layout has).
 * @property {Map<string, Camera> | null} cameras The hub's cameras by id (null while loading).
 * @property {Set<string>} inLane Cameras shown in the alarm lane (not here again).
 * @property {Map<string, OpenAlert[]>} alerts
 * @property {number} current The tile in the tab order.
 * @property {boolean} locked A patrol tour decides the cameras: no changing or clearing tiles.
 * @property {(i: number) => void} onCurrent
 * @property {(id: string) => void} onEnlarge
 * @property {(i: number) => void} onChoose
 * @property {(i: number) => void} onClear
 */

/** @param {WallGridProps} props */
export function WallGrid({ slots, cameras, inLane, alerts, current, locked, onCurrent, onEnlarge, onChoose, onClear }) {
  const size = slots.length;
  const tiles = slots.map((id, i) => {
    const camera = id && cameras ? cameras.get(id) : undefined;
    const label = t("wall.tile.label", { tile: i + 1, name: id ? (camera?.name ?? id) : t("wall.tile.empty") });
    const common = { slot: i, label, current: i === current, onFocus: () => onCurrent(i) };
    const choose = locked ? undefined : () => onChoose(i);
    const clear = locked ? undefined : () => onClear(i);
    if (!id) return html`<${PlaceholderTile} key=${`empty-${i}`} kind="empty" ...${common} onChoose=${choose} />`;
    if (!cameras) return html`<${PlaceholderTile} key=${`loading-${i}`} kind="loading" ...${common} />`;
    if (!camera) return html`<${PlaceholderTile} key=${`missing-${i}`} kind="missing" name=${id} ...${common} onClear=${clear} />`;
    if (inLane.has(id)) {
      return html`<${PlaceholderTile} key=${`moved-${id}`} kind="moved" camera=${id} name=${camera.name} ...${common} />`;
    }
    return html`<${WallTile}
      key=${id}
      camera=${camera}
      alerts=${alerts.get(id) ?? []}
      ...${common}
      onEnlarge=${() => onEnlarge(id)}
      onChoose=${choose}
      onClear=${clear}
    />`;
  });
  return html`<div class="wall-grid" role="group" aria-label=${t("wall.grid", { count: size })} data-size=${size}
    style=${`--cols: ${Math.sqrt(size)}`}>
    ${tiles}
  </div>`;
}
