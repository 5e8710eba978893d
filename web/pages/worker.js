// @ts-check
// /worker: the grid worker's phone app. Without a login, to /login?next=/worker. The service
// worker keeps the app shell so that it opens in a dead spot; what the worker does there waits in
// the outbox. The start is made for a slow link: the inbox (the one kept on the phone at once, the
// hub's snapshot asked for first) before anything else, the other screens loaded once it is drawn.
import { effect } from "@preact/signals";
import { html, render } from "htm/preact";
import { hasSession, loadCurrentUser, redirectToLogin } from "../api/client.js";
import { startDuty } from "../hooks/use-worker-duty.js";
import { startInbox } from "../hooks/use-worker-inbox.js";
import { startOutbox } from "../hooks/use-worker-outbox.js";
import { adoptUserLanguage, loadMessages, t } from "../i18n.js";
import { WorkerApp, loadLater } from "../views/worker/worker-app.js";

/** Hand the service worker every file this page loaded from the hub: it keeps them all for a start
 * without a network (it sees only what is fetched after it took over). */
async function keepShell() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/worker-sw.js", { scope: "/worker" });
    const reg = await navigator.serviceWorker.ready;
    const urls = performance
      .getEntriesByType("resource")
      .map((e) => e.name)
      .filter((u) => new URL(u).origin === location.origin && new URL(u).pathname.startsWith("/web/"));
    reg.active?.postMessage({ type: "keep", urls: [...new Set(urls)] });
  } catch {
    // No service worker (a private window, an insecure origin): the app still works online.
  }
}

if (!hasSession()) {
  redirectToLogin();
} else {
  // Nothing waits for the hub before the app is drawn: the inbox kept on the phone shows at once,
  // the snapshot's request goes out first, and the messages were preloaded with the page.
  void startInbox();
  void startOutbox();
  await loadMessages("worker");
  effect(() => {
    document.title = `${t("worker.title")} · ${t("common.appName")}`;
    document.documentElement.lang = t("worker.htmlLang");
  });
  render(html`<${WorkerApp} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
  const user = loadCurrentUser();
  void user.then(() => startDuty()).catch(() => {});
  void Promise.all([loadLater(), user])
    .then(([later]) => {
      later.startCalls();
      later.startIncidents();
    })
    .catch(() => {});
  void adoptUserLanguage();
  if (document.readyState === "complete") void keepShell();
  else addEventListener("load", () => void keepShell());
}
