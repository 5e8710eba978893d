// @ts-check
// /: the dispatchers' desk. Without a login, straight to /login?next=<here>.
import { html, render } from "htm/preact";
import { hasSession, loadCurrentUser, redirectToLogin } from "../api/client.js";
import { startFeed } from "../api/feed.js";
import { adoptUserLanguage, loadMessages } from "../i18n.js";
import { DeskShell } from "../views/desk/desk-shell.js";

if (!hasSession()) {
  redirectToLogin();
} else {
  void loadCurrentUser().catch(() => {}); // a refused token goes to the login by itself
  startFeed();
  await loadMessages("desk", "wall", "incidents", "map");
  void adoptUserLanguage();
  render(html`<${DeskShell} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
}
