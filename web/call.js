// The call page: be reachable, answer (or place) a call, talk, hang up. Built on rtc.js.
// Losing the connection is not leaving: the hub keeps our place for a while (`rejoin_by`), so
// when our media connection is lost — a network change, a reload of this page — we offer again.
import { login, api, onSessionEnd } from "/web/skyhub.js";
import { followCalls, joinMedia, onConnectionLost } from "/web/rtc.js";

const $ = (sel) => document.querySelector(sel);
const REJOIN_FIRST_MS = 500;
const REJOIN_MAX_MS = 4000;
let me = null;
let current = null; // {call, local, media, connecting, rejoining}
let pending = null; // the call ringing here
let dialing = false; // placing a call: its media starts when the hub has answered the POST
window.skyhubCall = { get pc() { return current && current.media ? current.media.pc : null; }, get call() { return current && current.call; } };

function roleIn(call) {
  if (call.kind === "call") return "call";
  return call.owner === me.username ? "speaker" : "listener";
}

function mine(call) {
  return call.members.find((m) => m.username === me.username);
}

function memberText(m) {
  return `${m.username}: ${m.state}${m.rejoin_by ? " (reconnecting)" : ""}`;
}

function show(call) {
  const state = call.state === "ended" ? `Call ended: ${call.ended_reason}` : `${call.kind} ${call.state} — ${call.members.map(memberText).join(", ")}`;
  $("#status").textContent = state;
  const m = mine(call);
  const ringing = call.state !== "ended" && m && m.state === "invited";
  $("#incoming").hidden = !ringing;
  if (ringing) $("#incoming-text").textContent = `${call.owner} is calling (${call.kind})`;
  if (call.floor) $("#status").textContent += ` — floor: ${call.floor.holder || "nobody"}`;
}

function ended() {
  if (current && current.media) current.media.stop();
  if (current && current.local) current.local.getTracks().forEach((t) => t.stop());
  current = null;
  $("#in-call").hidden = true;
  $("#audio").replaceChildren();
}

function onTrack(track) {
  if (track.kind === "video") {
    $("#remote").srcObject = new MediaStream([track]);
  } else {
    const a = document.createElement("audio");
    a.autoplay = true;
    a.srcObject = new MediaStream([track]);
    $("#audio").append(a);
  }
}

async function startMedia(call) {
  const role = roleIn(call);
  const cur = { call, local: null, media: null, connecting: false, rejoining: false };
  current = cur;
  cur.local = role === "listener"
    ? await navigator.mediaDevices.getUserMedia({ audio: true })
    : await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  if (current !== cur) { cur.local.getTracks().forEach((t) => t.stop()); return; }
  $("#local").srcObject = role === "listener" ? null : cur.local;
  $("#in-call").hidden = false;
  $("#speak").hidden = role !== "listener";
  await connect(cur);
}

// Our media connection for `cur`: a new offer (the hub replaces any older connection of ours).
async function connect(cur) {
  $("#audio").replaceChildren();
  cur.connecting = true;
  let media;
  try {
    media = await joinMedia(cur.call.id, roleIn(cur.call), cur.local, onTrack);
  } finally {
    cur.connecting = false;
  }
  if (current !== cur) { media.stop(); return; } // hung up meanwhile
  cur.media = media;
  onConnectionLost(media.pc, () => {
    if (current !== cur || cur.media !== media) return;
    media.stop();
    cur.media = null;
    rejoin(cur);
  });
}

// The connection was lost: offer again while the hub still keeps our place. If the hub says our
// media is connected, another tab or device of ours has the call: leave it there.
function rejoin(cur, delay = REJOIN_FIRST_MS) {
  if (cur.rejoining || cur.connecting) return;
  cur.rejoining = true;
  setTimeout(async () => {
    cur.rejoining = false;
    const m = mine(cur.call);
    if (current !== cur || cur.media || cur.connecting || cur.call.state === "ended" || !m || m.state !== "accepted" || m.media) return;
    try {
      await connect(cur);
    } catch (err) {
      if ([403, 404, 409].includes(err.status)) { ended(); return; } // the call is over for us
      rejoin(cur, Math.min(delay * 2, REJOIN_MAX_MS)); // the network is not back yet
    }
  }, delay);
}

function onMessage(msg) {
  const calls = msg.op === "calls" ? msg.calls : [msg.call];
  for (const call of calls) {
    if (current && current.call.id === call.id) current.call = call;
    if (!current || current.call.id === call.id) show(call);
    if (call.state === "ended" && current && current.call.id === call.id) ended();
    const m = mine(call);
    if (call.state === "ended" || !m || m.state !== "accepted" || m.media) continue;
    // We are in this call but our media is not: this page was reloaded, or our connection dropped.
    if (!current && !dialing) startMedia(call).catch((err) => { $("#call-error").textContent = err.message; });
    else if (current && current.call.id === call.id && !current.media && current.local) rejoin(current);
  }
}

$("#accept").addEventListener("click", async () => {
  const call = pending;
  pending = null;
  $("#incoming").hidden = true;
  if (call) await startMedia(call);
});
$("#decline").addEventListener("click", async () => {
  if (pending) await api(`/api/calls/${pending.id}/decline`, { method: "POST" });
  $("#incoming").hidden = true;
});
$("#hangup").addEventListener("click", async () => {
  if (current) await api(`/api/calls/${current.call.id}/hangup`, { method: "POST" });
  ended();
});
$("#speak").addEventListener("click", async () => {
  if (current) await api(`/api/calls/${current.call.id}/floor`, { method: "POST", body: { action: "request" } });
});
$("#call-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#call-error").textContent = "";
  dialing = true;
  try {
    const call = await api("/api/calls", { method: "POST", body: { to: new FormData(e.target).get("to") } });
    dialing = false;
    await startMedia(call);
    show(call);
  } catch (err) {
    $("#call-error").textContent = err.message;
  } finally {
    dialing = false;
  }
});

function enter(user) {
  me = user;
  $("#who").textContent = `${me.username} (${me.roles.join(", ")})`;
  $("#login").hidden = true;
  $("#phone").hidden = false;
  $("#dial").hidden = !me.roles.some((r) => ["admin", "dispatcher", "coordinator"].includes(r));
  followCalls((msg) => {
    for (const call of msg.op === "calls" ? msg.calls : [msg.call]) {
      const m = call.members.find((x) => x.username === me.username);
      if (call.state !== "ended" && m && m.state === "invited") pending = call;
    }
    onMessage(msg);
  }, (s) => { document.body.dataset.calls = s; });
}

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    enter(await login(form.get("username"), form.get("password")));
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

// The token was refused or ran out: back to the login form (the calls socket stops by itself).
onSessionEnd(() => {
  me = null;
  $("#phone").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = "Your session ended; log in again.";
});

// A reload keeps this tab logged in (the token is in sessionStorage) and so in its call.
if (sessionStorage.getItem("skyhub.token")) {
  api("/api/auth/me").then(enter, () => sessionStorage.removeItem("skyhub.token"));
}
