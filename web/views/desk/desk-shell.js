// @ts-check
// The dispatchers' desk: a header (app name, user, live-feed state, language, logout), tabs for
// the views as in-page routes (#/wall, #/incidents, #/incidents/42, #/map), and the view.
import { html } from "htm/preact";
import { useEffect } from "preact/hooks";
import { currentUser, logout } from "../../api/client.js";
import { CallPanel } from "../../components/call/call-panel.js";
import { FeedStatus } from "../../components/feed-status.js";
import { LanguageSwitch } from "../../components/language-switch.js";
import { redirectRoute, routeHref, useRoute } from "../../hooks/use-route.js";
import { t } from "../../i18n.js";
import { IncidentsView } from "../incidents/incidents-view.js";
import { MapView } from "../map/map-view.js";
import { WallView } from "../wall/wall-view.js";

/** The desk's views, in tab order. */
export const DESK_VIEWS = ["wall", "incidents", "map"];
const DEFAULT_VIEW = "wall";

export function DeskShell() {
  const route = useRoute();
  const known = DESK_VIEWS.includes(route.view);
  useEffect(() => {
    if (!known) redirectRoute(DEFAULT_VIEW);
  }, [known]);
  useEffect(() => {
    document.title = `${t(`desk.nav.${known ? route.view : DEFAULT_VIEW}`)} · ${t("common.appName")}`;
  });
  const me = currentUser.value;

  let view = null;
  if (route.view === "wall") view = html`<${WallView} />`;
  else if (route.view === "incidents") view = html`<${IncidentsView} id=${route.params[0]} />`;
  else if (route.view === "map") view = html`<${MapView} />`;

  return html`<div class="desk">
    <a class="skip-link" href="#desk-main">${t("common.skipToContent")}</a>
    <header class="desk-header">
      <h1 class="brand">${t("common.appName")}</h1>
      <nav class="desk-nav" aria-label=${t("desk.nav.label")}>
        <ul>
          ${DESK_VIEWS.map(
            (v) => html`<li>
              <a href=${routeHref(v)} aria-current=${route.view === v ? "page" : undefined}>${t(`desk.nav.${v}`)}</a>
            </li>`,
          )}
        </ul>
      </nav>
      <div class="desk-tools">
        <${FeedStatus} />
        <p class="desk-user" title=${me ? me.roles.map((r) => t(`common.role.${r}`)).join(", ") : ""}>
          <span class="visually-hidden">${t("desk.user")} </span>${me?.username ?? "…"}
        </p>
        <${LanguageSwitch} />
        <button type="button" class="logout" onClick=${logout}>${t("common.logout")}</button>
      </div>
    </header>
    <main id="desk-main" class="desk-main" tabindex="-1">${view}</main>
    <${CallPanel} />
  </div>`;
}
