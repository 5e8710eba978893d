// @ts-check
// The call of this page (hooks/use-call.js) as a panel docked at the edge of the screen: the other
// side's video and our own, who is in it, the microphone and camera switches, a camera of the place
// shown in place of our video, hang up. A briefing shows who has joined and ends for everyone.
// Messages are the incidents screen's (`incidents.call.*`): a page that mounts this panel loads
// that screen's messages.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import {
  dismissCall,
  hangUpCall,
  phaseOf,
  setCamera,
  setMic,
  showCamera,
  useCall,
  useCallHost,
} from "../../hooks/use-call.js";
import { t } from "../../i18n.js";
import { CallAudio, CallVideo } from "./call-media.js";

/** @typedef {import("../../hooks/use-call.js").CallSession} CallSession */
/** @typedef {import("../../api/rtc.js").CallMember} CallMember */

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
  if (phase === "connected" && s.kind === "briefing") {
    const joined = (s.call?.members ?? []).filter((m) => m.role === "listener" && m.state === "accepted").length;
    return t("incidents.call.briefingLive", { count: joined });
  }
  return t(`incidents.call.phase.${phase}`);
}

/** @param {{member: CallMember}} props */
function MemberItem({ member }) {
  const state = member.state === "accepted" && member.rejoin_by ? "reconnecting" : member.state;
  return html`<li class=${`call-member member-${state}`} data-member=${member.username} data-state=${state}>
    <span class="call-member-name">${member.username}</span>
    <span class="call-member-state">${t(`incidents.call.member.${state}`)}</span>
  </li>`;
}

/** @param {{session: CallSession}} props */
function Controls({ session: s }) {
  const live = !["ended", "failed"].includes(phaseOf(s));
  if (!live) {
    return html`<div class="call-controls">
      <button type="button" onClick=${dismissCall}>${t("incidents.call.close")}</button>
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
  if (!s) return null;
  const phase = phaseOf(s);
  const briefing = s.kind === "briefing";
  const title = briefing ? t("incidents.call.briefingTitle", { name: s.targetLabel }) : t("incidents.call.title", { name: s.targetLabel });
  const listeners = (s.call?.members ?? []).filter((m) => m.username !== s.call?.owner);
  const problem = s.problem && phase !== "failed" ? t(`incidents.call.problem.${s.problem}`, { name: s.targetLabel }) : "";
  const over = phase === "ended" || phase === "failed";
  const open = !folded || over;
  return html`<section
    class=${`call-panel call-${s.kind} phase-${phase}${open ? "" : " folded"}`}
    aria-labelledby="call-panel-title"
    data-call=${s.call?.id}
    data-phase=${phase}
  >
    <header class="call-head">
      <h2 id="call-panel-title">${title}</h2>
      ${!over &&
      html`<button type="button" class="call-fold" aria-expanded=${open} aria-controls="call-panel-body" onClick=${() => setFolded(open)}>
        ${open ? t("incidents.call.fold") : t("incidents.call.unfold")}
      </button>`}
      <p class="call-status" role="status">${statusText(s)}</p>
      ${s.detail && phase === "failed" && s.problem === "failed" && html`<p class="call-detail">${s.detail}</p>`}
    </header>
    <div id="call-panel-body" hidden=${!open}>
    ${!over &&
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
      ${s.cameraShown && html`<p class="call-camera-note">${t("incidents.call.cameraShown", { name: s.cameraOffer?.name ?? s.cameraShown })}</p>`}
    </div>`}
    ${briefing &&
    s.call &&
    !over &&
    html`<div class="call-members-box">
      <h3>${t("incidents.call.members")}</h3>
      ${listeners.length
        ? html`<ul class="call-members">${listeners.map((m) => html`<${MemberItem} key=${m.username} member=${m} />`)}</ul>`
        : html`<p class="muted">${t("incidents.call.nobody")}</p>`}
    </div>`}
    </div>
    ${s.remoteAudio.map((a) => html`<${CallAudio} key=${a.id} stream=${a} />`)}
    ${problem && html`<p class="form-error" role="alert">${problem}${s.detail ? `: ${s.detail}` : ""}</p>`}
    <${Controls} session=${s} />
  </section>`;
}
