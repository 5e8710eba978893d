// @ts-check
// The alarm lane at the front of the wall: every camera with an open alert, live, newest alert first,
// with its badge and the alert's zone outlined; a camera whose alerts ended stays a minute, dimmed.
// A screen reader hears each new alert once.
import { html } from "htm/preact";
import { t } from "../../i18n.js";
import { WallTile } from "./wall-tile.js";
import { kindName } from "./alert-badge.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../hooks/use-open-alerts.js").OpenAlert} OpenAlert */

/** Lane tiles that play live; more alerts than this at once show snapshots past them. */
export const LANE_LIVE_MAX = 8;

/**
 * The lane's cameras in order: open alerts first (newest first), then those whose alerts ended.
 * @param {Map<string, OpenAlert[]>} alerts
 * @param {(id: string) => boolean} known
 * @returns {string[]}
 */
export function laneOrder(alerts, known) {
  /** @param {OpenAlert[]} list */
  const rank = (list) => {
    const open = list.filter((a) => a.endedAt === null);
    return open.length ? [1, Math.max(...open.map((a) => a.ts))] : [0, Math.max(...list.map((a) => Number(a.endedAt)))];
  };
  return [...alerts.entries()]
    .filter(([id, list]) => list.length && known(id))
    .map(([id, list]) => ({ id, r: rank(list) }))
    .sort((a, b) => b.r[0] - a.r[0] || b.r[1] - a.r[1])
    .map((x) => x.id);
}

/**
 * @param {{ids: string[], cameras: Map<string, Camera>, alerts: Map<string, OpenAlert[]>,
 *   onEnlarge: (id: string) => void}} props
 */
export function AlarmLane({ ids, cameras, alerts, onEnlarge }) {
  const open = ids.filter((id) => (alerts.get(id) ?? []).some((a) => a.endedAt === null));
  const newest = open.length ? (alerts.get(open[0]) ?? []).filter((a) => a.endedAt === null).pop() : null;
  const announce = newest ? t("wall.lane.announce", { kind: kindName(newest.kind), name: cameras.get(newest.camera)?.name ?? newest.camera }) : "";
  return html`<section class="wall-lane" aria-labelledby="lane-title" data-count=${ids.length}>
    <h3 id="lane-title">${t("wall.lane.title")} <span class="lane-count">${t("wall.lane.count", { count: open.length })}</span></h3>
    <p class="visually-hidden" role="status">${announce}</p>
    <div class="lane-tiles">
      ${ids.map((id, i) => {
        const camera = /** @type {Camera} */ (cameras.get(id));
        return html`<${WallTile}
          key=${id}
          camera=${camera}
          alerts=${alerts.get(id) ?? []}
          where="lane"
          still=${i >= LANE_LIVE_MAX}
          current=${true}
          label=${t("wall.lane.tile", { name: camera.name })}
          onEnlarge=${() => onEnlarge(id)}
        />`;
      })}
    </div>
  </section>`;
}
