// @ts-check
// The live feed's state as a badge: "Live", "Connecting…", "Reconnecting…" (announced politely).
import { html } from "htm/preact";
import { useFeedStatus } from "../hooks/use-feed-status.js";
import { t } from "../i18n.js";

export function FeedStatus() {
  const status = useFeedStatus();
  return html`<p class=${`feed-status feed-${status}`} role="status" data-status=${status}>
    <span class="feed-dot" aria-hidden="true"></span>${t(`common.feed.${status}`)}
  </p>`;
}
