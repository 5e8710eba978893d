// @ts-check
// Go live: the back camera to the desk over WHIP, with an unmistakable "you are live" state and a
// one-tap stop. A desk's request to go live shows here (and as a banner on every screen).
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import { goLiveAsk } from "../../hooks/use-worker-inbox.js";
import { goLive, liveProblem, liveState, liveStream, stopLive } from "../../hooks/use-worker-live.js";
import { t } from "../../i18n.js";

function Preview() {
  const ref = useRef(/** @type {HTMLVideoElement | null} */ (null));
  const stream = liveStream.value;
  useEffect(() => {
    if (ref.current) ref.current.srcObject = stream;
  }, [stream]);
  return html`<video class="live-preview" ref=${ref} autoplay muted playsinline aria-label=${t("worker.live.preview")}></video>`;
}

export function LiveView() {
  const state = liveState.value;
  const start = () => {
    goLiveAsk.value = null;
    void goLive();
  };
  return html`<section class="worker-screen" aria-labelledby="live-title">
    <h2 id="live-title" class="screen-title">${t("worker.live.title")}</h2>
    <p>${t("worker.live.explain")}</p>
    ${state === "live"
      ? html`<div class="live-on" data-live="on">
          <p class="live-badge" role="status">${t("worker.live.on")}</p>
          <${Preview} />
          <button type="button" class="big-button danger live-stop" onClick=${() => stopLive()}>${t("worker.live.stop")}</button>
        </div>`
      : html`<button type="button" class="big-button primary live-start" disabled=${state === "starting"} onClick=${start}>
          ${state === "starting" ? t("worker.live.starting") : t("worker.live.start")}
        </button>`}
    ${state === "failed" && html`<p class="form-error" role="alert">${t("worker.live.failed", { detail: liveProblem.value })}</p>`}
  </section>`;
}

/** On any screen: the desk asked to see; and while live, a bar that says so with its stop. */
/** @param {{go: () => void}} props */
export function LiveBanner({ go }) {
  if (liveState.value === "live") {
    return html`<div class="live-bar" role="status">
      <span>${t("worker.live.on")}</span>
      <button type="button" class="live-stop" onClick=${() => stopLive()}>${t("worker.live.stop")}</button>
    </div>`;
  }
  const ask = goLiveAsk.value;
  if (!ask) return null;
  return html`<div class="live-ask" role="alert">
    <span>${ask.from ? t("worker.live.askedBy", { name: ask.from }) : t("worker.live.asked")}${ask.note ? html`<br />“${ask.note}”` : null}</span>
    <button type="button" class="primary" onClick=${() => { goLiveAsk.value = null; go(); void goLive(); }}>${t("worker.live.start")}</button>
    <button type="button" onClick=${() => (goLiveAsk.value = null)}>${t("worker.live.notNow")}</button>
  </div>`;
}
