// @ts-check
// Compose an instruction: text, priority, reply options, a deadline to acknowledge, and whom it
// goes to (nodes on the district tree, roles, people, on duty only), with the hub's preview of
// whom that reaches before it is sent. Saved as a template, or filled from one.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { HttpError, api } from "../../api/client.js";
import { personName, useConsoleDirectory } from "../../hooks/use-console-directory.js";
import { isEmpty, useConsolePreview } from "../../hooks/use-console-preview.js";
import { saveTemplate } from "../../hooks/use-console-templates.js";
import { sendInstruction } from "../../hooks/use-instructions.js";
import { navigate } from "../../hooks/use-route.js";
import { t } from "../../i18n.js";
import { TargetTree } from "./target-tree.js";
import { TemplateList } from "./template-list.js";

/** @typedef {import("../../types/console").Targets} Targets */
/** @typedef {import("../../types/console").Priority} Priority */
/** @typedef {import("../../types/console").Template} Template */

export const PRIORITIES = /** @type {const} */ (["routine", "urgent", "emergency"]);
const ROLES = ["worker", "coordinator", "dispatcher", "admin", "viewer"];
/** Deadlines offered, in seconds ("" for none). */
const DEADLINES = ["", "300", "900", "1800", "3600", "7200"];
/** Attachments one instruction may carry (the hub's limit). */
const ATTACHMENTS_MAX = 4;
/** People a search in the people picker lists. */
const PEOPLE_SHOWN = 8;

/**
 * @typedef {object} Draft
 * @property {string} text
 * @property {Priority} priority
 * @property {string} replies One option a line.
 * @property {string} deadline Seconds, or "".
 * @property {Set<string>} nodes
 * @property {Set<string>} roles
 * @property {Set<string>} people
 * @property {boolean} onDuty
 */

/** @returns {Draft} */
function emptyDraft() {
  return {
    text: "",
    priority: "routine",
    replies: "",
    deadline: "",
    nodes: new Set(),
    roles: new Set(),
    people: new Set(),
    onDuty: false,
  };
}

/** @param {Draft} d @returns {Targets} */
export function targetsOf(d) {
  return { people: [...d.people].sort(), roles: [...d.roles].sort(), nodes: [...d.nodes].sort(), on_duty_only: d.onDuty };
}

/** @param {Draft} d */
function bodyOf(d) {
  return {
    text: d.text,
    priority: d.priority,
    targets: targetsOf(d),
    reply_options: d.replies
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean),
    deadline_s: d.deadline ? Number(d.deadline) : null,
  };
}

/** @param {Template} tpl @returns {Draft} */
function draftOf(tpl) {
  return {
    text: tpl.text,
    priority: tpl.priority,
    replies: tpl.reply_options.join("\n"),
    deadline: tpl.deadline_s ? String(tpl.deadline_s) : "",
    nodes: new Set(tpl.targets.nodes),
    roles: new Set(tpl.targets.roles),
    people: new Set(tpl.targets.people),
    onDuty: tpl.targets.on_duty_only,
  };
}

/** @param {unknown} err */
function message(err) {
  return err instanceof HttpError ? err.detail : String(/** @type {Error} */ (err).message ?? err);
}

