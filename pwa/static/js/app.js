// The app shell: language, who is signed in, navigation by role, a hash router, live events.
import { api, ApiError, devKey, Offline, setCsrf } from "./api.js";
import { h } from "./dom.js";
import { initialLang, setLang, t } from "./i18n.js";
import { startLive, stopLive } from "./live.js";

const ME = "wallet.me";
export const state = { me: null, offline: false };

const NAV = {
  client: [["#/wallet", "nav.wallet"], ["#/providers", "nav.providers"], ["#/settings", "nav.settings"]],
  carer: [["#/supported", "nav.supported"], ["#/wallet", "nav.wallet"], ["#/settings", "nav.settings"]],
  provider: [["#/charge", "nav.charge"], ["#/visits", "nav.visits"], ["#/charges", "nav.charges"], ["#/prices", "nav.prices"],
    ["#/settlements", "nav.settlements"], ["#/settings", "nav.settings"]],
  case_manager: [["#/clients", "nav.clients"], ["#/approvals", "nav.approvals"], ["#/funding", "nav.funding"],
    ["#/reports", "nav.reports"], ["#/audit", "nav.audit"], ["#/settings", "nav.settings"]],
};
const HOME = { client: "#/wallet", carer: "#/wallet", provider: "#/charge", case_manager: "#/clients/new" };

// Views anyone may open before signing in.
const PUBLIC_VIEWS = new Set(["signin", "settings", "apply"]);

const VIEWS = {
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
};

export function setOffline(offline) {
  state.offline = offline;
  document.getElementById("status").textContent = offline ? t("offline.banner") : "";
}

export async function loadMe() {
  try {
    const me = await api("/api/me");
    if (me.csrf_token) setCsrf(me.csrf_token);
    const { csrf_token: _secret, session: _s, ...keep } = me;
    state.me = keep;
    localStorage.setItem(ME, JSON.stringify(keep));
    watchSession(me.session);
    setOffline(false);
  } catch (err) {
    if (err instanceof Offline) {
      state.me = JSON.parse(localStorage.getItem(ME) || "null");
      setOffline(true);
    } else if (err instanceof ApiError && err.status === 401) {
      forget();
    } else {
      throw err;
    }
  }
  renderNav();
  return state.me;
}

// Sign-out and expired sessions: drop everything this device knows about the person.
export function forget() {
  state.me = null;
  devKey.clear();
  setCsrf(null);
  stopLive();
  clearTimeout(sessionTimer);
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("wallet.") && key !== "wallet.lang") localStorage.removeItem(key);
  }
  renderNav();
}

function renderNav() {
  const nav = document.getElementById("nav");
  const items = state.me ? NAV[state.me.role] || [] : [["#/signin", "nav.signin"], ["#/settings", "nav.settings"]];
  const current = location.hash.split("/").slice(0, 2).join("/");
  nav.replaceChildren(...items.map(([href, key]) => h("a", {
    href, "aria-current": href.split("/").slice(0, 2).join("/") === current ? "page" : null,
  }, t(key))));
}

// Warn before a passkey session times out, with a way to stay signed in.
let sessionTimer = null;
function watchSession(session) {
  clearTimeout(sessionTimer);
  document.getElementById("session-warning")?.remove();
  if (!session) return;
  const warnIn = Math.max(0, session.seconds_left - session.warn_before_s) * 1000;
  sessionTimer = setTimeout(async () => {
    let now;
    try { now = await api("/api/session"); } catch { return; }
    if (!now) return;
    if (now.seconds_left > now.warn_before_s) return watchSession(now);
    const stay = h("button", { class: "button", type: "button", onclick: async () => { await loadMe(); } }, t("session.stay"));
    const box = h("div", { id: "session-warning", class: "notice notice--error", role: "alert" },
      h("p", { class: "outcome" }, t("session.ending", { minutes: Math.max(1, Math.round(now.seconds_left / 60)) })), stay);
    document.getElementById("main").prepend(box);
    stay.focus();
    sessionTimer = setTimeout(() => { forget(); go("#/signin"); }, now.seconds_left * 1000);
  }, warnIn);
}

export function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

let renderId = 0;
async function route() {
  const id = ++renderId;
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (!state.me && !PUBLIC_VIEWS.has(name)) return go("#/signin");
  if (!name) return go(state.me ? HOME[state.me.role] || "#/settings" : "#/signin");
  const load = VIEWS[name];
  if (!load) return go("#/");
  const main = document.getElementById("main");
  const view = await load();
  if (id !== renderId) return;
  renderNav();
  // Each page renders into its own box: a page still loading (or a live redraw) after the
  // person has moved on writes into a detached box, never over the next page.
  const page = h("div", { class: "page" });
  main.replaceChildren(page);
  try {
    await view.render(page, params, { state, go });
  } catch (err) {
    if (id !== renderId) return;
    if (err instanceof ApiError && err.status === 401) { forget(); return go("#/signin"); }
    if (err instanceof Offline) {
      // A screen that needs the server, opened offline: say so plainly, not "something broke".
      setOffline(true);
      page.replaceChildren(h("h1", { tabindex: "-1" }, t("offline.title")), h("p", {}, t("offline.nothing")));
    } else {
      page.replaceChildren(h("h1", { tabindex: "-1" }, t("error.generic.title")),
        h("p", {}, err instanceof ApiError ? err.title : t("error.generic.text")));
    }
  }
  // Move focus to the new page's heading, so screen readers announce where the person is.
  const heading = page.querySelector("h1");
  if (id === renderId && heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

async function start() {
  await setLang(initialLang());
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  window.addEventListener("online", () => { setOffline(false); route(); });
  window.addEventListener("offline", () => setOffline(true));
  window.addEventListener("hashchange", route);
  await loadMe();
  if (state.me && !state.offline) startLive();
  await route();
}

export async function changeLanguage(next) {
  await setLang(next);
  if (state.offline) setOffline(true);
  renderNav();
}

start();
