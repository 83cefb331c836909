// The app shell's modules in one file: built by pwa/bundle.mjs (esbuild), `make bundle`.
// Do not edit; served in their place only while it matches them (pwa.shell_bundle).
// sources: js/i18n.js js/api.js js/dom.js js/format.js js/live.js js/router.js js/session.js js/app.js sha256:08357335ab622bff021a9055e2893e68238fcf230fc1747f183167c216e6a21d
// js/i18n.js
var LANGS = ["fi", "sv", "en"];
var LOCALES = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" };
var lang = "fi";
var strings = {};
var partial = false;
var rest = null;
var missed = window.walletMissedTexts = /* @__PURE__ */ new Set();
function currentLang() {
  return lang;
}
function locale() {
  return LOCALES[lang];
}
var formatters = /* @__PURE__ */ new Map();
function intl(Kind, options = {}, tag = locale()) {
  const key = `${Kind.name} ${tag} ${JSON.stringify(options)}`;
  let made = formatters.get(key);
  if (!made) formatters.set(key, made = new Kind(tag, options));
  return made;
}
async function setLang(next, { first = null } = {}) {
  lang = LANGS.includes(next) ? next : "fi";
  const file = `/i18n/${lang}${first ? `.first.${first}` : ""}.json`;
  const early2 = window.walletEarly;
  const asked = early2?.stringsFile === file && early2.strings;
  if (early2) early2.strings = null;
  const res = await (asked || fetch(file));
  strings = await res.json();
  partial = Boolean(first);
  rest = null;
  missed.clear();
  localStorage.setItem("wallet.lang", lang);
  document.documentElement.lang = lang;
  document.title = t("app.name");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}
function restOfStrings() {
  if (!partial) return Promise.resolve(false);
  const asking = lang;
  rest ||= fetch(`/i18n/${lang}.json`).then((res) => res.json()).then((all) => {
    if (asking !== lang || !partial) return false;
    strings = all;
    partial = false;
    return missed.size > 0;
  }).catch(() => {
    rest = null;
    return false;
  });
  return rest;
}
function initialLang() {
  const saved = localStorage.getItem("wallet.lang");
  if (LANGS.includes(saved)) return saved;
  const browser = (navigator.language || "fi").slice(0, 2);
  return LANGS.includes(browser) ? browser : "fi";
}
function t(key, vars = {}) {
  if (partial && !(key in strings)) missed.add(key);
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}
function has(key) {
  if (partial && !(key in strings)) missed.add(key);
  return key in strings;
}
function tn(key, count, vars = {}) {
  const rule = intl(Intl.PluralRules).select(count);
  const chosen = `${key}.${rule}` in strings ? `${key}.${rule}` : `${key}.other`;
  return t(chosen, { ...vars, count: intl(Intl.NumberFormat).format(count) });
}

