// @ts-check
// The video wall (placeholder: the wall's tiles come here, built on components/player/).
import { html } from "htm/preact";
import { t } from "../../i18n.js";

export function WallView() {
  return html`<section class="view view-wall" aria-labelledby="view-title">
    <h2 id="view-title">${t("desk.wall.title")}</h2>
    <p class="placeholder">${t("desk.wall.placeholder")}</p>
  </section>`;
}
