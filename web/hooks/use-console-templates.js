// @ts-check
// The hub's saved instructions (GET/POST/DELETE /api/instruction-templates), kept current by the
// live feed's template.* events (another coordinator's save shows here too).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";
import { onEvents } from "../api/feed.js";

/** @typedef {import("../types/console").Template} Template */
/** @typedef {Omit<Template, "id" | "saved_by" | "saved_at">} TemplateIn */

export const templates = signal(/** @type {Template[] | null} */ (null));

async function reload() {
  templates.value = await api("/api/instruction-templates");
}

/** The templates (null until loaded), loaded on first use and reloaded when one changes. */
export function useConsoleTemplates() {
  useEffect(() => {
    void reload().catch(() => {});
    return onEvents("template.", () => void reload().catch(() => {}));
  }, []);
  return templates.value;
}

/** @param {TemplateIn} body @returns {Promise<Template>} */
export async function saveTemplate(body) {
  const saved = await api("/api/instruction-templates", { method: "POST", body });
  await reload();
  return saved;
}

/** @param {number} id */
export async function deleteTemplate(id) {
  await api(`/api/instruction-templates/${id}`, { method: "DELETE" });
  await reload();
}
