// @ts-check
// /login: the login form, then back to ?next=.
import { effect } from "@preact/signals";
import { html, render } from "htm/preact";
import { loadMessages, t } from "../i18n.js";
import { LoginView } from "../views/login/login-view.js";

await loadMessages("login");
effect(() => {
  document.title = `${t("login.title")} · ${t("common.appName")}`;
});
render(html`<${LoginView} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
