// The service worker (MDN cycletracker's shape): a versioned cache of the app shell, old
// caches deleted on activate, clients claimed. Bump VERSION whenever a shell file changes.
// The API is never cached here: the app keeps the last known balances itself, so data
// is never served stale without its time.
const VERSION = "v4";
const CACHE = `wallet-shell-${VERSION}`;
const SHELL = [
  "/",
  "/index.html",
  "/app.css",
  "/manifest.webmanifest",
  "/icons/icon.svg",
  "/icons/icon-192.png",
  "/js/app.js",
  "/js/api.js",
  "/js/dom.js",
  "/js/format.js",
  "/js/forms.js",
  "/js/i18n.js",
  "/js/live.js",
  "/js/views/wallet.js",
  "/js/views/charge.js",
  "/js/views/charges.js",
  "/js/views/clients.js",
  "/js/views/settings.js",
  "/js/views/signin.js",
  "/i18n/fi.json",
  "/i18n/sv.json",
  "/i18n/en.json",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith("wallet-shell-") && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/schema") || url.pathname === "/health") return;
  if (event.request.mode === "navigate") {
    // Pages: the network first (fresh shell), the cached shell when offline.
    event.respondWith(fetch(event.request).catch(async () => (await caches.match(event.request)) || caches.match("/")));
    return;
  }
  // Shell files: from the cache at once, refreshed in the background for next time.
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(event.request);
    const fresh = fetch(event.request).then((res) => {
      if (res.ok && SHELL.includes(url.pathname)) cache.put(event.request, res.clone());
      return res;
    });
    if (cached) {
      event.waitUntil(fresh.catch(() => {}));
      return cached;
    }
    return fresh;
  })());
});
