// @ts-check
// The wall's title and controls: layout (1, 4, 9, 16 tiles), the snapshot overview, named layouts,
// patrol tours, the camera picker, full screen and the keys' help.
import { html } from "htm/preact";
import { Icon } from "../../components/wall/icons.js";
import { t } from "../../i18n.js";
import { LAYOUTS } from "./wall-model.js";

/** Number key of each layout (see use-wall-keys). */
const KEY_OF = /** @type {Record<number, string>} */ ({ 1: "1", 4: "4", 9: "9", 16: "6" });

/**
 * @param {{size: number, overview: boolean, pickerOpen: boolean, children?: any,
 *   onSize: (n: number) => void, onOverview: () => void, onPicker: () => void, onFullscreen: () => void,
 *   onHelp: () => void}} props `children`: the layouts and tours menus.
 */
export function WallToolbar({ size, overview, pickerOpen, children, onSize, onOverview, onPicker, onFullscreen, onHelp }) {
  return html`<div class="wall-toolbar">
    <h2 id="view-title">${t("wall.title")}</h2>
    <div class="layout-buttons" role="group" aria-label=${t("wall.layout.label")}>
      ${LAYOUTS.map(
        (n) => html`<button type="button" class="layout-button" data-size=${n} aria-pressed=${size === n ? "true" : "false"}
          aria-label=${t("wall.layout.tiles", { count: n })} aria-keyshortcuts=${KEY_OF[n]} title=${t("wall.layout.key", { key: KEY_OF[n] })}
          onClick=${() => onSize(n)}>
          <span class=${`layout-glyph layout-glyph-${n}`} aria-hidden="true"></span>${n}
        </button>`,
      )}
    </div>
    <button type="button" class="overview-toggle" aria-pressed=${overview ? "true" : "false"} onClick=${onOverview}>
      ${t("wall.overview.toggle")}
    </button>
    ${children}
    <div class="wall-tools">
      <button type="button" class="picker-toggle" aria-expanded=${pickerOpen ? "true" : "false"} onClick=${onPicker}>
        <${Icon} name="cameras" />${t("wall.picker.open")}
      </button>
      <button type="button" class="icon-button" onClick=${onFullscreen} aria-label=${t("wall.fullscreen")} title=${t("wall.fullscreen")}>
        <${Icon} name="screen" />
      </button>
      <button type="button" class="icon-button help-button" onClick=${onHelp} aria-label=${t("wall.keys.title")}
        aria-keyshortcuts="?" title=${t("wall.keys.title")}>?</button>
    </div>
  </div>`;
}
