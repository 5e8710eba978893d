// The worker app's service worker (served as /worker-sw.js, scope /worker): it keeps the app
// shell (the page, its modules, styles, messages, icons) so that the app opens without a network,
// and answers from that copy without asking the network. The hub serves this file with the
// shell's list and a version made from its files' contents: a new version of any file is a new
// service worker with a cache of its own, installed in the background and used from the next
// start (the page and its modules always of one version). It never keeps API answers, sockets or
// video: those are the hub's, live.
const VERSION = "dev"; // skyhub:version
const SHELL = ["/worker", "/worker.webmanifest", "/web/styles/worker.css", "/web/pages/worker.js"]; // skyhub:shell
const CACHE = `skyhub-worker-${VERSION}`;
const KEEP = [/^\/worker$/, /^\/worker\.webmanifest$/, /^\/web\//];
/** Chromium's static routes: the shell (the page as such, its files) straight from this cache, the
 * hub's API straight from the network, neither waiting for this worker to start. */
const ROUTES = [
  { condition: { urlPattern: { pathname: "/worker", search: "" }, requestMethod: "GET" }, source: { cacheName: CACHE } },
  { condition: { urlPattern: { pathname: "/web/*" }, requestMethod: "GET" }, source: { cacheName: CACHE } },
  { condition: { urlPattern: { pathname: "/api/*" } }, source: "network" },
];

self.addEventListener("install", (event) => {
  // Where the browser can (Chromium's static routing), the shell comes from this cache without
  // running this worker at all: a start does not wait for it to wake and answer each file. What is
  // not kept yet still comes from the network.
  const routed = "addRoutes" in event ? event.addRoutes(ROUTES).catch(() => undefined) : undefined;
  event.waitUntil(
    Promise.all([routed, caches.open(CACHE).then((c) => c.addAll(SHELL))]).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// The page names what it loaded (modules, styles, messages): kept, so that the next start works
// without a network even though the first load happened before this worker took over.
self.addEventListener("message", (event) => {
  const msg = event.data;
  if (!msg || msg.type !== "keep" || !Array.isArray(msg.urls)) return;
  const mine = msg.urls.filter((u) => {
    const url = new URL(u, self.location.origin);
    return url.origin === self.location.origin && KEEP.some((re) => re.test(url.pathname));
  });
  event.waitUntil(
    caches.open(CACHE).then((c) =>
      Promise.all(
        mine.map(async (u) => {
          if (!(await c.match(u))) await c.add(u).catch(() => undefined);
        }),
      ),
    ),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const u = new URL(req.url);
  if (u.origin !== self.location.origin || !KEEP.some((re) => re.test(u.pathname))) return;
  const key = u.pathname === "/worker" ? "/worker" : req;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const kept = await cache.match(key, { ignoreSearch: u.pathname === "/worker" });
      if (kept) return kept;
      const r = await fetch(req);
      if (r.ok) void cache.put(key, r.clone());
      return r;
    }),
  );
});
