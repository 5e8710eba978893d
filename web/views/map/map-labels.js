// @ts-check
// Workers' names on the map: a label on the side of its mark where it is whole and clear. Labels
// sit under the markers (a name never hides a camera or an incident), so a label on the wrong side
// is cut: by the map's edge, or by a marker drawn over its end (on a phone, where the district is
// small, that is the usual case). Each label tries right, left, below and above, and keeps the
// first side where it is whole; where none is, the side where least of it is hidden.
import * as L from "leaflet";

/** @typedef {"right" | "left" | "bottom" | "top"} Side */

/** The sides tried, in order of preference. */
const SIDES = /** @type {Side[]} */ (["right", "left", "bottom", "top"]);
/** Space between the mark's edge and its label (px), the label's arrow included. */
const GAP_PX = 10;

/**
 * The tooltip offset that puts a label on `side` of a round mark `size` px wide whose tooltip
 * anchor is its right edge (as `pin` makes it: `[size / 2, 0]`).
 * @param {Side} side
 * @param {number} size
 * @returns {[number, number]}
 */
export function sideOffset(side, size) {
  const r = size / 2;
  if (side === "right") return [GAP_PX, 0];
  if (side === "left") return [-(GAP_PX + 2 * r), 0];
  if (side === "bottom") return [-r, r + GAP_PX - 4];
  return [-r, -(r + GAP_PX - 4)];
}

/**
 * Area of `a` not inside `box` plus the area of `a` under each of `over`.
 * @param {DOMRect} a
 * @param {DOMRect} box
 * @param {DOMRect[]} over
 */
function hiddenArea(a, box, over) {
  const inter = (/** @type {DOMRect} */ b) =>
    Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
    Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  return a.width * a.height - inter(box) + over.reduce((sum, b) => sum + inter(b), 0);
}

/**
 * Put each open label of `labelled` on its best side; `obstacles` are the markers drawn over
 * labels. Runs after the marks change and after the map moves or zooms (a few labels: cheap).
 * @param {L.Map} map
 * @param {L.Marker[]} labelled
 * @param {L.Marker[]} obstacles
 * @param {number} size The labelled marks' size (px).
 */
export function placeLabels(map, labelled, obstacles, size) {
  const box = map.getContainer().getBoundingClientRect();
  if (!box.width || !box.height) return; // not laid out (a hidden view): next time
  const marks = [...obstacles, ...labelled]
    .map((m) => m.getElement())
    .filter((el) => el !== undefined)
    .map((el) => /** @type {HTMLElement} */ (el).getBoundingClientRect());
  for (const marker of labelled) {
    const tip = marker.getTooltip();
    const el = tip?.getElement();
    if (!tip || !el || !tip.isOpen()) continue;
    let best = /** @type {{side: Side, hidden: number} | null} */ (null);
    for (const side of SIDES) {
      setSide(tip, side, size);
      const hidden = hiddenArea(el.getBoundingClientRect(), box, marks);
      if (!best || hidden < best.hidden) best = { side, hidden };
      if (hidden < 1) break;
    }
    if (best && tip.options.direction !== best.side) setSide(tip, best.side, size);
  }
}

/**
 * @param {L.Tooltip} tip
 * @param {Side} side
 * @param {number} size
 */
function setSide(tip, side, size) {
  tip.options.direction = side;
  tip.options.offset = L.point(sideOffset(side, size));
  tip.update();
}
