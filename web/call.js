// The call page: be reachable, answer (or place) a call, talk, hang up. Built on rtc.js.
import { login, api } from "/web/skyhub.js";
import { followCalls, joinMedia } from "/web/rtc.js";

const $ = (sel) => document.querySelector(sel);
let me = null;
let current = null; // {call, local, media}
let pending = null; // the call ringing here
window.skyhubCall = { get pc() { return current && current.media ? current.media.pc : null; }, get call() { return current && current.call; } };

function roleIn(call) {
  if (call.kind === "call") return "call";
  return call.owner === me.username ? "speaker" : "listener";
}

function mine(call) {
  return call.members.find((m) => m.username === me.username);
}

function show(call) {
  const state = call.state === "ended" ? `Call ended: ${call.ended_reason}` : `${call.kind} ${call.state} — ${call.members.map((m) => `${m.username}: ${m.state}`).join(", ")}`;
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

async function startMedia(call) {
  const role = roleIn(call);
  const local = role === "listener"
    ? await navigator.mediaDevices.getUserMedia({ audio: true })
    : await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  current = { call, local, media: null };
  $("#local").srcObject = role === "listener" ? null : local;
  $("#in-call").hidden = false;
  $("#speak").hidden = role !== "listener";
  current.media = await joinMedia(call.id, role, local, (track) => {
    if (track.kind === "video") {
      $("#remote").srcObject = new MediaStream([track]);
    } else {
      const a = document.createElement("audio");
      a.autoplay = true;
      a.srcObject = new MediaStream([track]);
      $("#audio").append(a);
    }
  });
}

function onMessage(msg) {
  const calls = msg.op === "calls" ? msg.calls : [msg.call];
  for (const call of calls) {
    if (current && current.call.id === call.id) current.call = call;
    if (!current || current.call.id === call.id) show(call);
    if (call.state === "ended" && current && current.call.id === call.id) ended();
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
  try {
    const call = await api("/api/calls", { method: "POST", body: { to: new FormData(e.target).get("to") } });
    await startMedia(call);
    show(call);
  } catch (err) {
    $("#call-error").textContent = err.message;
  }
});

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    me = await login(form.get("username"), form.get("password"));
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
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});
