// @ts-check
// From an alert on the wall, one click to its grid: call an on-duty worker there (with this
// camera shown to them), brief the grid, or send it an instruction. The grid's on-duty people are
// asked for once, when the alert's tile comes into the alarm lane. For the command center only.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, currentUser } from "../../api/client.js";
import { InstructionDialog } from "../../components/instruction/instruction-dialog.js";
import { callSession, inCall, placeCall, startBriefing } from "../../hooks/use-call.js";
import { placeName, usePlaces } from "../../hooks/use-incident-places.js";
import { t } from "../../i18n.js";
import { kindName } from "./alert-badge.js";

/** @typedef {import("../../types/api").Camera} Camera */
/** @typedef {{id: string, name: string, roles: string[], grids: string[], on_duty: boolean, username?: string | null}} Member */

const STAFF = ["admin", "dispatcher", "coordinator"];
/** Call buttons on a tile at most (the incident's page lists everyone, neighbours too). */
const MAX_CALL_BUTTONS = 2;

/** @param {{camera: Camera, kind: string}} props */
export function AlertReach({ camera, kind }) {
  const [people, setPeople] = useState(/** @type {Member[] | null} */ (null));
  const [composing, setComposing] = useState(false);
  callSession.value; // re-render when a call starts or ends
  const grid = camera.grid;
  const gridName = placeName(usePlaces(), grid);
  const me = currentUser.value;
  const staff = Boolean(me && me.roles.some((r) => STAFF.includes(r)));
  useEffect(() => {
    if (!grid || !staff) return undefined;
    let gone = false;
    api(`/api/directory/nodes/${encodeURIComponent(grid)}/members?on_duty=true`)
      .then((/** @type {Member[]} */ found) => {
        if (!gone) setPeople(found.filter((p) => p.roles.includes("worker") && p.grids.includes(grid) && p.username));
      })
      .catch(() => {
        if (!gone) setPeople([]);
      });
    return () => {
      gone = true;
    };
  }, [grid, staff]);
  if (!grid || !staff) return null;
  const busy = inCall();
  const shown = { id: camera.id, name: camera.name };

  return html`<div class="alert-reach" role="group" aria-label=${t("wall.reach.menuOf", { name: camera.name })}>
    ${people === null
      ? null
      : people.slice(0, MAX_CALL_BUTTONS).map(
          (p) => html`<button type="button" class="reach-call" data-person=${p.id} disabled=${busy}
            onClick=${() => void placeCall(p.username ?? p.id, { label: p.name, camera: shown })}>
            ${t("wall.reach.call", { name: p.name })}
          </button>`,
        )}
    <button type="button" class="reach-briefing" disabled=${busy} onClick=${() => void startBriefing(grid, { label: gridName })}>
      ${t("wall.reach.briefing")}
    </button>
    <button type="button" class="reach-instruction" onClick=${() => setComposing(true)}>${t("wall.reach.instruction")}</button>
    <${InstructionDialog}
      open=${composing}
      targets=${{ nodes: [grid] }}
      targetLabel=${gridName}
      text=${t("wall.reach.instructionText", { kind: kindName(kind), name: camera.name })}
      onClose=${() => setComposing(false)}
    />
  </div>`;
}