export function ComposeForm() {
  const { directory } = useConsoleDirectory();
  const [draft, setDraft] = useState(emptyDraft);
  const [who, setWho] = useState("");
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState(/** @type {{ok: boolean, text: string} | null} */ (null));
  const [templateName, setTemplateName] = useState("");
  /** Uploaded for the next instruction (an upload is used by one instruction only). */
  const [attached, setAttached] = useState(/** @type {Array<{id: number, name: string}>} */ ([]));
  const targets = targetsOf(draft);
  const { preview, pending, error } = useConsolePreview(targets);

  /** @param {Partial<Draft>} change */
  const update = (change) => setDraft((d) => ({ ...d, ...change }));
  /** @param {"nodes" | "roles" | "people"} key @param {string} id */
  const toggle = (key, id) =>
    setDraft((d) => {
      const next = new Set(d[key]);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return { ...d, [key]: next };
    });
  /** @param {Event} e */
  const value = (e) => /** @type {HTMLInputElement} */ (e.currentTarget).value;

  /** @param {Event} e */
  const send = async (e) => {
    e.preventDefault();
    if (!draft.text.trim()) {
      setStatus({ ok: false, text: t("console.compose.needText") });
      return;
    }
    if (isEmpty(targets)) {
      setStatus({ ok: false, text: t("console.compose.needTargets") });
      return;
    }
    setBusy(true);
    try {
      const id = await sendInstruction({ ...bodyOf(draft), attachments: attached.map((a) => a.id) });
      setAttached([]);
      setStatus({ ok: true, text: t("console.compose.sent", { id }) });
      navigate("instructions", id);
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    } finally {
      setBusy(false);
    }
  };

  const save = async () => {
    if (!templateName.trim() || !draft.text.trim() || isEmpty(targets)) {
      setStatus({ ok: false, text: t("console.templates.needAll") });
      return;
    }
    setBusy(true);
    try {
      await saveTemplate({ name: templateName.trim(), ...bodyOf(draft) });
      setStatus({ ok: true, text: t("console.templates.saved", { name: templateName.trim() }) });
      setTemplateName("");
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    } finally {
      setBusy(false);
    }
  };

  /** @param {Event} e */
  const attach = async (e) => {
    const input = /** @type {HTMLInputElement} */ (e.currentTarget);
    const files = [...(input.files ?? [])].slice(0, ATTACHMENTS_MAX - attached.length);
    input.value = "";
    setBusy(true);
    try {
      for (const file of files) {
        const form = new FormData();
        form.append("file", file);
        const out = await api("/api/attachments", { method: "POST", body: form });
        setAttached((list) => [...list, { id: out.id, name: file.name }]);
      }
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    } finally {
      setBusy(false);
    }
  };

  const needle = who.trim().toLowerCase();
  const found = needle
    ? [...(directory?.people.values() ?? [])]
        .filter((p) => p.name.toLowerCase().includes(needle) || p.id.toLowerCase().includes(needle))
        .slice(0, PEOPLE_SHOWN)
    : [];

  return html`<section class="panel compose" aria-labelledby="compose-title">
    <h2 id="compose-title">${t("console.compose.title")}</h2>
    <form onSubmit=${send} novalidate>
      <label class="field-label" for="compose-text">${t("console.compose.text")}</label>
      <textarea
        id="compose-text"
        name="text"
        rows="3"
        value=${draft.text}
        onInput=${(/** @type {Event} */ e) => update({ text: value(e) })}
      ></textarea>

      <fieldset class="priority">
        <legend>${t("console.compose.priority")}</legend>
        ${PRIORITIES.map(
          (p) => html`<label class=${`chip prio-${p}`}>
            <input type="radio" name="priority" value=${p} checked=${draft.priority === p} onChange=${() => update({ priority: p })} />
            ${t(`console.priority.${p}`)}
          </label>`,
        )}
      </fieldset>

      <div class="row2">
        <div>
          <label class="field-label" for="compose-replies">${t("console.compose.replies")}</label>
          <textarea
            id="compose-replies"
            name="replies"
            rows="2"
            placeholder=${t("console.compose.repliesHint")}
            value=${draft.replies}
            onInput=${(/** @type {Event} */ e) => update({ replies: value(e) })}
          ></textarea>
        </div>
        <div>
          <label class="field-label" for="compose-deadline">${t("console.compose.deadline")}</label>
          <select id="compose-deadline" name="deadline" value=${draft.deadline} onChange=${(/** @type {Event} */ e) => update({ deadline: value(e) })}>
            ${DEADLINES.map(
              (s) => html`<option value=${s}>${s ? t("console.compose.minutes", { n: Number(s) / 60, count: Number(s) / 60 }) : t("console.compose.noDeadline")}</option>`,
            )}
          </select>
        </div>
      </div>

      <div class="file-pick-row">
        <input
          id="compose-attach"
          class="visually-hidden"
          type="file"
          accept="image/*,audio/*"
          multiple
          disabled=${busy || attached.length >= ATTACHMENTS_MAX}
          onChange=${attach}
        />
        <label class="file-pick" for="compose-attach">${t("console.compose.attach")}</label>
        <span class="muted">${t("console.compose.attachedCount", { count: attached.length, max: ATTACHMENTS_MAX })}</span>
      </div>
      ${attached.length
        ? html`<ul class="chips" aria-label=${t("console.compose.attached")}>
            ${attached.map(
              (a) => html`<li key=${a.id}>
                <button
                  type="button"
                  class="chip"
                  aria-label=${t("console.compose.removeAttachment", { name: a.name })}
                  onClick=${() => setAttached((list) => list.filter((x) => x.id !== a.id))}
                >
                  ${a.name} <span aria-hidden="true">×</span>
                </button>
              </li>`,
            )}
          </ul>`
        : null}

      <fieldset class="targets">
        <legend>${t("console.compose.targets")}</legend>
        ${directory ? html`<${TargetTree} dir=${directory} selected=${draft.nodes} onToggle=${(/** @type {string} */ id) => toggle("nodes", id)} />` : html`<p class="muted">…</p>`}
        <fieldset class="roles">
          <legend>${t("console.compose.roles")}</legend>
          ${ROLES.map(
            (r) => html`<label class="chip">
              <input type="checkbox" name="role" value=${r} checked=${draft.roles.has(r)} onChange=${() => toggle("roles", r)} />
              ${t(`common.role.${r}`)}
            </label>`,
          )}
        </fieldset>
        <label class="field-label" for="compose-people">${t("console.compose.people")}</label>
        <input id="compose-people" type="search" value=${who} placeholder=${t("console.compose.peopleHint")} onInput=${(/** @type {Event} */ e) => setWho(value(e))} />
        ${found.length
          ? html`<ul class="people-found">
              ${found.map(
                (p) => html`<li key=${p.id}>
                  <label><input type="checkbox" checked=${draft.people.has(p.id)} onChange=${() => toggle("people", p.id)} /> ${p.name}
                    <span class="muted">${p.grids.join(", ")}${p.on_duty ? "" : ` · ${t("console.compose.offDuty")}`}</span></label>
                </li>`,
              )}
            </ul>`
          : null}
        ${draft.people.size
          ? html`<ul class="chips" aria-label=${t("console.compose.chosenPeople")}>
              ${[...draft.people].map(
                (id) => html`<li key=${id}>
                  <button type="button" class="chip" onClick=${() => toggle("people", id)} aria-label=${t("console.compose.removePerson", { name: personName(directory, id) })}>
                    ${personName(directory, id)} <span aria-hidden="true">×</span>
                  </button>
                </li>`,
              )}
            </ul>`
          : null}
        <label class="chip on-duty">
          <input type="checkbox" name="on_duty_only" checked=${draft.onDuty} onChange=${() => update({ onDuty: !draft.onDuty })} />
          ${t("console.compose.onDutyOnly")}
        </label>
      </fieldset>

      <div class="preview" role="status" aria-live="polite" data-preview-count=${preview && !pending ? preview.count : ""}>
        ${isEmpty(targets)
          ? html`<p class="muted">${t("console.preview.none")}</p>`
          : error
            ? html`<p class="form-error">${error}</p>`
            : preview
              ? html`<p>
                    <strong class="preview-count">${t("console.preview.count", { count: preview.count })}</strong>
                    ${pending ? html` <span class="muted">…</span>` : null}
                  </p>
                  ${preview.sample.length
                    ? html`<p class="preview-sample">
                        ${preview.sample.map((p) => p.name).join(t("console.preview.sep"))}${preview.count > preview.sample.length
                          ? t("console.preview.more", { n: preview.count - preview.sample.length })
                          : ""}
                      </p>`
                    : null}
                  ${preview.unreachable.length
                    ? html`<p class="muted">${t("console.preview.unreachable", { n: preview.unreachable.length, count: preview.unreachable.length })}</p>`
                    : null}`
              : html`<p class="muted">…</p>`}
      </div>

      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${t("console.compose.send")}</button>
      </div>
      <div class="save-template">
        <label class="field-label" for="template-name">${t("console.templates.name")}</label>
        <input id="template-name" value=${templateName} onInput=${(/** @type {Event} */ e) => setTemplateName(value(e))} />
        <button type="button" onClick=${save} disabled=${busy}>${t("console.templates.save")}</button>
      </div>
      <p class=${status?.ok ? "form-ok" : "form-error"} role="status">${status?.text ?? ""}</p>
    </form>
    <${TemplateList}
      onLoad=${(/** @type {Template} */ tpl) => {
        setDraft(draftOf(tpl));
        setStatus({ ok: true, text: t("console.templates.loaded", { name: tpl.name }) });
      }}
      onSent=${(/** @type {number} */ id) => {
        setStatus({ ok: true, text: t("console.compose.sent", { id }) });
        navigate("instructions", id);
      }}
      onError=${(/** @type {unknown} */ err) => setStatus({ ok: false, text: message(err) })}
    />
  </section>`;
}
