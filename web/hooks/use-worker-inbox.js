// @ts-check
// The worker's inbox: GET /api/worker/instructions once (the inbox as it stands, with this worker's
// receipt on each, and the cursor), then /ws/worker?since=cursor, reconnecting from the last cursor
// it saw: what came while the phone was away is replayed in order, and kept once per id.
// "Delivered" and "read" go back on the channel; an acknowledgement or a reply is an action the
// worker took, so it goes through the outbox (kept through a dead spot, sent with an
// Idempotency-Key to POST /api/instructions/{id}/ack).
import { signal } from "@preact/signals";
import { effect } from "@preact/signals";
import { api, checkSession, getToken, socketUrl } from "../api/client.js";
import { enqueue, onSent } from "./use-worker-outbox.js";

/**
 * @typedef {object} Instruction
 * @property {number} id
 * @property {string} text
 * @property {"routine" | "urgent" | "emergency"} priority
 * @property {string} sent_by
 * @property {string[]} [reply_options]
 * @property {number} [sent_at]
 * @property {boolean} [cancelled]
 * @property {number} [amendments]
 */
/** @typedef {"queued" | "delivered" | "read" | "acknowledged" | "replied"} ReceiptState */
/** @typedef {{inst: Instruction, state: ReceiptState, reply: string | null, sending: boolean}} InboxEntry */
/** @typedef {{cursor: number, from: string, note: string, expiresAt: number}} GoLiveAsk */

const RANK = { queued: 0, delivered: 1, read: 2, acknowledged: 3, replied: 3 };
const FIRST_MS = 500;
const MAX_MS = 15_000;

/** Instructions by id, newest first when listed. */
export const inbox = signal(/** @type {Map<number, InboxEntry>} */ (new Map()));
/** The worker channel: "connecting" | "live" | "offline". */
export const channelState = signal(/** @type {"connecting" | "live" | "offline"} */ ("connecting"));
/** As a grid leader: who of theirs has not confirmed an instruction, by the event's cursor (one each). */
export const notices = signal(/** @type {Map<number, {persons: string[], text: string}>} */ (new Map()));

/** @param {any} msg */
function notice(msg) {
  if (notices.value.has(msg.cursor)) return;
  const next = new Map(notices.value);
  next.set(msg.cursor, { persons: msg.persons ?? [], text: msg.instruction?.text ?? "" });
  notices.value = next;
}

/** A desk's request that this worker go live ({"type": "go_live"} on the channel; shown until answered,
 * dismissed or out of time). */
export const goLiveAsk = signal(/** @type {GoLiveAsk | null} */ (null));

let cursor = 0;

/** Where this phone keeps the inbox as last seen (opened in a dead spot, it shows that). */
const KEEP_KEY = "skyhub.worker.inbox";

/** Whose token this tab holds (the inbox kept is one person's). */
function tokenUser() {
  try {
    const part = (getToken() ?? "").split(".")[1] ?? "";
    return String(JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))).sub ?? "");
  } catch {
    return "";
  }
}

function restoreKept() {
  try {
    const kept = JSON.parse(localStorage.getItem(KEEP_KEY) ?? "null");
    if (!kept || kept.user !== tokenUser()) return;
    cursor = kept.cursor;
    inbox.value = new Map(kept.entries.map((/** @type {InboxEntry} */ e) => [e.inst.id, e]));
  } catch {
    // Nothing kept, or not readable: the hub's snapshot fills it.
  }
}

function keep() {
  try {
    const entries = listed(inbox.value).slice(0, 100);
    localStorage.setItem(KEEP_KEY, JSON.stringify({ user: tokenUser(), cursor, entries }));
  } catch {
    // Storage full or refused: only the offline view is lost.
  }
}
/** @type {WebSocket | null} */
let ws = null;
let delayMs = FIRST_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retry;
let started = false;

/** @param {number} id @param {Partial<InboxEntry>} patch */
function patch(id, patch) {
  const old = inbox.value.get(id);
  if (!old) return;
  const next = new Map(inbox.value);
  next.set(id, { ...old, ...patch });
  inbox.value = next;
}

/** True while an instruction still needs this worker. @param {InboxEntry} e */
export function isOpen(e) {
  return !e.inst.cancelled && RANK[e.state] < RANK.acknowledged;
}

/**
 * @param {Instruction} inst
 * @param {ReceiptState} [state]
 * @param {string | null} [reply]
 */
function upsert(inst, state, reply = null) {
  const old = inbox.value.get(inst.id);
  const next = new Map(inbox.value);
  const merged = old ? { ...old.inst, ...inst, cancelled: old.inst.cancelled || inst.cancelled } : inst;
  /** @type {InboxEntry} */
  const entry = old ? { ...old, inst: merged } : { inst: merged, state: "queued", reply: null, sending: false };
  if (state && RANK[state] >= RANK[entry.state]) {
    entry.state = state;
    entry.reply = reply ?? entry.reply;
  }
  next.set(inst.id, entry);
  inbox.value = next;
  if (isOpen(entry) && RANK[entry.state] < RANK.delivered) step("delivered", inst.id);
  if (isOpen(entry) && RANK[entry.state] < RANK.read && document.visibilityState === "visible") step("read", inst.id);
}

