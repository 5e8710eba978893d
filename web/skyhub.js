// The browser module every skyhub page builds on: login, API calls, the resuming event feed.
let token = sessionStorage.getItem("skyhub.token");

export async function login(username, password) {
  const r = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw new Error(r.status === 401 ? "Wrong username or password" : `Login failed (${r.status})`);
  token = (await r.json()).access_token;
  sessionStorage.setItem("skyhub.token", token);
  return api("/api/auth/me");
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status}`);
  return raw ? r.blob() : r.json();
}

// Follow /ws/events from `since`, reconnecting from the last id seen: nothing is missed,
// nothing is shown twice (ids only grow).
export function followEvents({ since = 0, types = [], onEvent, onState = () => {} }) {
  let last = since;
  let stopped = false;
  let ws;
  let delay = 500;
  const connect = () => {
    const q = new URLSearchParams({ since: String(last), token });
    for (const t of types) q.append("type", t);
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/events?${q}`);
    ws.onopen = () => { delay = 500; onState("connected"); };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (!Array.isArray(msg)) {
        if (msg.control === "resync") last = Math.max(last, msg.last_id);
        if (msg.control === "live") onState("live");
        return;
      }
      for (const ev of msg) {
        if (ev.id <= last) continue;
        last = ev.id;
        onEvent(ev);
      }
    };
    ws.onclose = () => {
      if (stopped) return;
      onState("reconnecting");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  connect();
  return { stop() { stopped = true; ws.close(); }, get last() { return last; } };
}

// The bearer token of the logged-in user (for modules that call fetch or WebSocket themselves).
export function bearer() {
  return token;
}
