// Service worker of /report: keeps the app shell so the worker's page opens with no network.
// Served by the app at /report/sw.js with the shell list and version filled in
// (dispatch/web/views.py); a new version replaces the old cache.
const VERSION = "__VERSION__";
const SHELL = ["__SHELL__"];
const CACHE = `gd-report-${VERSION}`;
// read-only, not personal, and needed to draw the form offline (event types, units, areas)
const KEEP_API = [/^\/api\/v1\/web\/config$/, /^\/api\/v1\/event-types$/, /^\/api\/v1\/units$/, /^\/api\/v1\/grid\/areas$/];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("gd-report-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

/** Network first (fresh when online), the cached copy when the network fails. */
async function networkFirst(request, cacheKey = request) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(request);
    if (res.ok) await cache.put(cacheKey, res.clone());
    return res;
  } catch (err) {
    const hit = await cache.match(cacheKey, { ignoreSearch: false });
    if (hit) return hit;
    throw err;
  }
}

/** The cached copy at once (a weak signal must not hold the page), refreshed behind it. */
async function staleWhileRevalidate(event, key) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(key);
  const fresh = fetch(event.request).then(async (res) => {
    if (res.ok) await cache.put(key, res.clone());
    return res;
  });
  if (hit) {
    event.waitUntil(fresh.catch(() => {}));
    return hit;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && url.pathname === "/report") {
    event.respondWith(networkFirst(req, "/report"));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staleWhileRevalidate(event, url.pathname));
  } else if (KEEP_API.some((re) => re.test(url.pathname))) {
    event.respondWith(networkFirst(req));
  }
});
