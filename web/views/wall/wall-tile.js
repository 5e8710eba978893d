// @ts-check
// One tile of the wall: the camera's picture (live or snapshots), its name, its health, and while
// it has an alert the badge and the alert's zone drawn over the picture. `data-camera` names the
// camera, `data-alert` the kind of its newest open alert. Focusable (the wall moves focus between
// tiles with the arrows); its buttons enlarge it, change its camera or clear it.
import { html } from "htm/preact";
import { Icon } from "../../components/wall/icons.js";
import { t } from "../../i18n.js";
import { AlertBadge } from "./alert-badge.js";
import { AlertReach } from "./alert-reach.js";
import { TileMedia } from "./tile-media.js";
import { ZoneOverlay, zonesOf } from "./zone-overlay.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../hooks/use-open-alerts.js").OpenAlert} OpenAlert */

/**
 * @typedef {object} WallTileProps
 * @property {Camera} camera
 * @property {OpenAlert[]} alerts Its alerts (open, or ended and lingering); [] for none.
 * @property {string} label The tile's accessible name ("Tile 3: Street").
 * @property {string} [where] "grid", "lane", "overview" or "single" (a CSS hook).
 * @property {boolean} [still] Snapshots only (the overview).
 * @property {boolean} [current] The tile the keyboard is on (the one in the tab order).
 * @property {number} [slot] Its place in the grid.
 * @property {() => void} [onFocus]
 * @property {() => void} [onEnlarge]
 * @property {() => void} [onShrink] Shown instead of enlarge on the single camera.
 * @property {() => void} [onChoose]
 * @property {() => void} [onClear]
 */

/** @param {WallTileProps} props */
export function WallTile(props) {
  const { camera, alerts, label, where = "grid", still = false, current = false, slot } = props;
  const open = alerts.filter((a) => a.endedAt === null);
  const newest = open[open.length - 1] ?? null;
  const ended = alerts.length > 0 && !open.length;
  const aspect = camera.width && camera.height ? camera.width / camera.height : 16 / 9;
  const zones = (open.length ? open : alerts).map((a) => a.zone);
  const tab = current ? 0 : -1;
  const classes = ["wall-tile", `tile-${where}`, newest ? "tile-alert" : "", ended ? "tile-alert-ended" : ""];
  return html`<article
    class=${classes.filter(Boolean).join(" ")}
    tabindex=${tab}
    aria-label=${label}
    data-camera=${camera.id}
    data-slot=${slot}
    data-alert=${newest?.kind}
    data-alert-ended=${ended ? "" : undefined}
    data-health=${camera.state}
    onFocus=${(/** @type {FocusEvent} */ e) => e.target === e.currentTarget && props.onFocus?.()}
    onDblClick=${props.onEnlarge ?? props.onShrink}
  >
    <div class="tile-frame">
      <${TileMedia} camera=${camera} still=${still} />
      ${alerts.length > 0 && html`<${ZoneOverlay} zones=${zonesOf(camera.zones)} active=${zones} aspect=${aspect} ended=${ended} />`}
    </div>
    <header class="tile-head">
      <p class="tile-name">${camera.name}</p>
      ${alerts.length > 0 && html`<${AlertBadge} alerts=${alerts} />`}
    </header>
    ${newest && where === "lane" && html`<${AlertReach} camera=${camera} kind=${newest.kind} />`}
    <div class="tile-actions">
      ${props.onChoose &&
      html`<button type="button" tabindex=${tab} onClick=${props.onChoose} aria-label=${t("wall.tile.choose", { name: camera.name })} title=${t("wall.tile.chooseShort")}>
        <${Icon} name="swap" />
      </button>`}
      ${props.onClear &&
      html`<button type="button" tabindex=${tab} onClick=${props.onClear} aria-label=${t("wall.tile.clear", { name: camera.name })} title=${t("wall.tile.clearShort")}>
        <${Icon} name="close" />
      </button>`}
      ${props.onEnlarge &&
      html`<button type="button" tabindex=${tab} onClick=${props.onEnlarge} aria-label=${t("wall.tile.enlarge", { name: camera.name })} title=${t("wall.tile.enlargeShort")}>
        <${Icon} name="enlarge" />
      </button>`}
      ${props.onShrink &&
      html`<button type="button" onClick=${props.onShrink} aria-label=${t("wall.tile.back")} title=${t("wall.tile.back")}>
        <${Icon} name="shrink" />
      </button>`}
    </div>
  </article>`;
}

/**
 * A tile without a camera to show: empty (pick one), moved to the alarm lane, or a camera the hub
 * does not list (any more, or not for this user).
 * @param {{kind: "empty" | "moved" | "missing" | "loading", camera?: string, name?: string, slot: number, label: string,
 *   current?: boolean, onFocus?: () => void, onChoose?: () => void, onClear?: () => void}} props
 */
export function PlaceholderTile({ kind, camera, name, slot, label, current = false, onFocus, onChoose, onClear }) {
  const tab = current ? 0 : -1;
  let text = "";
  if (kind === "moved") text = t("wall.tile.moved", { name: name ?? "" });
  else if (kind === "missing") text = t("wall.tile.missing", { name: name ?? "" });
  else if (kind === "loading") text = t("wall.tile.loading");
  return html`<article
    class=${`wall-tile tile-grid tile-${kind}`}
    tabindex=${tab}
    aria-label=${label}
    data-slot=${slot}
    data-moved=${kind === "moved" ? camera : undefined}
    onFocus=${(/** @type {FocusEvent} */ e) => e.target === e.currentTarget && onFocus?.()}
  >
    <div class="tile-placeholder">
      ${text && html`<p>${text}</p>`}
      ${kind === "empty" && onChoose && html`<button type="button" tabindex=${tab} onClick=${onChoose}>${t("wall.tile.pick")}</button>`}
      ${kind === "missing" && onClear && html`<button type="button" tabindex=${tab} onClick=${onClear}>${t("wall.tile.clearShort")}</button>`}
    </div>
  </article>`;
}