// js/api.js
var DEV_KEY = "wallet.devApiKey";
var CSRF = "wallet.csrf";
var ApiError = class extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type || "";
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.problem = problem;
  }
  get slug() {
    return this.type.split("/").pop();
  }
};
var Offline = class extends Error {
};
var devKey = {
  get: () => sessionStorage.getItem(DEV_KEY),
  set: (key) => sessionStorage.setItem(DEV_KEY, key.trim()),
  clear: () => sessionStorage.removeItem(DEV_KEY)
};
function setCsrf(token) {
  if (token) sessionStorage.setItem(CSRF, token);
  else sessionStorage.removeItem(CSRF);
}
var early = window.walletEarly || { who: null, answers: {} };
var confirmed = false;
var meWasEarly = false;
function confirmEarly(principalId) {
  confirmed = Boolean(principalId) && (early.who ? principalId === early.who : meWasEarly);
  if (!confirmed) dropEarly();
}
function dropEarly() {
  early.answers = {};
  early.mine = null;
  confirmed = false;
}
function takeEarly(path) {
  const answer = early.answers[path];
  if (!answer || path !== "/api/me" && !confirmed) return null;
  delete early.answers[path];
  if (path === "/api/me") meWasEarly = true;
  return answer;
}
var MINE = { "": "wallet", "/transactions?limit=100": "transactions", "/payment-requests": "payment_requests" };
function takeMine(path) {
  const m = /^\/api\/wallets\/([0-9a-f-]+)(.*)$/.exec(path);
  const part = m && confirmed && early.mine && MINE[m[2]];
  if (!part) return null;
  return early.mine.then((body) => {
    if (!body || body.wallet_id !== m[1] || !(part in body)) return null;
    const data = body[part];
    delete body[part];
    return new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } });
  });
}
function headers(extra = {}) {
  const h2 = { Accept: "application/json", "Accept-Language": currentLang(), ...extra };
  const key = devKey.get();
  if (key) h2.Authorization = `Bearer ${key}`;
  return h2;
}
async function api(path, { method = "GET", body, file, idempotencyKey, signal } = {}) {
  const extra = {};
  if (body !== void 0) extra["Content-Type"] = "application/json";
  if (file) extra["Content-Type"] = file.type;
  if (idempotencyKey) extra["Idempotency-Key"] = idempotencyKey;
  const csrf = sessionStorage.getItem(CSRF);
  if (method !== "GET" && csrf && !devKey.get()) extra["X-CSRF-Token"] = csrf;
  let res;
  try {
    const ready = method === "GET" && !signal && (takeEarly(path) || takeMine(path));
    res = ready && await ready || await fetch(path, {
      method,
      signal,
      credentials: "same-origin",
      headers: headers(extra),
      body: file ? file.data : body === void 0 ? void 0 : JSON.stringify(body)
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Offline(String(err));
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : null;
  if (!res.ok) throw new ApiError(res.status, data || {});
  return data;
}
function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// js/dom.js
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "style") el.style.cssText = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}
function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// js/format.js
function money(cents) {
  return intl(Intl.NumberFormat, { style: "currency", currency: "EUR" }, "fi-FI").format(cents / 100);
}
function parseMoney(text) {
  const m = String(text).trim().replace(/\s|€/g, "").match(/^(\d{1,7})(?:[.,](\d{1,2}))?$/);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}
function parseQuantity(text) {
  const m = String(text).trim().match(/^(\d{1,4})(?:[.,](\d{1,3}))?$/);
  if (!m) return null;
  const thousandths = Number(m[1]) * 1e3 + Number((m[2] || "").padEnd(3, "0"));
  if (thousandths <= 0) return null;
  return { text: m[2] ? `${m[1]}.${m[2]}` : m[1], thousandths };
}
function lineCents(thousandths, unitCents) {
  return Math.floor((thousandths * unitCents + 500) / 1e3);
}
function instant(iso) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return /* @__PURE__ */ new Date(`${iso}T12:00:00`);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}
var HELSINKI = "Europe/Helsinki";
var DAY = { day: "numeric", month: "numeric", year: "numeric", timeZone: HELSINKI };
function time(iso) {
  return intl(Intl.DateTimeFormat, { hour: "2-digit", minute: "2-digit", timeZone: HELSINKI }).format(instant(iso));
}
function date(iso) {
  return intl(Intl.DateTimeFormat, DAY).format(instant(iso));
}
function lastDay(iso) {
  return intl(Intl.DateTimeFormat, DAY).format(new Date(instant(iso).getTime() - 1));
}
function dateTime(iso) {
  return intl(Intl.DateTimeFormat, {
    day: "numeric",
    month: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: HELSINKI
  }).format(instant(iso));
}
function monthName(period) {
  const [y, m] = period.split("-").map(Number);
  return intl(Intl.DateTimeFormat, { month: "long", year: "numeric" }).format(new Date(y, m - 1, 15));
}
function percent(text) {
  return intl(Intl.NumberFormat, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(Number(text) / 100);
}
function phone(e164) {
  const m = /^\+358(\d{5,12})$/.exec(e164 || "");
  if (!m) return e164 || "";
  const digits = m[1];
  const head = /^(4\d|50|1\d)/.test(digits) ? 2 : 1;
  const rest2 = digits.slice(head);
  return `+358 ${digits.slice(0, head)} ${rest2.slice(0, 3)} ${rest2.slice(3)}`.trim();
}

// js/live.js
var controller = null;
var lastId = null;
var listeners = /* @__PURE__ */ new Set();
function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function stopLive() {
  controller?.abort();
  controller = null;
}
async function startLive() {
  stopLive();
  const mine = new AbortController();
  controller = mine;
  let delay = 2e3;
  while (controller === mine) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      const res = await fetch("/api/events", { headers: headers(extra), signal: mine.signal, credentials: "same-origin" });
      if (res.status === 404 || res.status === 401 || res.status === 403) return;
      if (!res.ok || !res.body) throw new Error(`events ${res.status}`);
      delay = 2e3;
      await read(res.body);
    } catch (err) {
      if (mine.signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 6e4);
  }
}
async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (; ; ) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
    }
  }
}
function dispatch(block) {
  const event = { type: "message", data: "", id: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") event.id = value;
  }
  if (event.id) lastId = event.id;
  if (!data.length) return;
  try {
    event.data = JSON.parse(data.join("\n"));
  } catch {
    event.data = data.join("\n");
  }
  for (const fn of listeners) fn(event);
}
var NOTICE_TYPES = { "charge.captured": "live.charged", "refund.created": "live.refunded" };
function isMoneyEvent(event) {
  return Boolean(NOTICE_TYPES[event.type || event.data?.type]);
}
function moneyNotice(event, wallet, items = []) {
  const key = NOTICE_TYPES[event.type || event.data?.type];
  const d = event.data?.data;
  if (!key || !d || !wallet) return null;
  const amount = d.total_cents ?? d.amount_cents;
  if (typeof amount !== "number") return null;
  const balance = wallet.envelopes.reduce((sum, e) => sum + e.balance_cents, 0);
  const provider = d.provider_name || items.find((i) => d.charge_id && i.charge_id === d.charge_id)?.provider_name || t("history.someProvider");
  return { id: String(event.data.id || event.id || Date.now()), text: t(key, { provider, amount: money(amount), balance: money(balance) }) };
}
function noticeBox(notice, onClose) {
  return h(
    "div",
    { class: "notice notice--ok live-notice", "data-live-notice": notice.id },
    h("p", {}, notice.text),
    h("button", {
      class: "button button--secondary",
      type: "button",
      "aria-label": t("live.closeNamed", { text: notice.text }),
      onclick: onClose
    }, t("live.close"))
  );
}

