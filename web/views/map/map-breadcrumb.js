// @ts-check
// Where the map is in the tree: the district down to the focused node, each level above it a link
// back up (#/map/<node>), the focused one marked as the current location.
import { html } from "htm/preact";
import { routeHref } from "../../hooks/use-route.js";
import { t } from "../../i18n.js";

/** @typedef {import("./map-tree.js").MapNode} MapNode */

/** @param {{path: MapNode[], root: string | null}} props */
export function MapBreadcrumb({ path, root }) {
  if (!path.length) return null;
  return html`<nav class="map-breadcrumb" aria-label=${t("map.breadcrumb")}>
    <ol>
      ${path.map((n, i) => {
        const last = i === path.length - 1;
        const level = html`<span class="map-crumb-level">${t(`map.level.${n.level}`)}</span>`;
        return html`<li key=${n.id}>
          ${last
            ? html`<span class="map-crumb" aria-current="location" data-node=${n.id}>${level} ${n.name}</span>`
            : html`<a class="map-crumb" href=${n.id === root ? routeHref("map") : routeHref("map", n.id)} data-node=${n.id}
                >${level} ${n.name}</a
              >`}
        </li>`;
      })}
    </ol>
  </nav>`;
}
