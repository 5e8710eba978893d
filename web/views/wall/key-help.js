// @ts-check
// The wall's keys, in a dialog opened with "?" or the keyboard button; Escape closes it.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import { t } from "../../i18n.js";

/** [keys shown, what they do] as message ids. */
const KEYS = [
  [["←", "→", "↑", "↓"], "wall.keys.arrows"],
  [["Enter"], "wall.keys.enter"],
  [["Esc"], "wall.keys.escape"],
  [["1", "4", "9", "6"], "wall.keys.layouts"],
  [["wall.keys.space"], "wall.keys.pause"],
  [["?"], "wall.keys.help"],
];

/** @param {{onClose: () => void}} props */
export function KeyHelp({ onClose }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);
  return html`<dialog ref=${dialog} class="wall-dialog key-help" aria-labelledby="key-help-title" onClose=${onClose}>
    <h3 id="key-help-title">${t("wall.keys.title")}</h3>
    <dl>
      ${KEYS.map(
        ([keys, what]) => html`<div class="key-row">
          <dt>${/** @type {string[]} */ (keys).map((k) => html`<kbd>${k.startsWith("wall.") ? t(k) : k}</kbd>`)}</dt>
          <dd>${t(/** @type {string} */ (what))}</dd>
        </div>`,
      )}
    </dl>
    <form method="dialog" class="dialog-buttons">
      <button type="submit" class="primary" autofocus>${t("wall.close")}</button>
    </form>
  </dialog>`;
}
