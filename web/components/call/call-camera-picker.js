// @ts-check
// Pull a camera into the call: the others see its own packets (no transcoding) in place of our
// video, until we pick our camera again. The choice is the hub's (POST /api/calls/{id}/camera);
// the select shows what the hub says is shown.
import { html } from "htm/preact";
import { showCamera } from "../../hooks/use-call.js";
import { t } from "../../i18n.js";

/**
 * @param {{cameras: {id: string, name: string}[], shown: string | null}} props
 */
export function CallCameraPicker({ cameras, shown }) {
  const known = shown === null || cameras.some((c) => c.id === shown);
  const choices = known || shown === null ? cameras : [...cameras, { id: shown, name: shown }];
  if (!choices.length) return null;
  return html`<label class="call-camera-pick">
    <span>${t("incidents.call.pick.label")}</span>
    <select
      name="call-camera"
      value=${shown ?? ""}
      onChange=${(/** @type {Event} */ e) => void showCamera(/** @type {HTMLSelectElement} */ (e.currentTarget).value || null)}
    >
      <option value="">${t("incidents.call.pick.mine")}</option>
      ${choices.map((c) => html`<option key=${c.id} value=${c.id}>${c.name}</option>`)}
    </select>
  </label>`;
}
