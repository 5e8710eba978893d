// @ts-check
// The coordinators' console: a header (app name, user, live feed, language, logout), the
// compose panel, the history of instructions, the one picked (#/instructions/42), and the call
// panel of the desk for a call or briefing started from here.
import { html } from "htm/preact";
import { useEffect } from "preact/hooks";
import { currentUser, logout } from "../../api/client.js";
import { CallPanel } from "../../components/call/call-panel.js";
import { FeedStatus } from "../../components/feed-status.js";
import { LanguageSwitch } from "../../components/language-switch.js";
import { useRoute } from "../../hooks/use-route.js";
import { t } from "../../i18n.js";
import { ComposeForm } from "./compose-form.js";
import { InstructionDetail } from "./instruction-detail.js";
import { InstructionList } from "./instruction-list.js";

export function ConsoleShell() {
  const route = useRoute();
  const picked = route.view === "instructions" && /^\d+$/.test(route.params[0] ?? "") ? Number(route.params[0]) : null;
  useEffect(() => {
    document.title = `${t("console.title")} · ${t("common.appName")}`;
  });
  const me = currentUser.value;
  return html`<div class="desk console">
    <a class="skip-link" href="#console-main">${t("common.skipToContent")}</a>
    <header class="desk-header">
      <h1 class="brand">${t("common.appName")} <span class="brand-page">${t("console.title")}</span></h1>
      <div class="desk-tools">
        <${FeedStatus} />
        <p class="desk-user" title=${me ? me.roles.map((r) => t(`common.role.${r}`)).join(", ") : ""}>
          <span class="visually-hidden">${t("console.user")} </span>${me?.username ?? "…"}
        </p>
        <${LanguageSwitch} />
        <button type="button" class="logout" onClick=${logout}>${t("common.logout")}</button>
      </div>
    </header>
    <main id="console-main" class="console-main" tabindex="-1">
      <${ComposeForm} />
      <div class="console-right">
        ${picked !== null ? html`<${InstructionDetail} key=${picked} id=${picked} />` : null}
        <${InstructionList} selected=${picked} />
      </div>
    </main>
    <${CallPanel} />
  </div>`;
}
