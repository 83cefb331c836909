// The app shell: the menu by role, the hash router and start-up. It exports nothing: views
// use session.js (who is signed in) and router.js (go), so no view imports the shell.
import { api, ApiError, dropEarly, Offline } from "./api.js";
import { announce, h } from "./dom.js";
import { initialLang, restOfStrings, setLang, t } from "./i18n.js";
import { isMoneyEvent, moneyNotice, noticeBox, onLive, startLive } from "./live.js";
import { go } from "./router.js";
import { forget, loadMe, setOffline, state } from "./session.js";

const NAV = {
  client: [["#/wallet", "nav.wallet"], ["#/providers", "nav.providers"], ["#/settings", "nav.settings"]],
  carer: [["#/supported", "nav.supported"], ["#/wallet", "nav.wallet"], ["#/settings", "nav.settings"]],
  provider: [["#/charge", "nav.charge"], ["#/visits", "nav.visits"], ["#/charges", "nav.charges"], ["#/prices", "nav.prices"],
    ["#/settlements", "nav.settlements"], ["#/settings", "nav.settings"]],
  case_manager: [["#/clients", "nav.clients"], ["#/approvals", "nav.approvals"], ["#/corrections", "cm.corrections.nav"], ["#/funding", "nav.funding"],
    ["#/reports", "nav.reports"], ["#/audit", "nav.audit"], ["#/settings", "nav.settings"]],
};
// Staff management, only for those who may use it: a case manager with the admin right and a
// provider's owner (the server checks again). Shown before Settings.
const STAFF = { case_manager: ["#/staff", "staff.nav", "admin"], provider: ["#/team", "staff.nav", "owner"] };
const HOME = { client: "#/wallet", carer: "#/wallet", provider: "#/charge", case_manager: "#/clients" };

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
  corrections: () => import("./views/cm-corrections.js"),
  // Staff with passkeys (issue 15).
  staff: () => import("./views/cm-staff.js"),
  team: () => import("./views/provider-staff.js"),
  // Webhooks for integrations (issue 18), from the Staff screen.
  webhooks: () => import("./views/cm-webhooks.js"),
};

function navItems(me) {
  if (!me) return [["#/signin", "nav.signin"], ["#/settings", "nav.settings"]];
  const items = [...(NAV[me.role] || [])];
  const staff = STAFF[me.role];
  if (staff && me[staff[2]]) items.splice(Math.max(items.length - 1, 0), 0, staff.slice(0, 2));
  return items;
}

// The header names the app for whoever uses it: the client's own budget, a carer's people,
// a provider's till, a case manager's work. setLang() re-reads it through data-i18n.
const BRAND = { carer: "app.short.carer", provider: "app.short.provider", case_manager: "app.short.case_manager" };

function renderBrand() {
  const brand = document.querySelector(".brand");
  const key = BRAND[state.me?.role] || "app.short";
  if (brand) { brand.dataset.i18n = key; brand.textContent = t(key); }
  document.title = key === "app.short" ? t("app.name") : `${t(key)} – ${t("app.name")}`;
}

function renderNav() {
  renderBrand();
  const nav = document.getElementById("nav");
  const items = navItems(state.me);
  const current = location.hash.split("/").slice(0, 2).join("/");
  nav.replaceChildren(...items.map(([href, key]) => h("a", {
    href, "aria-current": href.split("/").slice(0, 2).join("/") === current ? "page" : null,
  }, t(key))));
}

