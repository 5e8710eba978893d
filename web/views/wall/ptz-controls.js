// @ts-check
// PTZ controls beside the enlarged camera (cameras whose `ptz` is true: the hub can turn them and
// this user may): four arrows and zoom in/out that move while pressed and stop when released
// (mouse, touch, or Space/Enter held on the button; a screen reader's click moves a short step),
// and a preset number to go to or to store the current view at. What the camera is doing, or why
// the hub refused, is said in a live status line.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { Icon } from "../../components/wall/icons.js";
import { usePtz } from "../../hooks/use-ptz.js";
import { t } from "../../i18n.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {import("../../hooks/use-ptz.js").PtzMove} PtzMove */

/** Speed of a move from the controls (the API takes -1..1). */
const SPEED = 0.5;

/** @type {{name: string, move: PtzMove, icon: string}[]} */
const PAD = [
  { name: "up", move: { tilt: SPEED }, icon: "up" },
  { name: "left", move: { pan: -SPEED }, icon: "left" },
  { name: "right", move: { pan: SPEED }, icon: "right" },
  { name: "down", move: { tilt: -SPEED }, icon: "down" },
];
/** @type {{name: string, move: PtzMove, icon: string}[]} */
const ZOOM = [
  { name: "zoomIn", move: { zoom: SPEED }, icon: "zoomIn" },
  { name: "zoomOut", move: { zoom: -SPEED }, icon: "zoomOut" },
];
const HOLD_KEYS = new Set([" ", "Enter"]);

/**
 * One momentary button: pressed moves, released stops.
 * @param {{control: {name: string, move: PtzMove, icon: string}, ptz: import("../../hooks/use-ptz.js").PtzState, hint: string}} props
 */
function HoldButton({ control, ptz, hint }) {
  const { name, move, icon } = control;
  return html`<button
    type="button"
    class=${`ptz-button ptz-${name}`}
    data-ptz=${name}
    data-held=${ptz.moving === name ? "" : undefined}
    aria-label=${t(`wall.ptz.${name}`)}
    aria-describedby=${hint}
    title=${t(`wall.ptz.${name}`)}
    onPointerDown=${(/** @type {PointerEvent} */ e) => {
      if (e.button !== 0) return;
      /** @type {HTMLElement} */ (e.currentTarget).setPointerCapture(e.pointerId);
      ptz.press(name, move);
    }}
    onPointerUp=${ptz.release}
    onPointerCancel=${ptz.release}
    onLostPointerCapture=${ptz.release}
    onKeyDown=${(/** @type {KeyboardEvent} */ e) => {
      if (!HOLD_KEYS.has(e.key)) return;
      e.preventDefault(); // held, not clicked: no click at the key's release
      if (!e.repeat) ptz.press(name, move);
    }}
    onKeyUp=${(/** @type {KeyboardEvent} */ e) => {
      if (!HOLD_KEYS.has(e.key)) return;
      e.preventDefault();
      ptz.release();
    }}
    onBlur=${() => ptz.moving === name && ptz.release()}
    onClick=${(/** @type {MouseEvent} */ e) => e.detail === 0 && !ptz.moving && ptz.nudge(name, move)}
    onContextMenu=${(/** @type {Event} */ e) => e.preventDefault()}
  >
    <${Icon} name=${icon} />
  </button>`;
}

/**
 * @param {{camera: Camera}} props
 */
export function PtzControls({ camera }) {
  const ptz = usePtz(camera.id);
  const [preset, setPreset] = useState("1");
  const hint = `ptz-hint-${camera.id}`;
  const number = Number(preset);
  const valid = Number.isInteger(number) && number >= 1 && number <= 255;
  let status = "";
  if (ptz.error) status = t("wall.ptz.failed", { detail: ptz.error });
  else if (ptz.moving) status = t("wall.ptz.moving", { what: t(`wall.ptz.${ptz.moving}`) });
  else if (ptz.done) status = t(ptz.done.action === "goto" ? "wall.ptz.wentTo" : "wall.ptz.saved", { n: ptz.done.preset });
  return html`<section class="ptz-controls" aria-label=${t("wall.ptz.label", { name: camera.name })} data-camera=${camera.id}>
    <p id=${hint} class="visually-hidden">${t("wall.ptz.hint")}</p>
    <div class="ptz-pad" role="group" aria-label=${t("wall.ptz.turn")}>
      ${PAD.map((c) => html`<${HoldButton} key=${c.name} control=${c} ptz=${ptz} hint=${hint} />`)}
    </div>
    <div class="ptz-zoom" role="group" aria-label=${t("wall.ptz.zoom")}>
      ${ZOOM.map((c) => html`<${HoldButton} key=${c.name} control=${c} ptz=${ptz} hint=${hint} />`)}
    </div>
    <form
      class="ptz-presets"
      onSubmit=${(/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        if (valid) ptz.preset(number, "goto");
      }}
    >
      <label>
        <span>${t("wall.ptz.preset")}</span>
        <input
          type="number"
          name="preset"
          min="1"
          max="255"
          step="1"
          required
          inputmode="numeric"
          value=${preset}
          onInput=${(/** @type {InputEvent} */ e) => setPreset(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
        />
      </label>
      <button type="submit" disabled=${!valid} aria-label=${t("wall.ptz.gotoLabel", { n: preset })}>${t("wall.ptz.goto")}</button>
      <button type="button" disabled=${!valid} aria-label=${t("wall.ptz.setLabel", { n: preset })} onClick=${() => valid && ptz.preset(number, "set")}>
        ${t("wall.ptz.set")}
      </button>
    </form>
    <p class=${`ptz-status${ptz.error ? " ptz-error" : ""}`} role="status" aria-live="polite">${status}</p>
  </section>`;
}
