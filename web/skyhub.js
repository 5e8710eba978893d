// The browser module every skyhub page builds on: login and token refresh, API calls, and live
// WebSockets that reconnect until the session ends (then every page goes back to its login form).
const TOKEN_KEY = "skyhub.token";
// Refresh once this share of a token's lifetime has passed (6 h of the default 8 h), leaving the
// rest for retries while the network is away.
const REFRESH_AT = 0.75;
// While a refresh cannot reach the hub, try again this often (as long as the token lasts).
const REFRESH_RETRY_MS = 30_000;
// Reconnect delays of live sockets: first, and the most they back off to.
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10_000;

let token = sessionStorage.getItem(TOKEN_KEY);
let refreshTimer = null;
const sessionEndListeners = new Set();

// An HTTP answer that was not 2xx; `status` says which.
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The claims of a token (not verified: only to know when it runs out).
function claims(t) {
  try {
    return JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return null;
  }
}

const nowS = () => Date.now() / 1000;
const valid = (t) => { const c = t && claims(t); return Boolean(c && c.exp > nowS()); };

function keep(newToken) {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  scheduleRefresh();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const c = token && claims(token);
  if (!c || !c.exp) return;
  const issued = c.iat ?? nowS();
  const at = issued + (c.exp - issued) * REFRESH_AT;
  refreshTimer = setTimeout(refresh, Math.max(0, (at - nowS()) * 1000));
}

function retryRefresh() {
  clearTimeout(refreshTimer);
  if (!valid(token)) { endSession("expired"); return; }
  const left = (claims(token).exp - nowS()) * 1000;
  refreshTimer = setTimeout(refresh, Math.min(REFRESH_RETRY_MS, left));
}

// Swap the token for a new one with a full lifetime (done on a timer; callable at any time).
// True when it worked; a refused refresh (401) ends the session.
export async function refresh() {
  if (!token) return false;
  let r;
  try {
    r = await fetch("/api/auth/refresh", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  } catch {
    retryRefresh();
    return false;
  }
  if (r.status === 401) { endSession("expired"); return false; }
  if (!r.ok) { retryRefresh(); return false; }
  keep((await r.json()).access_token);
  return true;
}

// Call `fn(reason)` when the session ends (token refused or run out); returns the unsubscribe.
export function onSessionEnd(fn) {
  sessionEndListeners.add(fn);
  return () => sessionEndListeners.delete(fn);
}

// Forget the token and tell every listener: the page shows its login form again.
export function endSession(reason = "ended") {
  if (token === null) return;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(refreshTimer);
  for (const fn of [...sessionEndListeners]) fn(reason);
}

export async function login(username, password) {
  const r = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw new Error(r.status === 401 ? "Wrong username or password" : `Login failed (${r.status})`);
  keep((await r.json()).access_token);
  return api("/api/auth/me");
}

// The logged-in user when this tab still holds a valid token (a reload), else null.
export async function resume() {
  if (!valid(token)) { token = null; sessionStorage.removeItem(TOKEN_KEY); return null; }
  try {
    const me = await api("/api/auth/me");
    scheduleRefresh();
    return me;
  } catch {
    return null;
  }
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) endSession("expired");
  if (!r.ok) throw new HttpError(r.status, `${method} ${path}: ${r.status}`);
  return raw ? r.blob() : r.json();
}

// After a WebSocket closed without opening: is the session still good? A refused handshake looks
// the same as a network error to a page (the browser hides the HTTP status), so ask the hub; on
// 401 the session ends instead of reconnecting with a dead token forever.
export async function sessionAlive() {
  if (!token) return false;
  try {
    const r = await fetch("/api/auth/me", { headers: { Authorization: `Bearer ${token}` } });
    if (r.status === 401) { endSession("expired"); return false; }
  } catch { /* the hub is unreachable: keep trying */ }
  return true;
}

// A WebSocket to `path` that reconnects (backing off) with the current token until stopped or the
// session ends. `prepare()` runs before each connect (a 401 there ends the session); `query()`
// gives the URL's [name, value] pairs at that moment.
export function liveSocket(path, { query = () => [], prepare = async () => {}, onOpen = () => {}, onMessage, onState = () => {} }) {
  let stopped = false;
  let ws = null;
  let timer = null;
  let delay = RECONNECT_FIRST_MS;
  const again = () => {
    if (stopped) return;
    onState("reconnecting");
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  };
  const connect = async () => {
    if (stopped || !token) return;
    try {
      await prepare();
    } catch {
      if (token) again();
      return;
    }
    if (stopped || !token) return;
    const q = new URLSearchParams(query());
    q.set("token", token);
    let opened = false;
    const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}?${q}`);
    ws = sock;
    sock.onopen = () => { opened = true; delay = RECONNECT_FIRST_MS; onState("connected"); onOpen(sock); };
    sock.onmessage = (m) => onMessage(JSON.parse(m.data), sock);
    sock.onclose = async () => {
      if (stopped || ws !== sock) return;
      if (!opened && !(await sessionAlive())) return;
      again();
    };
  };
  const unsubscribe = onSessionEnd(() => stop("logged out"));
  function stop(state = "stopped") {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    clearTimeout(timer);
    if (ws) ws.close();
    onState(state);
  }
  connect();
  return {
    stop: () => stop(),
    // Send now if connected; false when not (the caller keeps it for the next connect).
    send(text) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(text); return true; }
      return false;
    },
  };
}

// Follow /ws/events from `since`, reconnecting from the last id seen: nothing is missed,
// nothing is shown twice (ids only grow).
export function followEvents({ since = 0, types = [], onEvent, onState = () => {} }) {
  let last = since;
  const sock = liveSocket("/ws/events", {
    query: () => [["since", String(last)], ...types.map((t) => ["type", t])],
    onState,
    onMessage: (msg) => {
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
    },
  });
  return { stop: () => sock.stop(), get last() { return last; } };
}

// The bearer token of the logged-in user (for modules that call fetch or WebSocket themselves).
export function bearer() {
  return token;
}

scheduleRefresh();
