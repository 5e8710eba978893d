// The worker's inbox: instructions arrive on /ws/worker, resuming from the saved cursor, and
// every receipt (delivered, read, acknowledged) stays in an outbox until the hub confirms it.
import { login } from "/web/skyhub.js";

const $ = (sel) => document.querySelector(sel);
const cards = new Map(); // instruction id -> element (duplicates are dropped by id)
const outbox = new Map(); // "id:step" -> message
let ws;
let user;

const cursorKey = () => `skyhub.worker.cursor.${user}`;

function send(msg) {
  outbox.set(`${msg.id}:${msg.type}`, msg);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
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

function render(inst) {
  let li = cards.get(inst.id);
  if (!li) {
    li = document.createElement("li");
    li.dataset.id = inst.id;
    cards.set(inst.id, li);
    $("#instructions").prepend(li);
  }
  li.className = `instruction priority-${inst.priority}${inst.cancelled ? " cancelled" : ""}`;
  li.innerHTML = `<p class="meta"></p><p class="text"></p><div class="actions"></div><p class="state"></p>`;
  li.querySelector(".meta").textContent = `${inst.priority.toUpperCase()} · from ${inst.sent_by}`;
  li.querySelector(".text").textContent = inst.text;
  const actions = li.querySelector(".actions");
  if (!inst.cancelled) {
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
  li._inst = inst;
  return li;
}

function onMessage(msg) {
  if (msg.cursor) localStorage.setItem(cursorKey(), String(Math.max(msg.cursor, Number(localStorage.getItem(cursorKey()) || 0))));
  if (msg.type === "instruction" || msg.type === "renotify") {
    const fresh = !cards.has(msg.id);
    render(msg.instruction);
    if (fresh || msg.type === "renotify") announce(msg.instruction);
    send({ type: "delivered", id: msg.id });
    if (document.visibilityState === "visible") send({ type: "read", id: msg.id });
  } else if (msg.type === "amended" && cards.has(msg.id)) {
    render({ ...cards.get(msg.id)._inst, text: msg.text, amendments: msg.amendments });
  } else if (msg.type === "cancelled" && cards.has(msg.id)) {
    render({ ...cards.get(msg.id)._inst, cancelled: true });
  } else if (msg.type === "receipt") {
    outbox.delete(`${msg.id}:delivered`);
    outbox.delete(`${msg.id}:read`);
    if (msg.state === "acknowledged" || msg.state === "replied") {
      outbox.delete(`${msg.id}:ack`);
      outbox.delete(`${msg.id}:reply`);
    }
    const li = cards.get(msg.id);
    // Receipts only move forward: a late answer to an earlier step does not undo a confirmation.
    const rank = { queued: 0, delivered: 1, read: 2, acknowledged: 3, replied: 3 };
    if (li && rank[msg.state] >= (rank[li.dataset.state] ?? -1)) {
      li.dataset.state = msg.state;
      li.querySelector(".state").textContent = msg.state;
    }
  } else if (msg.type === "notice") {
    const li = document.createElement("li");
    li.className = "instruction notice";
    li.textContent = `Not yet confirmed by ${msg.persons.join(", ")}: “${msg.instruction.text}”`;
    $("#instructions").prepend(li);
  }
}

function connect(token) {
  const since = localStorage.getItem(cursorKey()) || "0";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws/worker?since=${since}&token=${token}`);
  ws.onopen = () => {
    $("#link-state").textContent = "online";
    for (const msg of outbox.values()) ws.send(JSON.stringify(msg));
  };
  ws.onmessage = (m) => onMessage(JSON.parse(m.data));
  ws.onclose = () => {
    $("#link-state").textContent = "reconnecting…";
    setTimeout(() => connect(token), 1000);
  };
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  for (const id of cards.keys()) send({ type: "read", id });
});

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const me = await login(form.get("username"), form.get("password"));
    user = me.username;
    $("#who").textContent = me.username;
    $("#login").hidden = true;
    $("#inbox").hidden = false;
    connect(sessionStorage.getItem("skyhub.token"));
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});
