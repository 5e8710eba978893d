// @ts-check
// A briefing's people and its floor, for the call panel. Who was invited and who joined, who holds
// the floor (the one voice the group hears besides the speaker's) and who asks for it, first by
// priority. The speaker gives a listener who joined the floor, and takes it back: that mutes them,
// since nobody else's voice reaches anyone. A listener on this page asks for the floor or gives
// it up. Everything goes through the hub's floor control (POST /api/calls/{id}/floor); what the
// panel shows is the hub's answer and its notifications, never a guess.
import { html } from "htm/preact";
import { floorAction } from "../../hooks/use-call.js";
import { t } from "../../i18n.js";

/** @typedef {import("../../api/rtc.js").Call} Call */
/** @typedef {import("../../api/rtc.js").CallMember} CallMember */
/** @typedef {"holder" | "waiting" | "none"} FloorPlace */

/** Members in the order that matters to a speaker: the holder, those asking, joined, invited, gone. */
const STATE_ORDER = { accepted: 0, invited: 1, declined: 2, left: 3 };

/**
 * The listeners, sorted, with their place at the floor.
 * @param {Call} call
 * @returns {{member: CallMember, floor: FloorPlace, priority: number}[]}
 */
export function floorRows(call) {
  const holder = call.floor?.holder ?? null;
  const waiting = Object.keys(call.floor?.waiting ?? {});
  const rank = (/** @type {string} */ u) => {
    if (u === holder) return [0, 0, 0];
    const at = waiting.indexOf(u);
    return at >= 0 ? [1, -(call.floor?.waiting[u] ?? 0), at] : [2, 0, 0];
  };
  return call.members
    .filter((m) => m.username !== call.owner)
    .map((member) => {
      const [place] = rank(member.username);
      const floor = /** @type {FloorPlace} */ (place === 0 ? "holder" : place === 1 ? "waiting" : "none");
      return { member, floor, priority: call.floor?.waiting[member.username] ?? 0 };
    })
    .sort((a, b) => {
      const ra = rank(a.member.username);
      const rb = rank(b.member.username);
      for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] - rb[i];
      const sa = STATE_ORDER[a.member.state] - STATE_ORDER[b.member.state];
      return sa || a.member.username.localeCompare(b.member.username);
    });
}

/**
 * @typedef {object} BriefingFloorProps
 * @property {Call} call
 * @property {boolean} speaker This page speaks (it may grant and take back the floor).
 * @property {string} me Our login.
 * @property {Map<string, string>} names Login → name.
 */

/** @param {BriefingFloorProps} props */
export function BriefingFloor({ call, speaker, me, names }) {
  const name = (/** @type {string} */ u) => names.get(u) ?? u;
  const holder = call.floor?.holder ?? null;
  const waiting = Object.keys(call.floor?.waiting ?? {}).length;
  const rows = floorRows(call);
  const meListening = !speaker && call.members.some((m) => m.username === me && m.state === "accepted");
  return html`<div class="call-members-box">
    <h3>${t("incidents.call.members")}</h3>
    <p class="call-floor" data-holder=${holder ?? ""}>
      ${holder ? t("incidents.call.floor.holder", { name: name(holder) }) : t("incidents.call.floor.nobody")}
      ${waiting > 0 && html` <span class="call-floor-waiting">${t("incidents.call.floor.waiting", { count: waiting })}</span>`}
    </p>
    ${rows.length
      ? html`<ul class="call-members">
          ${rows.map(({ member, floor, priority }) => html`<${MemberRow}
            key=${member.username}
            member=${member}
            floor=${floor}
            priority=${priority}
            label=${name(member.username)}
            speaker=${speaker}
          />`)}
        </ul>`
      : html`<p class="muted">${t("incidents.call.nobody")}</p>`}
    ${meListening &&
    html`<div class="call-floor-mine">
      ${holder === me || call.floor?.waiting[me] !== undefined
        ? html`<button type="button" class="call-release" onClick=${() => void floorAction("release")}>
            ${holder === me ? t("incidents.call.floor.stopSpeaking") : t("incidents.call.floor.withdraw")}
          </button>`
        : html`<button type="button" class="call-request" onClick=${() => void floorAction("request")}>
            ${t("incidents.call.floor.ask")}
          </button>`}
    </div>`}
  </div>`;
}

/**
 * @param {{member: CallMember, floor: FloorPlace, priority: number, label: string, speaker: boolean}} props
 */
function MemberRow({ member, floor, priority, label, speaker }) {
  const state = member.state === "accepted" && member.rejoin_by ? "reconnecting" : member.state;
  const joined = member.state === "accepted" && member.media;
  let badge = "";
  if (floor === "holder") badge = t("incidents.call.floor.speaking");
  else if (floor === "waiting") badge = t(`incidents.call.floor.asks${["", "Urgent", "Emergency"][priority] ?? ""}`);
  return html`<li class=${`call-member member-${state} floor-${floor}`} data-member=${member.username} data-state=${state} data-floor=${floor}>
    <span class="call-member-name">${label}</span>
    <span class="call-member-state">${t(`incidents.call.member.${state}`)}</span>
    ${badge && html`<span class=${`call-floor-badge floor-${floor}${priority ? ` priority-${priority}` : ""}`}>${badge}</span>`}
    ${speaker &&
    (floor === "holder"
      ? html`<button
          type="button"
          class="call-revoke"
          aria-label=${t("incidents.call.floor.muteLabel", { name: label })}
          onClick=${() => void floorAction("revoke")}
        >
          ${t("incidents.call.floor.mute")}
        </button>`
      : joined &&
        html`<button
          type="button"
          class="call-grant"
          aria-label=${t("incidents.call.floor.grantLabel", { name: label })}
          onClick=${() => void floorAction("grant", member.username)}
        >
          ${t("incidents.call.floor.grant")}
        </button>`)}
  </li>`;
}
