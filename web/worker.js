// The worker's inbox. Each (re)connect starts from the hub's snapshot of this worker's
// instructions (GET /api/worker/instructions: every one not yet confirmed, the latest confirmed or
// cancelled, each with this worker's own receipt), then follows /ws/worker from the snapshot's
// cursor. Receipts (delivered, read, acknowledged, replies) wait in an outbox kept in localStorage
// until the hub confirms or refuses them, so a reload or a closed tab loses none.
import { api, login, resume, liveSocket, onSessionEnd } from "/web/skyhub.js";

const RANK = { queued: 0, delivered: 1, read: 2, acknowledged: 3, replied: 3 };
const STEP_RANK = { delivered: 1, read: 2, ack: 3, reply: 3 };
const DONE = RANK.acknowledged;
// A receipt the hub could not store (5xx) is sent again after this long.
const RETRY_MS = 5000;

const $ = (sel) => document.querySelector(sel);
const cards = new Map(); // instruction id -> { inst, state, note, li } (one card per id)
let outbox = new Map(); // "id:step" -> message, until the hub answers it
const announced = new Set(); // emergencies already announced by this page
let user = null;
let feed = null;
let cursor = 0;

const outboxKey = () => `skyhub.worker.outbox.${user}`;

function loadOutbox() {
  try {
    const saved = JSON.parse(localStorage.getItem(outboxKey()) || "[]");
    outbox = new Map(saved.map((m) => [`${m.id}:${m.type}`, m]));
  } catch {
    outbox = new Map();
  }
}

function saveOutbox() {
  if (outbox.size) localStorage.setItem(outboxKey(), JSON.stringify([...outbox.values()]));
  else localStorage.removeItem(outboxKey());
}

// Kept first, then sent: a tab that dies in between sends it from the next page.
function send(msg) {
  outbox.set(`${msg.id}:${msg.type}`, msg);
  saveOutbox();
  if (feed) feed.send(JSON.stringify(msg));
  if (cards.has(msg.id)) draw(cards.get(msg.id));
}

function announce(inst) {
  if (inst.priority !== "emergency") return;
  // An emergency is announced: vibration where there is one, and a tone.
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.6);
  } catch { /* no audio: the red card still shows */ }
}

const isOpen = (card) => !card.inst.cancelled && RANK[card.state] < DONE;
const confirming = (id) => outbox.has(`${id}:ack`) || outbox.has(`${id}:reply`);

function draw(card) {
  const { inst, state, li } = card;
  const done = RANK[state] >= DONE;
  li.className = `instruction priority-${inst.priority}${inst.cancelled ? " cancelled" : ""}${done ? " done" : ""}`;
  li.dataset.state = inst.cancelled ? "cancelled" : state;
  li.innerHTML = `<p class="meta"></p><p class="text"></p><div class="actions"></div><p class="state"></p><p class="note" role="status"></p>`;
  const amended = inst.amendments ? " · amended" : "";
  li.querySelector(".meta").textContent = `${inst.priority.toUpperCase()} · from ${inst.sent_by}${amended}`;
  li.querySelector(".text").textContent = inst.text;
  let shown = state;
  if (inst.cancelled) shown = "cancelled";
  else if (!done && confirming(inst.id)) shown = "sending your confirmation…";
  else if (state === "replied" && card.reply) shown = `replied: ${card.reply}`;
  li.querySelector(".state").textContent = shown;
  li.querySelector(".note").textContent = card.note || "";
  if (!isOpen(card) || confirming(inst.id)) return;
  const actions = li.querySelector(".actions");
  const ack = document.createElement("button");
  ack.textContent = "Acknowledge";
  ack.className = "ack";
  ack.onclick = () => send({ type: "ack", id: inst.id });
  actions.append(ack);
  for (const option of inst.reply_options || []) {
    const b = document.createElement("button");
    b.textContent = option;
    b.onclick = () => send({ type: "reply", id: inst.id, reply: option });
    actions.append(b);
  }
}

// Show (or update) an instruction; `state` is this worker's receipt when the hub said so.
function upsert(inst, { state = null, reply = null, renotify = false } = {}) {
  let card = cards.get(inst.id);
  if (!card) {
    const li = document.createElement("li");
    li.dataset.id = inst.id;
    card = { inst, state: "queued", reply: null, note: "", li };
    cards.set(inst.id, card);
    $("#instructions").prepend(li);
  } else {
    card.inst = { ...card.inst, ...inst, cancelled: card.inst.cancelled || inst.cancelled };
  }
  if (state && RANK[state] >= RANK[card.state]) {
    card.state = state;
    card.reply = reply ?? card.reply;
  }
  draw(card);
  if (!isOpen(card)) return;
  // Only what still needs the worker is announced: never a confirmed or cancelled one.
  if (renotify || !announced.has(inst.id)) {
    announced.add(inst.id);
    announce(card.inst);
  }
  if (RANK[card.state] < RANK.delivered) send({ type: "delivered", id: inst.id });
  if (document.visibilityState === "visible" && RANK[card.state] < RANK.read) send({ type: "read", id: inst.id });
}

