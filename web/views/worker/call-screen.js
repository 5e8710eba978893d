// @ts-check
// Calls on the phone: a call or a briefing that rings takes the whole screen (sound, vibration,
// accept or decline); an answered call fills the screen with the other side's video and ours,
// with mute, the front/back camera switch and hang up. In a briefing, a hold-to-talk button asks
// for the floor while held and says at once whether it was granted, queued or taken by someone
// else. The call itself is hooks/use-call.js, the desk's.
import { signal } from "@preact/signals";
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, currentUser } from "../../api/client.js";
import * as rtc from "../../api/rtc.js";
import { CallAudio, CallVideo } from "../../components/call/call-media.js";
import { endedText } from "../../components/call/call-panel.js";
import {
  dismissCall,
  floorAction,
  hangUpCall,
  joinCall,
  phaseOf,
  setMic,
  switchCamera,
  useCall,
  useCallHost,
} from "../../hooks/use-call.js";
import { t } from "../../i18n.js";
import { startAlarm } from "./alarm.js";

/** @typedef {import("../../api/rtc.js").Call} Call */

/** Calls ringing for this worker (invited, not answered). */
const ringing = signal(/** @type {Call[]} */ ([]));

const me = () => currentUser.value?.username ?? "";

/** @param {Call} c */
function invitesMe(c) {
  return c.state !== "ended" && c.members.some((m) => m.username === me() && m.state === "invited");
}

/** Names for people: logins and node ids → names (from the directory; ids until it has come). */
const names = signal(/** @type {Map<string, string>} */ (new Map()));

/** @param {string | null | undefined} id */
const nameOf = (id) => (id ? (names.value.get(id) ?? id) : "");

async function loadNames() {
  /** @typedef {{id: string, name: string, children?: TreeNode[]}} TreeNode */
  /** @type {{tree: TreeNode | null, people: {name: string, username?: string | null}[]}} */
  const d = await api("/api/directory");
  const m = new Map();
  for (const p of d.people) if (p.username) m.set(p.username, p.name);
  const stack = d.tree ? [d.tree] : [];
  for (let n = stack.pop(); n; n = stack.pop()) {
    m.set(n.id, n.name);
    stack.push(...(n.children ?? []));
  }
  names.value = m;
}

/** Follow the calls channel: being on it makes this worker reachable. */
export function startCalls() {
  void loadNames().catch(() => {});
  rtc.followCalls((msg) => {
    if (msg.op === "calls") ringing.value = msg.calls.filter(invitesMe);
    else {
      const rest = ringing.value.filter((c) => c.id !== msg.call.id);
      ringing.value = invitesMe(msg.call) ? [...rest, msg.call] : rest;
    }
  });
}

/** @param {{call: Call}} props */
function Ring({ call }) {
  useEffect(() => startAlarm("call"), [call.id]);
  const briefing = call.kind === "briefing";
  const decline = () => {
    ringing.value = ringing.value.filter((c) => c.id !== call.id);
    void rtc.declineCall(call.id).catch(() => {});
  };
  const accept = () => {
    ringing.value = ringing.value.filter((c) => c.id !== call.id);
    void joinCall(call);
  };
  return html`<div class="takeover ring" role="alertdialog" aria-modal="true" aria-labelledby="ring-title" data-ringing=${call.id}>
    <p class="ring-kind">${briefing ? t("worker.call.briefingRinging") : t("worker.call.ringing")}</p>
    <h2 id="ring-title" class="ring-who">${nameOf(briefing ? (call.node ?? call.owner) : call.owner)}</h2>
    <div class="ring-actions">
      <button type="button" class="big-button danger ring-decline" onClick=${decline}>${t("worker.call.decline")}</button>
      <button type="button" class="big-button ok ring-accept" onClick=${accept}>
        ${briefing ? t("worker.call.join") : t("worker.call.accept")}
      </button>
    </div>
  </div>`;
}

/** @param {Call} call */
function floorState(call) {
  const f = call.floor;
  if (!f) return "none";
  if (f.holder === me()) return "granted";
  if (me() in (f.waiting ?? {})) return "queued";
  if (f.holder) return "taken";
  return "none";
}

/**
 * The hub takes a floor request only from a listener whose media is connected: until then the
 * button waits, saying so, instead of answering a press with an error.
 * @param {{call: Call, ready: boolean}} props
 */
