// @ts-check
// The grid worker's phone app: one screen at a time (inbox, my incidents, report, go live) with a
// tab bar under the thumb; over them, whatever must not wait (an emergency, a call ringing, the
// call itself); above them, the connection, what waits in the outbox, on duty, the language.
// Only the inbox is imported before the app is drawn; the rest (worker-later.js) right after.
import { signal } from "@preact/signals";
import { html } from "htm/preact";
import { logout } from "../../api/client.js";
import { LanguageSwitch } from "../../components/language-switch.js";
import { dutyState, onDuty, setOnDuty } from "../../hooks/use-worker-duty.js";
import { channelState, inbox, isOpen } from "../../hooks/use-worker-inbox.js";
import { dismissRefused, flush, outbox, refused, sending } from "../../hooks/use-worker-outbox.js";
import { loadMessages, t } from "../../i18n.js";
import { EmergencyTakeover, InboxView } from "./inbox-view.js";

const SCREENS = /** @type {const} */ (["inbox", "incidents", "report", "live"]);
/** @typedef {typeof SCREENS[number]} Screen */

/** @returns {Screen} */
function fromHash() {
  const h = location.hash.slice(1);
  return /** @type {Screen} */ (SCREENS.includes(/** @type {Screen} */ (h)) ? h : "inbox");
}

const screen = signal(fromHash());
addEventListener("hashchange", () => (screen.value = fromHash()));

/** The screens and layers loaded after the inbox (null until they are); see {@link loadLater}. */
const later = signal(/** @type {typeof import("./worker-later.js") | null} */ (null));
/** Set when they could not be loaded (a start on a failing link): those screens say so. */
const laterFailed = signal(false);

/**
 * Load the calls, incidents, report and go-live parts, and the messages they show. The hub lists
 * their modules in the page's `<template id="skyhub-later">`: put in the head, they are all fetched
 * at once instead of one level of imports per round trip.
 * @returns {Promise<typeof import("./worker-later.js")>}
 */
export async function loadLater() {
  const preloads = document.getElementById("skyhub-later");
  if (preloads instanceof HTMLTemplateElement) document.head.append(preloads.content.cloneNode(true));
  try {
    // Their messages missing (a failing link) shows ids, not nothing: they do not stop the screens.
    const [parts] = await Promise.all([import("./worker-later.js"), loadMessages("incidents").catch(() => {})]);
    later.value = parts;
    return parts;
  } catch (err) {
    laterFailed.value = true;
    throw err;
  }
}

/** Where a screen of the later parts will be. */
function Pending() {
  return html`<section class="worker-screen">
    <p class="empty" role="status">${t(laterFailed.value ? "worker.later.failed" : "worker.later.loading")}</p>
  </section>`;
}

/** @param {Screen} s */
function go(s) {
  history.replaceState(history.state, "", `${location.pathname}${location.search}#${s}`);
  screen.value = s;
}

function OutboxBar() {
  const waiting = outbox.value;
  return html`${refused.value.map(
      (r) => html`<div class="outbox-refused" role="alert" key=${r.key}>
        <span>${t("worker.outbox.refused", { what: r.label, detail: r.error ?? "" })}</span>
        <button type="button" onClick=${() => dismissRefused(r.key)}>${t("worker.outbox.ok")}</button>
      </div>`,
    )}
    ${waiting.length > 0 &&
    html`<div class="outbox-bar" role="status" data-waiting=${waiting.length}>
      <details>
        <summary>${t("worker.outbox.waiting", { count: waiting.length })}</summary>
        <ul>${waiting.map((i) => html`<li key=${i.key}>${t(`worker.outbox.kind.${i.kind}`)}: ${i.label}</li>`)}</ul>
      </details>
      <button type="button" class="outbox-send" disabled=${sending.value} onClick=${flush}>${t("worker.outbox.sendNow")}</button>
    </div>`}`;
}

function Header() {
  const link = channelState.value;
  return html`<header class="worker-head">
    <h1>${t("worker.title")}</h1>
    <p class=${`link-state link-${link}`} id="link-state" role="status">${t(`worker.link.${link}`)}</p>
    <details class="worker-menu">
      <summary>${t("worker.menu")}</summary>
      <div class="worker-menu-body">
        <label class="duty-switch">
          <input type="checkbox" checked=${onDuty.value} onChange=${(/** @type {any} */ e) => setOnDuty(e.currentTarget.checked)} />
          ${t("worker.duty.label")}
        </label>
        <p class="duty-state">${t(`worker.duty.state.${dutyState.value}`)}</p>
        <${LanguageSwitch} id="worker-language" />
        <button type="button" class="big-button" onClick=${logout}>${t("common.logout")}</button>
      </div>
    </details>
  </header>`;
}

export function WorkerApp() {
  const s = screen.value;
  const unread = [...inbox.value.values()].filter(isOpen).length;
  const parts = later.value;
  const counts = { inbox: unread, incidents: parts?.myIncidents.value.length ?? 0, report: 0, live: 0 };
  return html`<div class="worker-app">
    <${Header} />
    ${parts && html`<${parts.LiveBanner} go=${() => go("live")} />`}
    <${OutboxBar} />
    <main id="main" class="worker-main">
      ${s === "inbox" && html`<${InboxView} />`}
      ${s !== "inbox" && !parts && html`<${Pending} />`}
      ${s === "incidents" && parts && html`<${parts.IncidentsView} />`}
      ${s === "report" && parts && html`<${parts.ReportView} />`}
      ${s === "live" && parts && html`<${parts.LiveView} />`}
    </main>
    <nav class="worker-tabs" aria-label=${t("worker.tabs")}>
      ${SCREENS.map(
        (name) => html`<a
          href=${`#${name}`}
          class=${`tab tab-${name}`}
          aria-current=${s === name ? "page" : undefined}
          onClick=${(/** @type {Event} */ e) => {
            e.preventDefault();
            go(name);
          }}
        >
          <span>${t(`worker.tab.${name}`)}</span>
          ${counts[name] > 0 && html`<span class="tab-count">${counts[name]}</span>`}
        </a>`,
      )}
    </nav>
    <${EmergencyTakeover} />
    ${parts && html`<${parts.CallLayer} />`}
  </div>`;
}