/** @param {"delivered" | "read"} type @param {number} id */
function step(type, id) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type, id }));
}

/** @param {any} msg */
function onMessage(msg) {
  if (typeof msg.cursor === "number") cursor = Math.max(cursor, msg.cursor);
  if (msg.type === "instruction" || msg.type === "renotify") upsert(msg.instruction);
  else if (msg.type === "amended") {
    const e = inbox.value.get(msg.id);
    if (e) patch(msg.id, { inst: { ...e.inst, text: msg.text, amendments: msg.amendments } });
  } else if (msg.type === "cancelled") {
    const e = inbox.value.get(msg.id);
    if (e) patch(msg.id, { inst: { ...e.inst, cancelled: true } });
  } else if (msg.type === "receipt") {
    const e = inbox.value.get(msg.id);
    if (e && RANK[/** @type {ReceiptState} */ (msg.state)] >= RANK[e.state]) patch(msg.id, { state: msg.state });
  } else if (msg.type === "notice") {
    notice(msg);
  } else if (msg.type === "live") {
    channelState.value = "live";
  } else if (msg.type === "go_live") {
    const r = msg.request ?? {};
    const expiresAt = (r.expires_at ?? Date.now() / 1000 + 120) * 1000;
    goLiveAsk.value = { cursor: msg.cursor ?? 0, from: r.by_name ?? r.by ?? "", note: r.note ?? "", expiresAt };
    // Not shown past its time: the desk has stopped waiting for it.
    setTimeout(() => {
      if (goLiveAsk.value?.cursor === msg.cursor) goLiveAsk.value = null;
    }, Math.max(0, expiresAt - Date.now()));
  }
}

function connect() {
  if (!navigator.onLine) {
    channelState.value = "offline"; // the "online" event connects again
    return;
  }
  channelState.value = "connecting";
  const socket = new WebSocket(socketUrl("/ws/worker", { since: String(cursor) }));
  ws = socket;
  let opened = false;
  socket.onopen = () => {
    opened = true;
    delayMs = FIRST_MS;
  };
  socket.onmessage = (m) => {
    if (ws === socket) onMessage(JSON.parse(m.data));
  };
  socket.onclose = async () => {
    if (ws !== socket) return;
    ws = null;
    channelState.value = "offline";
    if (!opened && navigator.onLine && !(await checkSession())) return;
    clearTimeout(retry);
    retry = setTimeout(connect, delayMs * (0.8 + Math.random() * 0.4));
    delayMs = Math.min(delayMs * 2, MAX_MS);
  };
}

/** Load the inbox and follow the channel (once per page). */
export async function startInbox() {
  if (started) return;
  started = true;
  restoreKept();
  effect(() => {
    void inbox.value;
    keep();
  });
  try {
    const snap = await api("/api/worker/instructions");
    cursor = snap.cursor;
    for (const item of snap.instructions) upsert(item.instruction, item.state, item.reply);
    for (const n of snap.notices ?? []) notice(n);
  } catch {
    // Offline at start: the channel replays from the beginning of what is kept for us.
  }
  connect();
  // A phone entering a dead spot often keeps a socket that looks open; the browser knows better.
  addEventListener("offline", () => {
    channelState.value = "offline";
    ws?.close();
  });
  addEventListener("online", () => {
    if (ws && ws.readyState <= WebSocket.OPEN) return;
    delayMs = FIRST_MS;
    clearTimeout(retry);
    connect();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    for (const [id, e] of inbox.value) if (isOpen(e) && RANK[e.state] < RANK.read) step("read", id);
  });
}

/**
 * Acknowledge (or reply to) an instruction: shown at once, sent through the outbox.
 * @param {number} id
 * @param {string | null} [reply]
 */
export function confirm(id, reply = null) {
  const e = inbox.value.get(id);
  if (!e) return;
  patch(id, { sending: true, reply });
  enqueue({
    kind: reply ? "reply" : "ack",
    label: e.inst.text.slice(0, 60),
    path: `/api/instructions/${id}/ack`,
    json: reply ? { reply } : {},
    fields: null,
  });
}

// The hub's answer to an acknowledgement, whichever page queued it.
onSent((item, answer) => {
  const m = /^\/api\/instructions\/(\d+)\/ack$/.exec(item.path);
  const e = m ? inbox.value.get(Number(m[1])) : undefined;
  if (!e) return;
  const state = /** @type {ReceiptState | undefined} */ (answer?.state);
  if (state && RANK[state] >= RANK[e.state]) patch(e.inst.id, { state, sending: false });
  else patch(e.inst.id, { sending: false });
});

/** Instructions newest first. @param {Map<number, InboxEntry>} m */
export function listed(m) {
  return [...m.values()].sort((a, b) => b.inst.id - a.inst.id);
}
