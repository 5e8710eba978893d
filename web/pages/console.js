// @ts-check
// /console: the coordinators' console. Without a login, straight to /login?next=<here>; a user
// who is neither a coordinator nor an administrator goes where they belong (a worker to their
// phone page, everyone else to the desk).
import { html, render } from "htm/preact";
import { hasSession, loadCurrentUser, redirectToLogin } from "../api/client.js";
import { startFeed } from "../api/feed.js";
import { adoptUserLanguage, loadMessages } from "../i18n.js";
import { ConsoleShell } from "../views/console/console-shell.js";

/** Roles the console is for. */
const CONSOLE_ROLES = ["coordinator", "admin"];

/** @param {string[]} roles */
function elsewhere(roles) {
  if (roles.some((r) => CONSOLE_ROLES.includes(r))) return null;
  return roles.includes("worker") ? "/worker" : "/";
}

if (!hasSession()) {
  redirectToLogin();
} else {
  const me = await loadCurrentUser().catch(() => null); // a refused token goes to the login by itself
  const away = me ? elsewhere(me.roles) : null;
  if (away) {
    location.replace(away);
  } else if (me) {
    startFeed();
    await loadMessages("console", "incidents"); // the call panel speaks the incident desk's words
    void adoptUserLanguage();
    render(html`<${ConsoleShell} />`, /** @type {HTMLElement} */ (document.getElementById("app")));
  }
}