let renderId = 0;
let firstPage = true;
async function route() {
  const id = ++renderId;
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (!state.me && !PUBLIC_VIEWS.has(name)) return go("#/signin");
  if (!name) return go(state.me ? HOME[state.me.role] || "#/settings" : "#/signin");
  const load = VIEWS[name];
  if (!load) return go("#/");
  const main = document.getElementById("main");
  // Only the first screens are drawn from the first texts (index.html's early start asked for
  // them); any other page waits for the whole language file.
  const first = firstPage && name === FIRST_SCREEN && (params.length === 0 || name === "wallet");
  firstPage = false;
  const loading = Promise.all([load(), first ? null : restOfStrings()]);
  // Each page renders into its own box: a page still loading (or a live redraw) after the
  // person has moved on writes into a detached box, never over the next page.
  const page = h("div", { class: "page" });
  // The first page: the menu and the page's box are drawn at once, while a first screen's code
  // (asked for by the early start) is still being read. Nothing on the page can move down with
  // the menu's rows: index.html's "loading" text is hidden for its first second (app.css), so
  // the menu and the content need no frame of their own (a layout shift, CLS 0.06, when they
  // had none; a frame's wait, about 0.1 s on a slow phone, when they had).
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
    // The first screen's content is on the page: what bench/first_screen.py measures.
    if (!performance.getEntriesByName("content").length) performance.mark("content");
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
  // What the early start asked for and the first page drawn did not use is never used later
  // (the first route may only have moved on to the role's home: that page is the first).
  dropEarly();
  // The rest of the texts, after the first screen's content; a page that showed a key the
  // first file lacked is drawn again (none should: tests/e2e/test_fast_start.py).
  restOfStrings().then((again) => { if (again && id === renderId) route(); });
  // Move focus to the new page's heading, so screen readers announce where the person is.
  const heading = page.querySelector("h1");
  if (id === renderId && heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

// A charge or a refund while a client or carer is on another screen than the wallet (which
// shows its own): the same notice at the top of the page, until closed, and read out.
async function moneyElsewhere(event) {
  const role = state.me?.role;
  if ((role !== "client" && role !== "carer") || !isMoneyEvent(event)) return;
  if (location.hash.startsWith("#/wallet") || !location.hash.replace(/^#\/?/, "")) return;
  const walletId = event.data?.wallet_id;
  if (!walletId || !(state.me.wallets || []).includes(walletId)) return;
  const page = document.querySelector("#main .page");
  const [wallet, history] = await Promise.all([
    api(`/api/wallets/${walletId}`).catch(() => null),
    api(`/api/wallets/${walletId}/transactions?limit=10`).catch(() => ({ items: [] })),
  ]);
  const notice = moneyNotice(event, wallet, history.items);
  if (!notice || !page?.isConnected) return;
  const box = noticeBox(notice, () => {
    box.remove();
    page.querySelector("h1")?.focus();
  });
  const heading = page.querySelector("h1");
  if (heading) heading.after(box); else page.prepend(box);
  announce(notice.text);
}

// The page's code, fetched while the language file and /api/me are on their way: the view the
// address names, else the home of the role this device last saw (a guess; route() decides).
function prefetchView() {
  let name = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean)[0];
  if (!name) {
    try { name = HOME[JSON.parse(localStorage.getItem("wallet.me") || "null")?.role]?.slice(2); } catch { name = null; }
  }
  VIEWS[name]?.().catch(() => {});
  for (const load of ALSO[name] || []) load().catch(() => {});
}

// Modules a first screen imports one layer further down, fetched beside it rather than after
// it (each layer is a round trip on a phone's network). For the balances also the chart's
// module, which wallet.js imports only when the chart is opened: fetched now, it arrives after
// the content (index.html's early start does not ask for it) and is there when the person opens
// the chart. For the client list also a client's
// file (with its SMS section) and the new client's pages (with the invite): the list does not
// wait for them (index.html's early start does not ask for them), but a page opened from it,
// or by its address, finds them here.
const ALSO = {
  wallet: [() => import("./views/client-chart.js"), () => import("./views/client-context.js")],
  clients: [
    () => import("./views/cm-clients.js"), () => import("./views/cm-client-file.js"),
    () => import("./views/cm-sms.js"), () => import("./views/cm-new-client.js"),
    () => import("./views/client-invite.js"),
  ],
};

// The screen the first language file (/i18n/{lang}.first.{name}.json, pwa.first_strings) is
// for: the one index.html's early start asked for (wallet, charge or clients), if any.
const FIRST_SCREEN = window.walletEarly?.first || null;

async function start() {
  // Three things the first screen waits for, asked at once rather than one after another.
  prefetchView();
  await Promise.all([setLang(initialLang(), { first: FIRST_SCREEN }), loadMe()]);
  if (state.offline) setOffline(true); // its banner, now in the person's language
  window.addEventListener("online", () => { setOffline(false); route(); });
  window.addEventListener("offline", () => setOffline(true));
  window.addEventListener("hashchange", route);
  onLive((event) => { moneyElsewhere(event).catch(() => {}); });
  if (state.me && !state.offline) startLive();
  // The menu is drawn together with the first page (route), not before it: drawn on its own
  // it pushed the loading text down (a layout shift). Later sign-ins and role changes redraw it.
  await route();
  window.addEventListener("wallet:me", renderNav);
  // The install metadata after the first page too: the browser fetches a manifest as soon as
  // its link is in the page, and no first screen needs it (index.html has none).
  document.head.append(h("link", { rel: "manifest", href: "/manifest.webmanifest" }));
  // The service worker after the first page: its install fetches the whole shell (55 files),
  // which on a first visit would share the network and the processor with the first screen.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
}

// index.html's early start imports this module as soon as its requests are out: on any real
// network long after the page is parsed, but not by rule (the installed app's modules come
// from the service worker's cache), so the page's elements are waited for if need be.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
else start();