function HoldToTalk({ call, ready }) {
  const state = ready ? floorState(call) : "connecting";
  const [held, setHeld] = useState(false);
  /** @param {PointerEvent | KeyboardEvent} e */
  const down = (e) => {
    if (held || !ready) return;
    e.preventDefault();
    setHeld(true);
    void floorAction("request");
  };
  const up = () => {
    if (!held) return;
    setHeld(false);
    void floorAction("release");
  };
  return html`<div class="talk">
    <button
      type="button"
      class=${`big-button talk-button floor-${state}${held ? " held" : ""}`}
      aria-pressed=${held}
      disabled=${!ready}
      onPointerDown=${down}
      onPointerUp=${up}
      onPointerCancel=${up}
      onPointerLeave=${up}
      onKeyDown=${(/** @type {KeyboardEvent} */ e) => (e.key === " " || e.key === "Enter") && down(e)}
      onKeyUp=${(/** @type {KeyboardEvent} */ e) => (e.key === " " || e.key === "Enter") && up()}
      onContextMenu=${(/** @type {Event} */ e) => e.preventDefault()}
    >
      ${t("worker.call.holdToTalk")}
    </button>
    <p class="floor-state" role="status" data-floor=${state}>
      ${t(`worker.call.floor.${state}`, { name: nameOf(call.floor?.holder) })}
    </p>
  </div>`;
}

/** The call in progress, full screen. */
function InCall() {
  useCallHost();
  const s = useCall();
  const [facing, setFacing] = useState(/** @type {"user" | "environment"} */ ("user"));
  if (!s) return null;
  const phase = phaseOf(s);
  const over = phase === "ended" || phase === "failed";
  const briefing = s.kind === "briefing";
  const who = nameOf(briefing ? (s.call?.node ?? s.target) : s.target);
  const flip = async () => {
    const next = facing === "user" ? "environment" : "user";
    if (await switchCamera(next)) setFacing(next);
  };
  return html`<div class=${`takeover in-call phase-${phase}`} role="dialog" aria-modal="true" aria-labelledby="call-title" data-phase=${phase}>
    <h2 id="call-title" class="call-title">${briefing ? t("worker.call.briefingWith", { name: who }) : t("worker.call.with", { name: who })}</h2>
    <p class="call-status" role="status">
      ${over ? (phase === "ended" ? endedText(s.endedReason ?? "") : t("worker.call.failed")) : t(`worker.call.phase.${phase}`)}
    </p>
    ${!over &&
    html`<div class="call-stage">
      ${s.remoteVideo
        ? html`<${CallVideo} class="call-remote" stream=${s.remoteVideo} label=${t("worker.call.theirVideo", { name: who })} />`
        : html`<div class="call-remote call-waiting"><span>${t("worker.call.waitingVideo")}</span></div>`}
      ${s.local?.getVideoTracks().length
        ? html`<${CallVideo} class="call-self" stream=${s.local} label=${t("worker.call.myVideo")} />`
        : null}
    </div>`}
    ${s.remoteAudio.map((a) => html`<${CallAudio} key=${a.id} stream=${a} />`)}
    ${briefing && s.call && !over && s.role === "listener" && html`<${HoldToTalk} call=${s.call} ready=${phase === "connected"} />`}
    <div class="call-buttons">
      ${over
        ? html`<button type="button" class="big-button" onClick=${dismissCall}>${t("worker.call.close")}</button>`
        : html`
            <button type="button" class="big-button call-mute" aria-pressed=${!s.micOn} onClick=${() => setMic(!s.micOn)}>
              ${s.micOn ? t("worker.call.mute") : t("worker.call.unmute")}
            </button>
            ${s.local?.getVideoTracks().length
              ? html`<button type="button" class="big-button call-flip" onClick=${flip}>
                  ${facing === "user" ? t("worker.call.backCamera") : t("worker.call.frontCamera")}
                </button>`
              : null}
            <button type="button" class="big-button danger call-hangup" onClick=${hangUpCall}>
              ${briefing ? t("worker.call.leave") : t("worker.call.hangUp")}
            </button>
          `}
    </div>
  </div>`;
}

/** Whatever call is ringing or on; nothing otherwise. */
export function CallLayer() {
  const s = useCall();
  const ring = ringing.value[0];
  return html`<${InCall} />${!s && ring ? html`<${Ring} key=${ring.id} call=${ring} />` : null}`;
}
