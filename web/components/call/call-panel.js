// @ts-check
// The call of this page (hooks/use-call.js) as a panel docked at the edge of the screen: the other
// side's video and our own, who is in it, the microphone and camera switches, a camera of the place
// shown in place of our video, hang up. A briefing shows who has joined and the floor (given and
// taken back from here), lets the speaker show any camera of the place, and ends for everyone.
// After a reload the panel comes back with the call; a call of ours that no page has is offered.
// Messages are the incidents screen's (`incidents.call.*`): a page that mounts this panel loads
// that screen's messages.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { currentUser } from "../../api/client.js";
import {
  dismissCall,
  hangUpCall,
  phaseOf,
  rejoinHere,
  setCamera,
  setMic,
  showCamera,
  useCall,
  useCallHost,
} from "../../hooks/use-call.js";
import { useCallPlace } from "../../hooks/use-call-place.js";
import { formatDateTime, t } from "../../i18n.js";
import { BriefingFloor } from "./briefing-floor.js";
import { CallCameraPicker } from "./call-camera-picker.js";
import { CallAudio, CallVideo } from "./call-media.js";

/** @typedef {import("../../hooks/use-call.js").CallSession} CallSession */

/** Why a call ended, in words (the hub says it in English: "hung up by worker1", "no answer"). @param {string} reason */
export function endedText(reason) {
  const by = /^(hung up|declined) by (.+)$/.exec(reason);
  if (by) return t(by[1] === "declined" ? "incidents.call.endedDeclined" : "incidents.call.endedHungUp", { name: by[2] });
  if (reason === "no answer") return t("incidents.call.endedNoAnswer");
  return reason ? t("incidents.call.endedBecause", { reason }) : t("incidents.call.ended");
}

/** @param {CallSession} s */
function statusText(s) {
  const phase = phaseOf(s);
  if (phase === "ended") return endedText(s.endedReason ?? "");
  if (phase === "failed") return t(`incidents.call.problem.${s.problem ?? "failed"}`, { name: s.targetLabel });
  if (phase === "ringing") return t("incidents.call.ringing", { name: s.targetLabel });
  if (phase === "away") return t("incidents.call.away");
  if (phase === "connected" && s.kind === "briefing") {
    const joined = (s.call?.members ?? []).filter((m) => m.role === "listener" && m.state === "accepted").length;
    return t("incidents.call.briefingLive", { count: joined });
  }
  return t(`incidents.call.phase.${phase}`);
}

/** Until when the hub keeps our place, when our media is away from it. @param {CallSession} s */
function keptUntil(s) {
  const me = currentUser.value?.username;
  const by = s.call?.members.find((m) => m.username === me)?.rejoin_by;
  return by ? t("incidents.call.keptUntil", { time: formatDateTime(by * 1000, { timeStyle: "medium" }) }) : "";
}

/** @param {{session: CallSession}} props */
function Controls({ session: s }) {
  const live = !["ended", "failed"].includes(phaseOf(s));
  if (!live) {
    return html`<div class="call-controls">
      <button type="button" onClick=${dismissCall}>${t("incidents.call.close")}</button>
    </div>`;
  }
  if (phaseOf(s) === "away") {
    return html`<div class="call-controls">
      <button type="button" class="primary call-rejoin" onClick=${() => void rejoinHere()}>${t("incidents.call.rejoin")}</button>
      <button type="button" class="danger call-hangup" onClick=${hangUpCall}>
        ${s.kind === "briefing" && s.role === "speaker" ? t("incidents.call.endBriefing") : t("incidents.call.hangUp")}
      </button>
    </div>`;
  }
  const hasCamera = Boolean(s.local?.getVideoTracks().length);
  const offer = s.cameraOffer;
  const owner = s.role === "call" || s.role === "speaker";
  return html`<div class="call-controls">
    <button type="button" aria-pressed=${!s.micOn} onClick=${() => setMic(!s.micOn)}>
      ${s.micOn ? t("incidents.call.mute") : t("incidents.call.unmute")}
    </button>
    ${hasCamera &&
    html`<button type="button" aria-pressed=${!s.camOn} onClick=${() => setCamera(!s.camOn)}>
      ${s.camOn ? t("incidents.call.cameraOff") : t("incidents.call.cameraOn")}
    </button>`}
    ${offer &&
    owner &&
    s.call &&
    html`<button
      type="button"
      class="call-show-camera"
      aria-pressed=${s.cameraShown === offer.id}
      onClick=${() => showCamera(s.cameraShown === offer.id ? null : offer.id)}
    >
      ${s.cameraShown === offer.id ? t("incidents.call.showMe") : t("incidents.call.showCamera", { name: offer.name })}
    </button>`}
    <button type="button" class="danger call-hangup" onClick=${hangUpCall}>
      ${s.kind === "briefing" && s.role === "speaker" ? t("incidents.call.endBriefing") : t("incidents.call.hangUp")}
    </button>
  </div>`;
}