// js/router.js
function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}
document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const link = ev.target instanceof Element ? ev.target.closest("a[href^='#/']") : null;
  if (!link || link.target || link.hasAttribute("download")) return;
  const hash = link.getAttribute("href");
  if (hash !== location.hash) return;
  ev.preventDefault();
  go(hash);
});

// js/session.js
var ME = "wallet.me";
var state = { me: null, offline: false };
function changed() {
  window.dispatchEvent(new Event("wallet:me"));
}
function setOffline(offline) {
  state.offline = offline;
  document.getElementById("status").textContent = offline ? t("offline.banner") : "";
}
async function loadMe() {
  try {
    const me = await api("/api/me");
    confirmEarly(me.principal_id);
    if (me.csrf_token) setCsrf(me.csrf_token);
    const { csrf_token: _secret, session: _s, ...keep } = me;
    state.me = keep;
    localStorage.setItem(ME, JSON.stringify(keep));
    watchSession(me.session);
    setOffline(false);
  } catch (err) {
    dropEarly();
    if (err instanceof Offline) {
      state.me = JSON.parse(localStorage.getItem(ME) || "null");
      setOffline(true);
    } else if (err instanceof ApiError && err.status === 401) {
      forget();
    } else {
      throw err;
    }
  }
  changed();
  return state.me;
}
function forget() {
  state.me = null;
  devKey.clear();
  setCsrf(null);
  stopLive();
  clearTimeout(sessionTimer);
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("wallet.") && key !== "wallet.lang") localStorage.removeItem(key);
  }
  changed();
}
async function changeLanguage(next) {
  await setLang(next);
  if (state.offline) setOffline(true);
  changed();
}
var sessionTimer = null;
function watchSession(session) {
  clearTimeout(sessionTimer);
  document.getElementById("session-warning")?.remove();
  if (!session) return;
  const warnIn = Math.max(0, session.seconds_left - session.warn_before_s) * 1e3;
  sessionTimer = setTimeout(async () => {
    let now;
    try {
      now = await api("/api/session");
    } catch {
      return;
    }
    if (!now) return;
    if (now.seconds_left > now.warn_before_s) return watchSession(now);
    const stay = h("button", { class: "button", type: "button", onclick: async () => {
      await loadMe();
    } }, t("session.stay"));
    const box = h(
      "div",
      { id: "session-warning", class: "notice notice--error", role: "alert" },
      h("p", { class: "outcome" }, tn("session.ending", Math.max(1, Math.round(now.seconds_left / 60)))),
      stay
    );
    document.getElementById("main").prepend(box);
    stay.focus();
    sessionTimer = setTimeout(() => {
      forget();
      go("#/signin");
    }, now.seconds_left * 1e3);
  }, warnIn);
}

