// @ts-check
// Compose an instruction already addressed to a place: the text, its priority (routine, urgent,
// emergency), an optional time to acknowledge within, and the targets given by the caller
// (`{"nodes": [grid]}` from an incident or an alert) shown as who it goes to. POST /api/instructions;
// the hub freezes the recipients and answers how many there are. A modal <dialog>: focus stays in
// it, Escape closes it. Messages are the incidents screen's (`incidents.instruction.*`).
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { HttpError, api } from "../../api/client.js";
import { t } from "../../i18n.js";

/** @typedef {"routine" | "urgent" | "emergency"} Priority */

/**
 * @typedef {object} Targets
 * @property {string[]} [people] Person ids.
 * @property {string[]} [roles]
 * @property {string[]} [nodes] Nodes of the district tree (everyone serving there and below).
 * @property {boolean} [on_duty_only]
 */

/**
 * `POST /api/instructions`'s answer.
 * @typedef {object} SentInstruction
 * @property {{id: number, recipients: number, priority: Priority, text: string, targets: Targets}} instruction
 * @property {number} event
 * @property {string[]} unreachable Recipients with no device connected now.
 */

export const PRIORITIES = /** @type {const} */ (["routine", "urgent", "emergency"]);
/** Choices of "acknowledge within", in seconds (0: no deadline). */
const DEADLINES_S = [0, 300, 900, 3600];

/**
 * @typedef {object} InstructionDialogProps
 * @property {boolean} open
 * @property {Targets} targets Preset addressees.
 * @property {string} targetLabel Who that is, in words ("Grid 1").
 * @property {string} [text] Text to start from.
 * @property {Priority} [priority] Priority to start from.
 * @property {() => void} onClose
 * @property {(sent: SentInstruction) => void} [onSent]
 */

/** @param {number} s */
function deadlineText(s) {
  if (!s) return t("incidents.instruction.noDeadline");
  return s < 3600 ? t("incidents.instruction.minutes", { count: s / 60 }) : t("incidents.instruction.hours", { count: s / 3600 });
}

/** @param {InstructionDialogProps} props */
export function InstructionDialog({ open, targets, targetLabel, text = "", priority = "routine", onClose, onSent }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [draft, setDraft] = useState({ text, priority, deadline: 0, onDutyOnly: false });

  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    if (open && !el.open) {
      setError("");
      setDraft({ text, priority, deadline: 0, onDutyOnly: false });
      el.showModal();
    } else if (!open && el.open) el.close();
  }, [open]);

  /** @param {Partial<typeof draft>} patch */
  const change = (patch) => setDraft((d) => ({ ...d, ...patch }));

  /** @param {SubmitEvent} e */
  const submit = async (e) => {
    e.preventDefault();
    const body = {
      text: draft.text.trim(),
      priority: draft.priority,
      targets: { ...targets, on_duty_only: draft.onDutyOnly },
      ...(draft.deadline ? { deadline_s: draft.deadline } : {}),
    };
    if (!body.text) {
      setError(t("incidents.instruction.empty"));
      return;
    }
    setBusy(true);
    setError("");
    try {
      /** @type {SentInstruction} */
      const sent = await api("/api/instructions", { method: "POST", body });
      onSent?.(sent);
      onClose();
    } catch (err) {
      setError(t("incidents.instruction.refused", { detail: err instanceof HttpError ? err.detail : String(err) }));
    } finally {
      setBusy(false);
    }
  };

  return html`<dialog ref=${dialog} class="instruction-dialog" aria-labelledby="instruction-title" onClose=${onClose}>
    <form class="instruction-form" onSubmit=${submit}>
      <h2 id="instruction-title">${t("incidents.instruction.title")}</h2>
      <p class="instruction-to" data-targets=${JSON.stringify(targets)}>
        ${t("incidents.instruction.to", { place: targetLabel })}
      </p>
      <label for="instruction-text">${t("incidents.instruction.text")}</label>
      <textarea
        id="instruction-text"
        name="text"
        rows="4"
        required
        maxlength="4000"
        value=${draft.text}
        onInput=${(/** @type {Event} */ e) => change({ text: /** @type {HTMLTextAreaElement} */ (e.currentTarget).value })}
      ></textarea>
      <fieldset class="instruction-priority">
        <legend>${t("incidents.instruction.priority")}</legend>
        ${PRIORITIES.map(
          (p) => html`<label class=${`priority-choice priority-${p}`}>
            <input type="radio" name="priority" value=${p} checked=${p === draft.priority} onChange=${() => change({ priority: p })} />
            ${t(`incidents.instruction.priorities.${p}`)}
          </label>`,
        )}
      </fieldset>
      <div class="instruction-row">
        <label for="instruction-deadline">${t("incidents.instruction.deadline")}</label>
        <select
          id="instruction-deadline"
          name="deadline"
          value=${draft.deadline}
          onChange=${(/** @type {Event} */ e) => change({ deadline: Number(/** @type {HTMLSelectElement} */ (e.currentTarget).value) })}
        >
          ${DEADLINES_S.map((s) => html`<option value=${s}>${deadlineText(s)}</option>`)}
        </select>
      </div>
      <label class="instruction-check">
        <input
          type="checkbox"
          name="on_duty_only"
          checked=${draft.onDutyOnly}
          onChange=${(/** @type {Event} */ e) => change({ onDutyOnly: /** @type {HTMLInputElement} */ (e.currentTarget).checked })}
        />
        ${t("incidents.instruction.onDutyOnly")}
      </label>
      <p class="form-error" role="alert">${error}</p>
      <div class="dialog-buttons">
        <button type="button" onClick=${onClose}>${t("incidents.instruction.cancel")}</button>
        <button type="submit" class="primary" disabled=${busy}>
          ${busy ? t("incidents.instruction.sending") : t("incidents.instruction.send")}
        </button>
      </div>
    </form>
  </dialog>`;
}
