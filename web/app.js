// The start page: log in, show cameras and follow the event feed (resuming by id).
import { login, api, followEvents } from "/web/skyhub.js";

const $ = (sel) => document.querySelector(sel);

async function showCameras() {
  const cams = await api("/api/cameras");
  const box = $("#cameras");
  box.replaceChildren();
  for (const c of cams) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.camera = c.id;
    const img = document.createElement("img");
    img.alt = c.name;
    const cap = document.createElement("div");
    cap.innerHTML = `<b></b> <span class="state-${c.state}">${c.state}</span> <small></small>`;
    cap.querySelector("b").textContent = c.name;
    cap.querySelector("small").textContent = c.reason || "";
    tile.append(img, cap);
    box.append(tile);
  }
}

async function refreshSnapshots() {
  for (const tile of document.querySelectorAll(".tile")) {
    try {
      const blob = await api(`/api/cameras/${tile.dataset.camera}/snapshot.jpg`, { raw: true });
      const img = tile.querySelector("img");
      const old = img.src;
      img.src = URL.createObjectURL(blob);
      if (old) URL.revokeObjectURL(old);
    } catch { /* a camera without a picture keeps its last one */ }
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

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const me = await login(form.get("username"), form.get("password"));
    $("#who").textContent = `${me.username} (${me.roles.join(", ")})`;
    $("#login").hidden = true;
    $("#desk").hidden = false;
    await showCameras();
    refreshSnapshots();
    setInterval(refreshSnapshots, 2000);
    setInterval(showCameras, 5000);
    followEvents({ since: 0, onEvent: showEvent, onState: (s) => { $("#feed-state").textContent = s; } });
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});