/** The panel; renders nothing while there is no call. */
export function CallPanel() {
  useCallHost();
  const s = useCall();
  // Folded, the panel is a bar with the controls: the page under it stays usable.
  const [folded, setFolded] = useState(false);
  const place = useCallPlace(s?.kind === "briefing" ? (s.call?.node ?? null) : null);
  if (!s) return null;
  const phase = phaseOf(s);
  const briefing = s.kind === "briefing";
  const title = briefing ? t("incidents.call.briefingTitle", { name: s.targetLabel }) : t("incidents.call.title", { name: s.targetLabel });
  const problem = s.problem && phase !== "failed" ? t(`incidents.call.problem.${s.problem}`, { name: s.targetLabel }) : "";
  const over = phase === "ended" || phase === "failed";
  const away = phase === "away";
  const open = !folded || over || away;
  const speaker = s.role === "speaker";
  const shownName = place.cameras.find((c) => c.id === s.cameraShown)?.name ?? s.cameraOffer?.name ?? s.cameraShown ?? "";
  return html`<section
    class=${`call-panel call-${s.kind} phase-${phase}${open ? "" : " folded"}`}
    aria-labelledby="call-panel-title"
    data-call=${s.call?.id}
    data-phase=${phase}
  >
    <header class="call-head">
      <h2 id="call-panel-title">${title}</h2>
      ${!over &&
      !away &&
      html`<button type="button" class="call-fold" aria-expanded=${open} aria-controls="call-panel-body" onClick=${() => setFolded(open)}>
        ${open ? t("incidents.call.fold") : t("incidents.call.unfold")}
      </button>`}
      <p class="call-status" role="status">${statusText(s)}</p>
      ${s.detail && phase === "failed" && s.problem === "failed" && html`<p class="call-detail">${s.detail}</p>`}
      ${away && html`<p class="call-detail">${keptUntil(s)}</p>`}
    </header>
    <div id="call-panel-body" hidden=${!open}>
    ${!over &&
    !away &&
    html`<div class="call-stage">
      ${!briefing &&
      (s.remoteVideo
        ? html`<${CallVideo} class="call-remote" stream=${s.remoteVideo} label=${t("incidents.call.theirVideo", { name: s.targetLabel })} />`
        : html`<div class="call-remote call-waiting"><span>${t("incidents.call.waitingVideo", { name: s.targetLabel })}</span></div>`)}
      ${s.local &&
      html`<${CallVideo}
        class=${`call-self${s.camOn ? "" : " off"}${briefing ? " call-self-large" : ""}`}
        stream=${s.local}
        label=${t("incidents.call.myVideo")}
      />`}
      ${s.cameraShown && html`<p class="call-camera-note">${t("incidents.call.cameraShown", { name: shownName })}</p>`}
    </div>`}
    ${briefing &&
    s.call &&
    !over &&
    html`<${BriefingFloor} call=${s.call} speaker=${speaker && !away} me=${currentUser.value?.username ?? ""} names=${place.names} />`}
    ${briefing && speaker && s.call && !over && !away && html`<${CallCameraPicker} cameras=${place.cameras} shown=${s.cameraShown} />`}
    </div>
    ${s.remoteAudio.map((a) => html`<${CallAudio} key=${a.id} stream=${a} />`)}
    ${problem && html`<p class="form-error" role="alert">${problem}${s.detail ? `: ${s.detail}` : ""}</p>`}
    <${Controls} session=${s} />
  </section>`;
}
