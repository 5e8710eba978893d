// @ts-check
// /worker: the grid worker's phone app. Without a login, to /login?next=/worker. The service
// worker keeps the app shell so that it opens in a dead spot; what the worker does there waits in
// the outbox.
import { effect } from "@preact/signals";
import { html, render } from "htm/preact";
import { hasSession, loadCurrentUser, redirectToLogin } from "../api/client.js";
import { startDuty } from "../hooks/use-worker-duty.js";
import { startInbox } from "../hooks/use-worker-inbox.js";
import { startOutbox } from "../hooks/use-worker-outbox.js";
import { adoptUserLanguage, loadMessages, t } from "../i18n.js";
import { startCalls } from "../views/worker/call-screen.js";
import { startIncidents } from "../views/worker/incidents-view.js";
import { WorkerApp } from "../views/worker/worker-app.js";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/worker-sw.js", { scope: "/worker" }).catch(() => {});
}

if (!hasSession()) {
  redirectToLogin();
} else {
  await loadMessages("worker", "incidents");
  effect(() => {
    document.title = `${t("worker.title")} · ${t("common.appName")}`;
    document.documentElement.lang = t("worker.htmlLang");
  });
  render(html`<${WorkerApp} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
  void loadCurrentUser()
    .then(() => {
      startCalls();
      startIncidents();
      startDuty();
    })
    .catch(() => {});
  void adoptUserLanguage();
  void startInbox();
  void startOutbox();
}