function confirmed(id, state) {
  for (const [step, rank] of Object.entries(STEP_RANK)) if (rank <= RANK[state]) outbox.delete(`${id}:${step}`);
  saveOutbox();
  const card = cards.get(id);
  // Receipts only move forward: a late answer to an earlier step does not undo a confirmation.
  if (card && RANK[state] >= RANK[card.state]) card.state = state;
  if (card) draw(card);
}

function note(id, text) {
  const card = cards.get(id);
  if (card) {
    card.note = text;
    draw(card);
    return;
  }
  const li = document.createElement("li");
  li.className = "note";
  li.textContent = text;
  $("#notes").append(li);
}

// The hub refused a receipt (4xx): it will never take it, so drop it and say so. A failure to
// store it (5xx) keeps it, to be sent again.
function refused(msg) {
  if (msg.id === undefined) {
    note(null, `The hub did not understand a message: ${msg.detail}`);
    return;
  }
  const keys = msg.request ? [`${msg.id}:${msg.request}`] : [...outbox.keys()].filter((k) => k.startsWith(`${msg.id}:`));
  if (msg.status >= 500) {
    setTimeout(() => { for (const k of keys) if (outbox.has(k) && feed) feed.send(JSON.stringify(outbox.get(k))); }, RETRY_MS);
    return;
  }
  for (const k of keys) outbox.delete(k);
  saveOutbox();
  const card = cards.get(msg.id);
  if (card && msg.status === 409) card.inst = { ...card.inst, cancelled: true };
  const what = msg.request === "ack" || msg.request === "reply" ? "Your confirmation" : "A receipt";
  note(msg.id, `${what} was not accepted by the hub: ${msg.detail}.`);
}

function onMessage(msg) {
  if (msg.cursor) cursor = Math.max(cursor, msg.cursor);
  const card = cards.get(msg.id);
  if (msg.type === "instruction") {
    upsert(msg.instruction);
  } else if (msg.type === "renotify") {
    upsert(msg.instruction, { renotify: true });
  } else if (msg.type === "amended" && card) {
    card.inst = { ...card.inst, text: msg.text, amendments: msg.amendments };
    draw(card);
  } else if (msg.type === "cancelled" && card) {
    card.inst = { ...card.inst, cancelled: true };
    draw(card);
  } else if (msg.type === "receipt") {
    confirmed(msg.id, msg.state);
  } else if (msg.type === "error") {
    refused(msg);
  } else if (msg.type === "notice") {
    showNotice(msg);
  }
}

// A leader's notice: who of their grid has not confirmed an instruction (one per event, however
// often the snapshot and the channel both bring it).
const shownNotices = new Set();
function showNotice(msg) {
  if (shownNotices.has(msg.cursor)) return;
  shownNotices.add(msg.cursor);
  const li = document.createElement("li");
  li.className = "instruction notice";
  li.textContent = `Not yet confirmed by ${msg.persons.join(", ")}: “${msg.instruction.text}”`;
  $("#instructions").prepend(li);
}

// Before each connect: the inbox as the hub has it, and the cursor to follow it from.
async function snapshot() {
  const inbox = await api("/api/worker/instructions");
  for (const item of inbox.instructions) upsert(item.instruction, { state: item.state, reply: item.reply });
  for (const notice of inbox.notices || []) showNotice(notice);
  cursor = inbox.cursor;
}

function start(me) {
  user = me.username;
  $("#who").textContent = me.username;
  $("#login").hidden = true;
  $("#login-error").textContent = "";
  $("#inbox").hidden = false;
  loadOutbox();
  feed = liveSocket("/ws/worker", {
    prepare: snapshot,
    query: () => [["since", String(cursor)]],
    onOpen: (ws) => { for (const msg of outbox.values()) ws.send(JSON.stringify(msg)); },
    onMessage,
    onState: (s) => {
      $("#link-state").textContent = { connected: "online", reconnecting: "reconnecting…" }[s] || s;
    },
  });
}

onSessionEnd(() => {
  if (feed) feed.stop();
  feed = null;
  cards.clear();
  announced.clear();
  $("#instructions").replaceChildren();
  $("#notes").replaceChildren();
  $("#inbox").hidden = true;
  $("#login").hidden = false;
  $("#link-state").textContent = "logged out";
  $("#login-error").textContent = "Your session has ended. Log in again to keep receiving instructions.";
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  for (const [id, card] of cards) if (isOpen(card) && RANK[card.state] < RANK.read) send({ type: "read", id });
});

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    start(await login(form.get("username"), form.get("password")));
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

// A reload keeps this tab's login (and the outbox, which is kept per user across tabs).
resume().then((me) => { if (me) start(me); });
