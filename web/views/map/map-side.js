// @ts-check
// The list beside the map: the areas to zoom into, the cameras (open one's live view), the open
// incidents (links to them, and "show on the map") and the workers. It is the keyboard's way to
// everything the map draws, and says what lies outside the map.
import { html } from "htm/preact";
import { routeHref } from "../../hooks/use-route.js";
import { t } from "../../i18n.js";

/** @typedef {import("./map-tree.js").MapNode} MapNode */

/** A crosshair: "show it on the map". */
const LOCATE_GLYPH = html`<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
  <circle cx="12" cy="12" r="6.5" fill="none" stroke="currentColor" stroke-width="2" />
  <circle cx="12" cy="12" r="2" fill="currentColor" />
  <path d="M12 1.5v4M12 18.5v4M1.5 12h4M18.5 12h4" stroke="currentColor" stroke-width="2" />
</svg>`;
/** @typedef {import("./map-canvas.js").Reveal} Reveal */

/**
 * @typedef {object} SideCamera
 * @property {string} id
 * @property {string} name
 * @property {string} state Its state, in words.
 * @property {boolean} alert
 * @property {boolean} placed On the map.
 * @property {boolean} selected
 */
/**
 * @typedef {object} SideIncident
 * @property {number} id
 * @property {string} title
 * @property {string} severity
 * @property {string} detail
 * @property {boolean} placed
 */
/**
 * @typedef {object} SidePerson
 * @property {string} id
 * @property {string} name
 * @property {string} ago
 * @property {string} accuracy
 */

/**
 * @param {{id: string, title: string, count: number, children: any}} props
 */
function Section({ id, title, count, children }) {
  return html`<section class="map-section" aria-labelledby=${`map-side-${id}`}>
    <h3 id=${`map-side-${id}`}>${title} <span class="map-count">${count}</span></h3>
    ${children}
  </section>`;
}

/**
 * @typedef {object} MapSideProps
 * @property {MapNode[]} regions
 * @property {SideCamera[]} cameras
 * @property {SideIncident[] | null} incidents Null while loading.
 * @property {boolean} incidentsFailed
 * @property {SidePerson[]} people
 * @property {(id: string) => void} onCamera
 * @property {(kind: Reveal["kind"], id: string) => void} onReveal
 */

/** @param {MapSideProps} props */
export function MapSide({ regions, cameras, incidents, incidentsFailed, people, onCamera, onReveal }) {
  return html`<div class="map-lists">
    ${regions.length > 0 &&
    html`<${Section} id="areas" title=${t("map.areas.title")} count=${regions.length}>
      <p class="map-muted map-hint">${t("map.areas.hint")}</p>
      <ul class="map-list map-areas">
        ${regions.map(
          (n) => html`<li key=${n.id}>
            <a class="map-item" href=${routeHref("map", n.id)} data-area=${n.id}>
              <span class="map-item-main">${n.name}</span>
              <span class="map-item-sub">${t(`map.level.${n.level}`)}</span>
            </a>
          </li>`,
        )}
      </ul>
    <//>`}

    <${Section} id="cameras" title=${t("map.cameras.title")} count=${cameras.length}>
      ${cameras.length === 0
        ? html`<p class="map-muted">${t("map.cameras.none")}</p>`
        : html`<ul class="map-list">
            ${cameras.map(
              (c) => html`<li key=${c.id}>
                <button
                  type="button"
                  class=${`map-item${c.alert ? " is-alert" : ""}`}
                  aria-pressed=${c.selected ? "true" : "false"}
                  title=${t("map.cameras.watch", { name: c.name })}
                  data-list-camera=${c.id}
                  onClick=${() => onCamera(c.id)}
                >
                  <span class="map-item-main">${c.name}</span>
                  <span class="map-item-sub">
                    ${c.alert && html`<span class="map-badge">${t("map.cameras.alert")}</span>`}
                    ${c.state}${c.placed ? "" : ` · ${t("map.cameras.notPlaced")}`}
                  </span>
                </button>
              </li>`,
            )}
          </ul>`}
    <//>

    <${Section} id="incidents" title=${t("map.incidents.title")} count=${incidents?.length ?? 0}>
      ${incidentsFailed && html`<p class="map-muted" role="status">${t("map.incidents.error")}</p>`}
      ${incidents === null
        ? !incidentsFailed && html`<p class="map-muted">${t("map.loading")}</p>`
        : incidents.length === 0
          ? html`<p class="map-muted">${t("map.incidents.none")}</p>`
          : html`<ul class="map-list">
              ${incidents.map(
                (i) => html`<li key=${i.id} class="map-row" data-list-incident=${i.id}>
                  <a class="map-item" href=${routeHref("incidents", i.id)}>
                    <span class="map-item-main"><span class=${`map-sev sev-${i.severity}`}>${i.severity}</span> #${i.id} ${i.title}</span>
                    <span class="map-item-sub">${i.detail}${i.placed ? "" : ` · ${t("map.incidents.notPlaced")}`}</span>
                  </a>
                  ${i.placed &&
                  html`<button
                    type="button"
                    class="map-locate"
                    aria-label=${t("map.incidents.show", { id: String(i.id) })}
                    title=${t("map.incidents.show", { id: String(i.id) })}
                    onClick=${() => onReveal("incident", String(i.id))}
                  >
                    ${LOCATE_GLYPH}
                  </button>`}
                </li>`,
              )}
            </ul>`}
    <//>

    <${Section} id="people" title=${t("map.people.title")} count=${people.length}>
      ${people.length === 0
        ? html`<p class="map-muted">${t("map.people.none")}</p>`
        : html`<ul class="map-list">
            ${people.map(
              (p) => html`<li key=${p.id} class="map-row" data-list-person=${p.id}>
                <span class="map-item map-item-static">
                  <span class="map-item-main">${p.name}</span>
                  <span class="map-item-sub">${p.ago}${p.accuracy ? ` · ${p.accuracy}` : ""}</span>
                </span>
                <button
                  type="button"
                  class="map-locate"
                  aria-label=${t("map.people.show", { name: p.name })}
                  title=${t("map.people.show", { name: p.name })}
                  onClick=${() => onReveal("person", p.id)}
                >
                  ${LOCATE_GLYPH}
                </button>
              </li>`,
            )}
          </ul>`}
    <//>
  </div>`;
}
