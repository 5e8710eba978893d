// The start page: log in, show cameras live (WHEP) and follow the event feed (resuming by id).
import { login, api, followEvents, onSessionEnd } from "/web/skyhub.js";
import { whepPlay, onConnectionLost } from "/web/rtc.js";

const $ = (sel) => document.querySelector(sel);

// One tile per camera: live WHEP video when the camera is online and browser-playable,
// otherwise its state and reason. Tiles survive refreshes; a failed player retries later.
export const tiles = new Map();
window.skyhubTiles = tiles; // for diagnostics (and the browser tests)

function caption(tile, c) {
  const cap = tile.querySelector(".cap");
  cap.innerHTML = `<b></b> <span class="state-${c.state}">${c.state}</span> <small></small>`;
  cap.querySelector("b").textContent = c.name;
  cap.querySelector("small").textContent = tile.dataset.error || c.reason || "";
}

// Where a tile's WHEP offer goes: "" for this node, or the owner's URL for a camera another
// hub node ingests.
const targetOf = (c) => (c.state === "remote" && c.owner_url) || "";

async function play(tile, c) {
  const entry = tiles.get(c.id);
  if (entry.player || entry.starting || Date.now() < entry.retryAt) return;
  entry.starting = true;
  const target = entry.target;
  try {
    const player = await whepPlay(c.id, tile.querySelector("video"), target);
    if (entry.target !== target) { player.stop(); return; } // moved meanwhile: the next refresh plays it
    entry.player = player;
    delete tile.dataset.error;
    // The hub ends a viewer whose camera stopped or moved: let go, and the next refresh plays
    // the camera again wherever it runs by then.
    onConnectionLost(player.pc, () => {
      if (entry.player !== player) return;
      player.stop(); entry.player = null; entry.retryAt = Date.now() + 2000;
    });
  } catch (err) {
    tile.dataset.error = err.message;
    entry.retryAt = Date.now() + (err.retryAfter || 5) * 1000;
    caption(tile, c);
  } finally {
    entry.starting = false;
  }
}

async function poster(tile, c) {
  try {
    const blob = await api(`/api/cameras/${c.id}/snapshot.jpg`, { raw: true });
    const video = tile.querySelector("video");
    if (video.poster) URL.revokeObjectURL(video.poster);
    video.poster = URL.createObjectURL(blob);
  } catch { /* keeps its last picture */ }
}

async function showCameras() {
  const cams = await api("/api/cameras");
  const box = $("#cameras");
  for (const c of cams) {
    let entry = tiles.get(c.id);
    if (!entry) {
      const tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.camera = c.id;
      const video = document.createElement("video");
      Object.assign(video, { autoplay: true, muted: true, playsInline: true });
      video.title = c.name;
      const cap = document.createElement("div");
      cap.className = "cap";
      tile.append(video, cap);
      box.append(tile);
      entry = { tile, player: null, starting: false, retryAt: 0, target: "" };
      tiles.set(c.id, entry);
    }
    caption(entry.tile, c);
    const target = targetOf(c);
    if (target !== entry.target) {
      // The camera moved to another node: drop the old viewer, watch it where it runs now.
      entry.target = target;
      entry.retryAt = 0;
      if (entry.player) { entry.player.stop(); entry.player = null; }
    }
    if (target) play(entry.tile, c);
    else if (c.state === "online" && c.browser_playable !== false) play(entry.tile, c);
    else if (c.state === "online") poster(entry.tile, c); // H.265/MJPEG: a snapshot instead of video
  }
}

function showEvent(ev) {
  const li = document.createElement("li");
  li.value = ev.id;
  li.textContent = `${ev.ts.slice(11, 19)} ${ev.type} ${ev.subject} ${ev.data.reason || ev.data.text || ""}`;
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > 300) list.lastChild.remove();
}

let camerasTimer = null;

// The token was refused or ran out: back to the login form (the feeds stop by themselves).
onSessionEnd(() => {
  clearInterval(camerasTimer);
  $("#desk").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = "Your session ended; log in again.";
});

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const me = await login(form.get("username"), form.get("password"));
    $("#who").textContent = `${me.username} (${me.roles.join(", ")})`;
    $("#login").hidden = true;
    $("#desk").hidden = false;
    await showCameras();
    camerasTimer = setInterval(showCameras, 5000);
    followEvents({ since: 0, onEvent: showEvent, onState: (s) => { $("#feed-state").textContent = s; } });
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});
