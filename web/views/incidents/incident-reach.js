// @ts-check
// Reach the incident's grid in one click: call one of its on-duty workers (video both ways; the
// incident's camera can be shown to them), brief everyone on duty there, or send them an
// instruction already addressed to the grid, or ask a worker to go live (their phone's camera
// becomes the camera field-<login>, watched like any other). For the command center only.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { HttpError, api } from "../../api/client.js";
import { InstructionDialog } from "../../components/instruction/instruction-dialog.js";
import { callSession, inCall, placeCall, startBriefing } from "../../hooks/use-call.js";
import { placeName } from "../../hooks/use-incident-places.js";
import { t } from "../../i18n.js";
import { categoryLabel } from "./labels.js";

/** @typedef {import("../../hooks/use-incidents.js").Incident} Incident */
/** @typedef {import("../../hooks/use-incident.js").Suggestion} Suggestion */
/** @typedef {import("../../hooks/use-incident-places.js").Places} Places */
/** @typedef {import("../../components/instruction/instruction-dialog.js").SentInstruction} SentInstruction */

/**
 * @typedef {object} ReachProps
 * @property {Incident} incident
 * @property {Suggestion[]} suggestions
 * @property {Places | null} places
 * @property {{id: string, name: string} | null} camera The incident's camera, to show in a call.
 */

/** @param {ReachProps} props */
export function IncidentReach({ incident, suggestions, places, camera }) {
  const [composing, setComposing] = useState(false);
  const [sent, setSent] = useState(/** @type {SentInstruction | null} */ (null));
  const [liveNote, setLiveNote] = useState("");
  callSession.value; // re-render when a call starts or ends
  const busy = inCall();
  const grid = incident.grid;
  const gridName = placeName(places, grid);
  const own = suggestions.filter((s) => s.grid === grid);
  const others = suggestions.filter((s) => s.grid !== grid);

  /** @param {Suggestion} s */
  const call = (s) => void placeCall(s.username ?? s.id, { label: s.name, camera });
  /** @param {Suggestion} s */
  const askLive = async (s) => {
    const who = s.username ?? s.id;
    try {
      await api(`/api/workers/${encodeURIComponent(who)}/go-live`, { method: "POST", body: { incident: incident.id } });
      setLiveNote(t("incidents.reach.goLiveAsked", { name: s.name, camera: `field-${who}` }));
    } catch (err) {
      setLiveNote(t("incidents.reach.goLiveFailed", { name: s.name, detail: err instanceof HttpError ? err.detail : String(err) }));
    }
  };
  /** @param {Suggestion} s */
  const callButton = (s) => html`<button type="button" class="reach-call" data-person=${s.id} disabled=${busy} onClick=${() => call(s)}>
      ${t("incidents.reach.call", { name: s.name })}
    </button>
    <button type="button" class="reach-go-live" data-person=${s.id} onClick=${() => void askLive(s)}>
      ${t("incidents.reach.goLive", { name: s.name })}
    </button>`;

  return html`<section class="incident-section incident-reach" aria-labelledby="reach-title">
    <h3 id="reach-title">${grid ? t("incidents.reach.title", { place: gridName }) : t("incidents.reach.titleNoGrid")}</h3>
    ${!grid
      ? html`<p class="muted">${t("incidents.reach.noGrid")}</p>`
      : html`<div class="reach-buttons">
            ${own.length ? own.map(callButton) : html`<p class="muted reach-none">${t("incidents.reach.nobodyOnDuty", { place: gridName })}</p>`}
            <button
              type="button"
              class="reach-briefing"
              disabled=${busy}
              onClick=${() => void startBriefing(grid, { label: gridName })}
            >
              ${t("incidents.reach.briefing", { place: gridName })}
            </button>
            <button type="button" class="reach-instruction" onClick=${() => setComposing(true)}>
              ${t("incidents.reach.instruction", { place: gridName })}
            </button>
          </div>
          ${others.length > 0 &&
          html`<details class="reach-more">
            <summary>${t("incidents.reach.neighbours", { count: others.length })}</summary>
            <div class="reach-buttons">${others.map(callButton)}</div>
          </details>`}
          ${busy && html`<p class="muted">${t("incidents.reach.inCall")}</p>`}
          <p class="reach-live" role="status">${liveNote}</p>
          <p class="reach-sent" role="status">
            ${sent &&
            t("incidents.reach.sent", { id: sent.instruction.id, count: sent.instruction.recipients }) +
              (sent.unreachable.length ? ` ${t("incidents.reach.unreachable", { count: sent.unreachable.length })}` : "")}
          </p>
          <${InstructionDialog}
            open=${composing}
            targets=${{ nodes: [grid] }}
            targetLabel=${gridName}
            text=${t("incidents.reach.instructionText", { id: incident.id, kind: categoryLabel(incident.category) })}
            priority=${incident.severity === "P1" ? "emergency" : incident.severity === "P2" ? "urgent" : "routine"}
            onClose=${() => setComposing(false)}
            onSent=${setSent}
          />`}
  </section>`;
}