// js/app.js
var NAV = {
  client: [["#/wallet", "nav.wallet"], ["#/providers", "nav.providers"], ["#/settings", "nav.settings"]],
  carer: [["#/supported", "nav.supported"], ["#/wallet", "nav.wallet"], ["#/settings", "nav.settings"]],
  provider: [
    ["#/charge", "nav.charge"],
    ["#/visits", "nav.visits"],
    ["#/charges", "nav.charges"],
    ["#/prices", "nav.prices"],
    ["#/settlements", "nav.settlements"],
    ["#/settings", "nav.settings"]
  ],
  case_manager: [
    ["#/clients", "nav.clients"],
    ["#/approvals", "nav.approvals"],
    ["#/corrections", "cm.corrections.nav"],
    ["#/funding", "nav.funding"],
    ["#/reports", "nav.reports"],
    ["#/audit", "nav.audit"],
    ["#/settings", "nav.settings"]
  ]
};
var STAFF = { case_manager: ["#/staff", "staff.nav", "admin"], provider: ["#/team", "staff.nav", "owner"] };
var HOME = { client: "#/wallet", carer: "#/wallet", provider: "#/charge", case_manager: "#/clients" };
var PUBLIC_VIEWS = /* @__PURE__ */ new Set(["signin", "settings", "apply"]);
var VIEWS = {
  signin: () => import("./views/signin.js"),
  apply: () => import("./views/apply.js"),
  wallet: () => import("./views/wallet.js"),
  charge: () => import("./views/charge.js"),
  charges: () => import("./views/charges.js"),
  clients: () => import("./views/clients.js"),
  settings: () => import("./views/settings.js"),
  // Clients and carers (issue 6).
  passkeys: () => import("./views/client-passkeys.js"),
  notifications: () => import("./views/client-notifications.js"),
  trusted: () => import("./views/client-trusted.js"),
  providers: () => import("./views/client-directory.js"),
  carers: () => import("./views/client-carers.js"),
  views: () => import("./views/client-views.js"),
  statements: () => import("./views/client-statements.js"),
  supported: () => import("./views/carer-clients.js"),
  // Providers and case managers (issue 6).
  visits: () => import("./views/provider-visits.js"),
  prices: () => import("./views/provider-prices.js"),
  settlements: () => import("./views/provider-settlements.js"),
  approvals: () => import("./views/cm-providers.js"),
  catalogue: () => import("./views/cm-catalogue.js"),
  funding: () => import("./views/cm-funding.js"),
  reports: () => import("./views/cm-reports.js"),
  audit: () => import("./views/cm-audit.js"),
  corrections: () => import("./views/cm-corrections.js"),
  // Staff with passkeys (issue 15).
  staff: () => import("./views/cm-staff.js"),
  team: () => import("./views/provider-staff.js"),
  // Webhooks for integrations (issue 18), from the Staff screen.
  webhooks: () => import("./views/cm-webhooks.js")
};
function navItems(me) {
  if (!me) return [["#/signin", "nav.signin"], ["#/settings", "nav.settings"]];
  const items = [...NAV[me.role] || []];
  const staff = STAFF[me.role];
  if (staff && me[staff[2]]) items.splice(Math.max(items.length - 1, 0), 0, staff.slice(0, 2));
  return items;
}
var BRAND = { carer: "app.short.carer", provider: "app.short.provider", case_manager: "app.short.case_manager" };
function renderBrand() {
  const brand = document.querySelector(".brand");
  const key = BRAND[state.me?.role] || "app.short";
  if (brand) {
    brand.dataset.i18n = key;
    brand.textContent = t(key);
  }
  document.title = key === "app.short" ? t("app.name") : `${t(key)} \u2013 ${t("app.name")}`;
}
function renderNav() {
  renderBrand();
  const nav = document.getElementById("nav");
  const items = navItems(state.me);
  const current = location.hash.split("/").slice(0, 2).join("/");
  nav.replaceChildren(...items.map(([href, key]) => h("a", {
    href,
    "aria-current": href.split("/").slice(0, 2).join("/") === current ? "page" : null
  }, t(key))));
}
var renderId = 0;
var firstPage = true;
async function route() {
  const id = ++renderId;
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (!state.me && !PUBLIC_VIEWS.has(name)) return go("#/signin");
  if (!name) return go(state.me ? HOME[state.me.role] || "#/settings" : "#/signin");
  const load = VIEWS[name];
  if (!load) return go("#/");
  const main = document.getElementById("main");
  const first = firstPage && name === FIRST_SCREEN && (params.length === 0 || name === "wallet");
  firstPage = false;
  const loading = Promise.all([load(), first ? null : restOfStrings()]);
  const page = h("div", { class: "page" });
  if (first) {
    renderNav();
    main.replaceChildren(page);
  }
  const [view] = await loading;
  if (id !== renderId) return;
  if (!first) {
    renderNav();
    main.replaceChildren(page);
  }
  try {
    await view.render(page, params, { state, go });
    if (!performance.getEntriesByName("content").length) performance.mark("content");
  } catch (err) {
    if (id !== renderId) return;
    if (err instanceof ApiError && err.status === 401) {
      forget();
      return go("#/signin");
    }
    if (err instanceof Offline) {
      setOffline(true);
      page.replaceChildren(h("h1", { tabindex: "-1" }, t("offline.title")), h("p", {}, t("offline.nothing")));
    } else {
      page.replaceChildren(
        h("h1", { tabindex: "-1" }, t("error.generic.title")),
        h("p", {}, err instanceof ApiError ? err.title : t("error.generic.text"))
      );
    }
  }
  dropEarly();
  restOfStrings().then((again) => {
    if (again && id === renderId) route();
  });
  const heading = page.querySelector("h1");
  if (id === renderId && heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}
async function moneyElsewhere(event) {
  const role = state.me?.role;
  if (role !== "client" && role !== "carer" || !isMoneyEvent(event)) return;
  if (location.hash.startsWith("#/wallet") || !location.hash.replace(/^#\/?/, "")) return;
  const walletId = event.data?.wallet_id;
  if (!walletId || !(state.me.wallets || []).includes(walletId)) return;
  const page = document.querySelector("#main .page");
  const [wallet, history] = await Promise.all([
    api(`/api/wallets/${walletId}`).catch(() => null),
    api(`/api/wallets/${walletId}/transactions?limit=10`).catch(() => ({ items: [] }))
  ]);
  const notice = moneyNotice(event, wallet, history.items);
  if (!notice || !page?.isConnected) return;
  const box = noticeBox(notice, () => {
    box.remove();
    page.querySelector("h1")?.focus();
  });
  const heading = page.querySelector("h1");
  if (heading) heading.after(box);
  else page.prepend(box);
  announce(notice.text);
}
function prefetchView() {
  let name = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean)[0];
  if (!name) {
    try {
      name = HOME[JSON.parse(localStorage.getItem("wallet.me") || "null")?.role]?.slice(2);
    } catch {
      name = null;
    }
  }
  VIEWS[name]?.().catch(() => {
  });
  for (const load of ALSO[name] || []) load().catch(() => {
  });
}
var ALSO = {
  wallet: [() => import("./views/client-chart.js"), () => import("./views/client-context.js")],
  clients: [
    () => import("./views/cm-clients.js"),
    () => import("./views/cm-client-file.js"),
    () => import("./views/cm-sms.js"),
    () => import("./views/cm-new-client.js"),
    () => import("./views/client-invite.js")
  ]
};
var FIRST_SCREEN = window.walletEarly?.first || null;
async function start() {
  prefetchView();
  await Promise.all([setLang(initialLang(), { first: FIRST_SCREEN }), loadMe()]);
  if (state.offline) setOffline(true);
  window.addEventListener("online", () => {
    setOffline(false);
    route();
  });
  window.addEventListener("offline", () => setOffline(true));
  window.addEventListener("hashchange", route);
  onLive((event) => {
    moneyElsewhere(event).catch(() => {
    });
  });
  if (state.me && !state.offline) startLive();
  await route();
  window.addEventListener("wallet:me", renderNav);
  document.head.append(h("link", { rel: "manifest", href: "/manifest.webmanifest" }));
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    });
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();
export {
  ApiError,
  LANGS,
  Offline,
  announce,
  api,
  changeLanguage,
  confirmEarly,
  currentLang,
  date,
  dateTime,
  devKey,
  dropEarly,
  forget,
  go,
  h,
  has,
  headers,
  initialLang,
  instant,
  intl,
  isMoneyEvent,
  lastDay,
  lineCents,
  loadMe,
  locale,
  money,
  moneyNotice,
  monthName,
  newKey,
  noticeBox,
  onLive,
  parseMoney,
  parseQuantity,
  percent,
  phone,
  restOfStrings,
  setCsrf,
  setLang,
  setOffline,
  startLive,
  state,
  stopLive,
  t,
  time,
  tn
};
