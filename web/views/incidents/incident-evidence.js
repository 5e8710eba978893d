// @ts-check
// The incident's evidence inline, newest first: snapshots and photos as pictures, clips as videos,
// each fetched with the login (see useEvidenceFile) once its tile comes on screen. A clip the hub
// is still writing says so and is asked for again.
import { html } from "htm/preact";
import { useRef, useState } from "preact/hooks";
import { useEvidenceFile } from "../../hooks/use-incident-evidence.js";
import { useVisible } from "../../hooks/use-visible.js";
import { formatTime, t } from "../../i18n.js";

/** @typedef {import("../../hooks/use-incident.js").Evidence} Evidence */

/** Tiles shown before "show more". */
const FIRST_TILES = 6;

/** @param {{item: Evidence}} props */
function EvidenceTile({ item }) {
  const box = useRef(/** @type {HTMLElement | null} */ (null));
  const visible = useVisible(box);
  // Once on screen, a tile keeps its file (scrolling away does not fetch it again).
  const [seen, setSeen] = useState(false);
  if (visible && !seen) setSeen(true);
  const { url, state } = useEvidenceFile(item.incident_id, item.id, seen || visible);
  const kind = ["snapshot", "clip", "photo"].includes(item.kind) ? item.kind : "file";
  const label = t(`incidents.evidence.kinds.${kind}`);
  const when = formatTime(item.added_at * 1000);
  const alt = t("incidents.evidence.alt", { kind: label, time: when });
  let body;
  if (url && kind === "clip") {
    body = html`<video class="evidence-media" src=${url} controls muted playsinline preload="metadata" aria-label=${alt}></video>`;
  } else if (url && kind !== "file") body = html`<img class="evidence-media" src=${url} alt=${alt} />`;
  else if (url) body = html`<a class="evidence-file" href=${url} download>${label}</a>`;
  else {
    body = html`<div class=${`evidence-media evidence-wait wait-${state}`}>
      <span>${t(`incidents.evidence.state.${state}`)}</span>
    </div>`;
  }
  return html`<li>
    <figure ref=${box} class=${`evidence evidence-${kind}`} data-evidence=${item.id} data-kind=${kind} data-state=${state}>
      ${body}
      <figcaption>${label} · ${when}</figcaption>
    </figure>
  </li>`;
}

/** @param {{evidence: Evidence[]}} props */
export function IncidentEvidence({ evidence }) {
  const [all, setAll] = useState(false);
  const newest = [...evidence].reverse();
  const shown = all ? newest : newest.slice(0, FIRST_TILES);
  return html`<section class="incident-section" aria-labelledby="evidence-title">
    <h3 id="evidence-title">${t("incidents.evidence.title")}</h3>
    ${evidence.length === 0
      ? html`<p class="muted">${t("incidents.evidence.none")}</p>`
      : html`<ul class="evidence-grid">
          ${shown.map((item) => html`<${EvidenceTile} key=${item.id} item=${item} />`)}
        </ul>`}
    ${newest.length > shown.length &&
    html`<button type="button" onClick=${() => setAll(true)}>
      ${t("incidents.evidence.more", { count: newest.length - shown.length })}
    </button>`}
  </section>`;
}
