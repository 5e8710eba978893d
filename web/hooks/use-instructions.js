// @ts-check
// The console's list of instructions, newest first, with each one's receipts counted per state:
// loaded from GET /api/instructions (searchable), then moved by the live feed: a new
// `instruction.sent` joins the list, `instruction.progress` replaces its counts (the hub counts
// them in the same transaction, so the latest event is the truth), `amended`/`cancelled` change it.
// Progress events come at most every `instructions.progress_interval_ms`; between them, each
// `instruction.acknowledged`/`replied` after the last one counts at once (a receipt reaches that
// step once, and ids are in order, so "the snapshot plus the confirmations after it" is exact).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api } from "../api/client.js";
import { onEvents } from "../api/feed.js";

/** @typedef {import("../types/console").Instruction} Instruction */
/** @typedef {import("../types/console").ReceiptState} ReceiptState */
/** @typedef {import("../types/api").HubEvent} HubEvent */

/** How many instructions the history shows. */
export const LIST_LIMIT = 100;
/** @type {readonly ReceiptState[]} */
export const STATES = ["queued", "delivered", "read", "acknowledged", "replied"];

export const instructions = signal(/** @type {Instruction[] | null} */ (null));
export const listError = signal(/** @type {string | null} */ (null));
/** The history's search text ("" for all). */
export const query = signal("");

/** @returns {Record<ReceiptState, number>} */
export function zeroCounts() {
  return { queued: 0, delivered: 0, read: 0, acknowledged: 0, replied: 0 };
}

/** @returns {{acknowledged: number, replied: number}} */
function zeroSince() {
  return { acknowledged: 0, replied: 0 };
}

/** The instruction id of an event's subject ("instruction:42"), or null. @param {HubEvent} ev */
export function instructionOf(ev) {
  const m = /^instruction:(\d+)$/.exec(ev.subject);
  return m ? Number(m[1]) : null;
}

let loadSeq = 0;

/** Load the list for the current search. */
export async function loadInstructions() {
  const seq = ++loadSeq;
  const q = query.value.trim();
  const params = new URLSearchParams({ limit: String(LIST_LIMIT) });
  if (q) params.set("q", q);
  try {
    const rows = /** @type {Instruction[]} */ (await api(`/api/instructions?${params}`));
    if (seq !== loadSeq) return;
    // Counts that came on the feed while this was loading are newer than none, never older.
    const live = new Map((instructions.value ?? []).map((i) => [i.id, i]));
    instructions.value = rows.map((r) => (live.get(r.id)?.per_node ? { ...r, ...pick(live.get(r.id)) } : r));
    listError.value = null;
  } catch (err) {
    if (seq === loadSeq) listError.value = /** @type {Error} */ (err).message;
  }
}

/** @param {Instruction | undefined} i */
function pick(i) {
  return i ? { per_state: i.per_state, per_node: i.per_node, base: i.base, since: i.since } : {};
}

/** @param {string} text */
function matches(text) {
  const q = query.value.trim().toLowerCase();
  return !q || text.toLowerCase().includes(q);
}

/**
 * Apply a batch of instruction events to the list.
 * @param {HubEvent[]} events
 */
export function applyEvents(events) {
  const list = instructions.value;
  if (!list) return;
  /** @type {Map<number, Instruction>} */
  const byId = new Map(list.map((i) => [i.id, i]));
  /** @type {Instruction[]} */
  const added = [];
  let changed = false;
  for (const ev of events) {
    const id = instructionOf(ev);
    if (id === null) continue;
    const cur = byId.get(id);
    const d = /** @type {any} */ (ev.data);
    if (ev.type === "instruction.sent") {
      if (cur || !matches(String(d.instruction?.text ?? ""))) continue;
      /** @type {Instruction} */
      const row = {
        ...d.instruction,
        targets: d.targets,
        recipients: d.recipients,
        per_state: { ...zeroCounts(), queued: d.recipients },
        base: ev.id,
        since: zeroSince(),
      };
      byId.set(id, row);
      added.push(row);
      changed = true;
    } else if (!cur) {
      continue;
    } else if (ev.type === "instruction.progress") {
      byId.set(id, { ...cur, per_state: d.per_state, per_node: d.per_node, base: ev.id, since: zeroSince() });
      changed = true;
    } else if (ev.type === "instruction.acknowledged" || ev.type === "instruction.replied") {
      if (cur.base === undefined || ev.id <= cur.base) continue;
      const since = { ...(cur.since ?? zeroSince()) };
      if (ev.type === "instruction.replied") since.replied += 1;
      else since.acknowledged += 1;
      byId.set(id, { ...cur, since });
      changed = true;
    } else if (ev.type === "instruction.amended") {
      byId.set(id, { ...cur, text: d.text, amendments: d.amendments });
      changed = true;
    } else if (ev.type === "instruction.cancelled") {
      byId.set(id, { ...cur, cancelled: true });
      changed = true;
    }
  }
  if (!changed) return;
  const kept = list.map((i) => /** @type {Instruction} */ (byId.get(i.id)));
  instructions.value = [...added.reverse(), ...kept].slice(0, LIST_LIMIT);
}

/** The list (null until loaded), following the feed while the component is shown. */
export function useInstructions() {
  useEffect(() => {
    void loadInstructions();
    return onEvents("instruction.", applyEvents);
  }, []);
  return instructions.value;
}

/**
 * Counts "at least this far": sent (everyone), delivered, read, acknowledged (replies too), replied;
 * `since`: confirmations heard after the counts were taken (a confirmed receipt was read and
 * delivered too, whether or not those steps were reported).
 * @param {Record<ReceiptState, number>} s
 * @param {number} total
 * @param {{acknowledged: number, replied: number}} [since]
 */
export function reached(s, total, since) {
  const replied = s.replied + (since?.replied ?? 0);
  const done = s.acknowledged + s.replied + (since?.acknowledged ?? 0) + (since?.replied ?? 0);
  return {
    sent: total,
    delivered: Math.max(s.delivered + s.read + s.acknowledged + s.replied, done),
    read: Math.max(s.read + s.acknowledged + s.replied, done),
    acknowledged: done,
    replied,
  };
}

/** The bars' states in order. */
export const BARS = /** @type {const} */ (["sent", "delivered", "read", "acknowledged", "replied"]);

/**
 * Send an instruction (POST /api/instructions); its id.
 * @param {{text: string, priority: string, targets: import("../types/console").Targets, reply_options: string[], deadline_s: number | null, attachments?: number[]}} body
 * @returns {Promise<number>}
 */
export async function sendInstruction(body) {
  const out = await api("/api/instructions", { method: "POST", body });
  return out.instruction.id;
}
