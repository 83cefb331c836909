// The service worker (MDN cycletracker's shape): a versioned cache of the app shell, old
// caches deleted on activate, clients claimed. Bump VERSION whenever a shell file changes.
// The API is never cached here: the app keeps the last known balances itself, so data
// is never served stale without its time.
// Web Push (issue 5): the server's JSON payload becomes a notification; a payment request's
// approve/decline buttons are answered here, with the session cookie and the CSRF token read
// from /api/me (the worker cannot see the page's memory); if that is not possible the app
// opens at the wallet, where the request waits.
const VERSION = "v47";
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
  "/js/router.js",
  "/js/session.js",
  // The modules above in one file, which the page loads in their place while it is built
  // from them as they are (pwa.shell_page; make bundle).
  "/js/shell.bundle.js",
  "/js/views/wallet.js",
  "/js/views/charge.js",
  "/js/views/charges.js",
  "/js/views/clients.js",
  "/js/views/client-invite.js",
  "/js/views/settings.js",
  "/js/views/signin.js",
  "/js/views/apply.js",
  "/js/views/client-context.js",
  "/js/views/client-chart.js",
  "/js/views/client-passkeys.js",
  "/js/views/client-notifications.js",
  "/js/views/client-trusted.js",
  "/js/views/client-directory.js",
  "/js/views/client-carers.js",
  "/js/views/client-views.js",
  "/js/views/client-statements.js",
  "/js/views/carer-clients.js",
  "/js/views/provider-visits.js",
  "/js/views/provider-prices.js",
  "/js/views/provider-settlements.js",
  "/js/views/cm-clients.js",
  "/js/views/cm-new-client.js",
  "/js/views/cm-sms.js",
  "/js/views/cm-client-file.js",
  "/js/views/cm-import.js",
  "/js/views/cm-corrections.js",
  "/js/views/cm-providers.js",
  "/js/views/cm-catalogue.js",
  "/js/views/cm-funding.js",
  "/js/views/cm-reports.js",
  "/js/views/cm-audit.js",
  "/js/views/cm-staff.js",
  "/js/views/provider-staff.js",
  "/js/views/staff-shared.js",
  "/js/views/cm-webhooks.js",
  // Not listed: views/provider-scan.js and vendor/qr-scanner*.js, fetched only when a
  // provider opens the camera (scanning needs a connection to charge anyway).
  "/i18n/fi.json",
  "/i18n/sv.json",
  "/i18n/en.json",
  "/i18n/fi.first.wallet.json",
  "/i18n/fi.first.charge.json",
  "/i18n/fi.first.clients.json",
  "/i18n/sv.first.wallet.json",
  "/i18n/sv.first.charge.json",
  "/i18n/sv.first.clients.json",
  "/i18n/en.first.wallet.json",
  "/i18n/en.first.charge.json",
  "/i18n/en.first.clients.json",
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

// --- Web Push -----------------------------------------------------------------------------

const DONE = {
  fi: { approve: "Maksu hyväksytty", decline: "Maksu hylätty" },
  sv: { approve: "Betalningen godkändes", decline: "Betalningen avböjdes" },
  en: { approve: "Payment approved", decline: "Payment declined" },
};

self.addEventListener("push", (event) => {
  let p = {};
  try {
    p = event.data ? event.data.json() : {};
  } catch {
    p = { body: event.data ? event.data.text() : "" };
  }
  const title = p.title || "Oma budjetti";
  const options = {
    body: p.body || "",
    tag: p.tag || undefined,
    lang: p.lang || "fi",
    renotify: false,
    icon: "/icons/icon-192.png",
    badge: "/icons/maskable-192.png",
    data: { url: p.url || "/", request_id: p.request_id || null, wallet_id: p.wallet_id || null, lang: p.lang || "fi" },
  };
  if (Array.isArray(p.actions) && p.actions.length) {
    options.actions = p.actions
      .filter((a) => a && (a.action === "approve" || a.action === "decline"))
      .map((a) => ({ action: a.action, title: a.title }));
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

// Approve or decline with the session cookie; the CSRF token comes from /api/me.
async function answerRequest(what, data) {
  const me = await fetch("/api/me", { credentials: "include", headers: { Accept: "application/json" } });
  if (!me.ok) return false;
  const { csrf_token: csrf } = await me.json();
  if (!csrf) return false;
  const res = await fetch(`/api/payment-requests/${encodeURIComponent(data.request_id)}/${what}`, {
    method: "POST",
    credentials: "include",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept-Language": data.lang || "fi" },
    body: JSON.stringify(data.wallet_id ? { wallet_id: data.wallet_id } : {}),
  });
  return res.ok;
}

async function openApp(url) {
  const target = new URL(url || "/", self.location.origin);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin !== target.origin) continue;
    await client.focus();
    if (target.hash && "navigate" in client) await client.navigate(target.href).catch(() => {});
    return;
  }
  await self.clients.openWindow(target.href);
}

self.addEventListener("notificationclick", (event) => {
  const note = event.notification;
  const data = note.data || {};
  note.close();
  event.waitUntil((async () => {
    const what = event.action;
    if ((what === "approve" || what === "decline") && data.request_id) {
      let ok = false;
      try { ok = await answerRequest(what, data); } catch { ok = false; }
      if (ok) {
        const words = DONE[data.lang] || DONE.fi;
        await self.registration.showNotification(words[what], {
          tag: `${note.tag || "wallet"}-answer`, lang: data.lang || "fi", renotify: false,
          icon: "/icons/icon-192.png", badge: "/icons/maskable-192.png", data: { url: data.url || "/" },
        });
        return;
      }
      // Not signed in here, or the answer failed: the request waits in the app.
      await openApp(data.wallet_id ? `/#/wallet/${data.wallet_id}` : "/#/wallet");
      return;
    }
    await openApp(data.url || "/");
  })());
});

// The push service replaced the subscription: subscribe again with the same key and tell
// the server (with the session cookie; CSRF from /api/me). Best effort.
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const key = old?.options?.applicationServerKey;
    const sub = event.newSubscription
      || (key ? await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }) : null);
    if (!sub) return;
    const me = await fetch("/api/me", { credentials: "include", headers: { Accept: "application/json" } });
    if (!me.ok) return;
    const { csrf_token: csrf } = await me.json();
    const headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    // The old endpoint goes first: a person at the cap of ten devices must not lose this one.
    if (old?.endpoint && old.endpoint !== sub.endpoint) {
      await fetch(`/api/push/subscriptions?endpoint=${encodeURIComponent(old.endpoint)}`, { method: "DELETE", credentials: "include", headers });
    }
    await fetch("/api/push/subscriptions", { method: "POST", credentials: "include", headers, body: JSON.stringify(sub.toJSON()) });
  })().catch(() => {}));
});
