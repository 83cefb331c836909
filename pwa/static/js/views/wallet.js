// The client's (or carer's) wallet: balance per envelope, big and clear, with its time;
// the month's allotment, what is spent, when the remainder expires; recent movements.
// Offline it shows the last known balances with their time and says paying needs a connection.
import { api, ApiError, Offline } from "../api.js";
import { setOffline } from "../session.js";
import { announce, h } from "../dom.js";
import { dateTime, instant, lastDay, money, monthName, time } from "../format.js";
import { intl, restOfStrings, t, tn } from "../i18n.js";
import { moneyNotice, noticeBox, onLive } from "../live.js";
import { SELECTED, choose, subject } from "./client-context.js";

const LAST = (id) => `wallet.last.${id}`;
// One page of movements feeds both the recent list (the first few) and the monthly chart.
const RECENT = 10;
const PAGE = 100;
let unsubscribe = null;
let flash = null; // the answer to a request, kept on screen while live updates redraw the page
// What the live events said (a charge, a refund), shown at the top until the person closes it.
let notices = [];

// The chart's months: money out of an envelope in this month and the ones before it.
const MONTHS = 4;
// Money out of an envelope: charges and holds (negative amounts), less refunds and returned
// holds (positive) — the same sum as the wallet's "spent".
const SPENDING = new Set(["charge", "hold", "hold_release", "refund"]);

function previous(period, back) {
  const [y, m] = period.split("-").map(Number);
  const index = y * 12 + (m - 1) - back;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

// [{period, cents}] oldest first; months the page of movements may not fully cover are left out.
function monthlySpending(env, view) {
  const current = view.wallet.current_period;
  const periods = Array.from({ length: MONTHS }, (_, i) => previous(current, MONTHS - 1 - i));
  const sums = Object.fromEntries(periods.map((p) => [p, 0]));
  let oldest = null;
  for (const item of view.items || []) {
    if (!oldest || item.period < oldest) oldest = item.period;
    if (item.envelope_id !== env.id || !SPENDING.has(item.kind) || !(item.period in sums)) continue;
    sums[item.period] -= item.amount_cents;
  }
  // A cut-off page: its oldest month may be partly missing, and older ones entirely.
  const covered = (p) => view.complete !== false || (oldest !== null && p > oldest);
  // Months before the decision started are not "0 spent": they are simply not there.
  const from = (env.valid_from || "").slice(0, 7);
  return periods.filter((p) => covered(p) && (!from || p >= from)).map((p) => ({ period: p, cents: Math.max(0, sums[p]) }));
}

export async function render(main, params, { state }) {
  unsubscribe?.();
  flash = null;
  notices = [];
  const wallets = state.me.wallets || [];
  const walletId = params[0] || (wallets.includes(localStorage.getItem(SELECTED)) ? localStorage.getItem(SELECTED) : wallets[0]);
  if (!walletId) {
    // A carer with no client yet reads the carer's title, not the client's "Oma budjetti".
    const carer = state.me.role === "carer";
    main.append(h("h1", {}, t(carer ? "carer.title" : "wallet.title")), h("p", {}, t(carer ? "carer.none" : "wallet.none")));
    // A carer's first client may be waiting for an answer on the carer's own page.
    if (state.me.role === "carer") main.append(h("p", {}, h("a", { href: "#/supported" }, t("carer.requestsLink"))));
    return;
  }
  if (state.me.role === "carer") choose(walletId);
  const view = await load(walletId);
  // A carer answers payment requests only with an `approve` mandate (the server checks too).
  view.mayApprove = state.me.role !== "carer" || Boolean((await subject(state, walletId).catch(() => null))?.scopes.includes("approve"));
  draw(main, view, state, walletId);
  // Live: any event for this wallet means "read the balances again".
  unsubscribe = onLive(async (event) => {
    if (!main.isConnected) { unsubscribe?.(); return; }
    const about = event.data && (event.data.wallet_id || event.data.wallet);
    if (about && about !== walletId) return;
    const before = balances(view);
    const fresh = await load(walletId);
    if (fresh.offline) return;
    Object.assign(view, fresh, { mayApprove: view.mayApprove, pay: view.pay });
    const said = moneyNotice(event, view.wallet, view.items);
    if (said) notices = [said, ...notices.filter((n) => n.id !== said.id)].slice(0, 3);
    draw(main, view, state, walletId);
    if (said) announce(said.text);
    const changed = view.wallet.envelopes.filter((e) => before[e.id] !== undefined && before[e.id] !== e.balance_cents);
    for (const env of changed) {
      main.querySelector(`[data-envelope="${env.id}"] .envelope__balance`)?.classList.add("changed");
    }
    if (changed.length && !said) {
      announce(changed.map((e) => t("wallet.changed", { label: e.label, amount: money(e.balance_cents) })).join(". "));
    }
  });
}

function closable(main, view, state, walletId, notice) {
  return noticeBox(notice, () => {
    notices = notices.filter((n) => n !== notice);
    draw(main, view, state, walletId);
    main.querySelector("h1")?.focus();
  });
}

function balances(view) {
  return Object.fromEntries(view.wallet.envelopes.map((e) => [e.id, e.balance_cents]));
}

async function load(walletId) {
  try {
    const [wallet, history, requests] = await Promise.all([
      api(`/api/wallets/${walletId}`),
      api(`/api/wallets/${walletId}/transactions?limit=${PAGE}`),
      // Payment requests (checkout): absent on servers without them, or for a case manager's view.
      api(`/api/wallets/${walletId}/payment-requests`).catch((err) => {
        if (err instanceof ApiError) return [];
        throw err;
      }),
    ]);
    const pendingList = (Array.isArray(requests) ? requests : requests.items || []).filter((r) => r.status === "pending");
    // A request names its services by code: their names and units, in the UI's language.
    const categories = pendingList.length ? await api("/api/categories").catch(() => []) : [];
    const view = {
      wallet, items: history.items, complete: !history.next_cursor, requests: pendingList,
      categories: Object.fromEntries(categories.map((c) => [c.code, c])),
      at: new Date().toISOString(), offline: false,
    };
    localStorage.setItem(LAST(walletId), JSON.stringify(view));
    setOffline(false);
    return view;
  } catch (err) {
    if (!(err instanceof Offline)) throw err;
    setOffline(true);
    const saved = JSON.parse(localStorage.getItem(LAST(walletId)) || "null");
    if (!saved) throw new ApiError(0, { title: t("offline.nothing") });
    return { ...saved, offline: true };
  }
}

function draw(main, view, state, walletId) {
  const { wallet, items, at, offline } = view;
  const name = `${wallet.client.first_name} ${wallet.client.last_name}`;
  const mine = state.me.role === "client";
  const nodes = [h("h1", { tabindex: "-1" }, mine ? t("wallet.title") : t("wallet.titleFor", { name }))];
  for (const notice of notices) nodes.push(closable(main, view, state, walletId, notice));
  if (offline) {
    nodes.push(h("div", { class: "notice notice--error" },
      h("p", { class: "outcome" }, t("offline.title")),
      h("p", {}, t("offline.lastKnown", { when: dateTime(at) })),
      h("p", {}, t("offline.payingNeedsConnection"))));
  }
  const others = (state.me.wallets || []).filter((id) => id !== walletId);
  if (state.me.role === "carer" && others.length) {
    nodes.push(h("p", { class: "subject" }, h("a", { href: "#/supported" }, t("carer.switchLink"))));
  }
  if (flash) nodes.push(h("div", { class: "notice notice--ok" }, h("p", {}, flash)));
  if (!offline && view.requests?.length && state.me.role !== "case_manager") {
    nodes.push(h("section", { "aria-labelledby": "requests-title", class: "card" },
      h("h2", { id: "requests-title" }, t("requests.title")),
      view.requests.map((r) => requestItem(r, walletId, state, view.mayApprove !== false, view.categories || {}, name))));
  }
  // Paying comes first: the pay code is what a client opens the app for at the door.
  // The same section across live redraws, so a code on screen stays while a visit starts.
  if (!offline && state.me.role !== "case_manager") {
    view.pay ||= h("section", { "aria-labelledby": "pay-title", class: "pay" },
      h("h2", { id: "pay-title" }, t("pay.title")),
      payCode(walletId),
      h("p", {}, mine ? t("pay.byPhone") : t("pay.byPhoneFor", { name: wallet.client.first_name })));
    nodes.push(view.pay);
  }
  nodes.push(h("p", { class: "small" }, t("wallet.month", { month: monthName(wallet.current_period) })));
  if (!wallet.envelopes.length) nodes.push(h("p", {}, t(mine ? "wallet.noEnvelopes" : "wallet.noEnvelopesFor")));
  for (const env of wallet.envelopes) nodes.push(envelopeCard(env, at, view));
  if (offline || state.me.role === "case_manager") {
    nodes.push(h("section", { "aria-labelledby": "pay-title" },
      h("h2", { id: "pay-title" }, t("pay.title")),
      h("p", {}, mine ? t("pay.byPhone") : t("pay.byPhoneFor", { name: wallet.client.first_name }))));
  }
  nodes.push(h("section", { "aria-labelledby": "recent-title" },
    h("h2", { id: "recent-title" }, t("wallet.recent")),
    // A case manager looks further back (up to a page of 100): a charge to correct may be weeks old.
    items.length ? h("ul", { class: "list card" }, items.slice(0, state.me.role === "case_manager" ? PAGE : RECENT)
      .map((item) => movement(item, wallet, state.me.role)))
      : h("p", {}, t("wallet.noMovements"))));
  if (!offline && state.me.role !== "case_manager") nodes.push(moreLinks(state));
  main.replaceChildren(...nodes);
}

// Everything else a client (or a carer, as far as the mandate goes) can look after.
function moreLinks(state) {
  const client = state.me.role === "client";
  const links = [
    ["#/trusted", "trusted.title"],
    ["#/providers", "directory.title"],
    client ? ["#/carers", "carers.title"] : null,
    ["#/statements", "statements.title"],
    ["#/views", "views.title"],
  ].filter(Boolean);
  return h("section", { "aria-labelledby": "more-title" },
    h("h2", { id: "more-title" }, t("wallet.more")),
    h("ul", { class: "links" }, links.map(([href, key]) => h("li", {}, h("a", { href }, t(key))))));
}

function envelopeCard(env, at, view) {
  const funded = env.funded_cents || env.monthly_amount_cents;
  const spentShare = funded > 0 ? Math.min(100, Math.round((env.spent_cents * 100) / funded)) : 0;
  const titleId = `env-${env.id}`;
  return h("section", { class: "card", "aria-labelledby": titleId, "data-envelope": env.id },
    h("h2", { class: "envelope__label", id: titleId }, env.label),
    h("p", { class: "envelope__balance" },
      h("span", { class: "visually-hidden" }, `${t("wallet.balance")}: `), money(env.balance_cents)),
    h("p", { class: "updated" }, t("wallet.updated", { time: time(at) })),
    h("div", { class: "bar-meter", "aria-hidden": "true" }, h("span", { style: `width:${spentShare}%` })),
    h("dl", { class: "facts" },
      h("div", {}, h("dt", {}, t("wallet.allotment")), h("dd", {}, money(env.monthly_amount_cents))),
      h("div", {}, h("dt", {}, t("wallet.funded")), h("dd", {}, money(env.funded_cents))),
      h("div", {}, h("dt", {}, t("wallet.spent")), h("dd", {}, money(env.spent_cents))),
      env.held_cents > 0 ? h("div", { "data-held": "" }, h("dt", {}, t("wallet.held")), h("dd", {}, money(env.held_cents))) : null,
      env.expires_at ? h("div", {}, h("dt", {}, env.carry_over === "capped" ? t("wallet.expiresAboveCap", { cap: money(env.carry_over_cap_cents || 0) }) : t("wallet.expires")),
        h("dd", {}, lastDay(env.expires_at))) : null),
    chartDetails(env, view));
}

// The chart is there for those who want it: collapsed, so balances and paying stay near the top.
// Drawn when first opened, and its code (client-chart.js) and texts loaded then too: most visits
// never open it, and on a slow phone the picture (its formatters, the SVG) was a third of the
// balances' first render, its module a request in the first screen's wave (app.js fetches it
// after the content, so opening it does not wait on the network).
function chartDetails(env, view) {
  const rows = monthlySpending(env, view);
  if (!rows.length) return null;
  const details = h("details", { class: "chart-details" }, h("summary", {}, t("chart.show")));
  details.addEventListener("toggle", async () => {
    if (!details.open || details.querySelector("figure")) return;
    details.querySelector("[data-chart-error]")?.remove();
    try {
      const [{ spendingChart }] = await Promise.all([import("./client-chart.js"), restOfStrings()]);
      // Opened twice while it loaded: drawn once.
      if (!details.querySelector("figure")) details.append(spendingChart(env, rows, MONTHS));
    } catch {
      // Offline before the app's files were saved: say so, rather than open onto nothing.
      details.append(h("p", { class: "small", "data-chart-error": "" }, t("error.generic.text")));
    }
  });
  return details;
}

// One row of the history: what happened and who did it, which services, and its state if the
// money was held (a payment request, a visit), as the monthly statement says it.
export function describe(item) {
  const provider = item.provider_name || t("history.someProvider");
  const hold = item.hold;
  let what;
  let state = null;
  if (item.kind === "hold" && hold) {
    what = t(hold.purpose === "visit" ? "history.visit" : "history.request", { provider });
    if (hold.status === "captured") {
      state = hold.captured_cents < hold.amount_cents
        ? t("history.held.capturedPart", { amount: money(hold.captured_cents) })
        : t("history.held.captured");
    } else {
      state = t(`history.held.${hold.status}.${hold.purpose === "visit" ? "visit" : "request"}`);
    }
  } else if (item.kind === "hold_release" && hold) {
    what = hold.status === "captured"
      ? t("history.release.unused", { provider })
      : t(`history.release.${hold.status === "expired" ? "expired" : hold.purpose === "visit" ? "visit" : "request"}`, { provider });
  } else if (item.kind === "charge") {
    what = t("history.charge", { provider });
  } else if (item.kind === "refund") {
    what = t("history.refund", { provider });
  } else {
    const key = { funding: "kind.funding", expiry: "history.expiry", hold: "kind.hold", hold_release: "kind.release" }[item.kind];
    what = key ? t(key) : t("kind.other");
  }
  const services = (item.services || []).map((s) => (s.quantity ? t("history.service", { service: s.name, quantity: quantity(s.quantity), unit: t(`unit.${s.unit}`) }) : s.name)).join(", ");
  return { what, services, state };
}

function quantity(q) {
  const n = Number(q);
  return Number.isFinite(n) ? intl(Intl.NumberFormat, { maximumFractionDigits: 3 }).format(n) : q;
}

// A case manager may correct a charge whose month has closed (#/corrections).
function correctable(item, wallet, role) {
  return role === "case_manager" && item.kind === "charge" && item.charge_id && item.period < wallet.current_period;
}

function movement(item, wallet, role) {
  const env = wallet.envelopes.find((e) => e.id === item.envelope_id);
  const { what, services, state } = describe(item);
  return h("li", { "data-kind": item.kind },
    h("span", {}, h("span", { class: "movement__what" }, what),
      services ? h("span", { class: "small movement__services", style: "display:block" }, services) : null,
      state ? h("span", { class: "small movement__state", style: "display:block" }, state) : null,
      h("span", { class: "small", style: "display:block" },
        `${dateTime(item.created_at)}${env ? ` · ${env.label}` : ""}`),
      item.client_share_cents > 0 ? h("span", { class: "small", style: "display:block" },
        t("share.history", { amount: money(item.client_share_cents) })) : null,
      correctable(item, wallet, role) ? h("a", { class: "small", style: "display:block", href: `#/corrections/charge/${item.charge_id}` },
        t("cm.corrections.correct")) : null),
    h("span", { class: `amount${item.amount_cents > 0 ? " amount--in" : ""}` },
      `${item.amount_cents > 0 ? "+" : "−"}${money(Math.abs(item.amount_cents))}`));
}

// A payment request waiting for this wallet's answer: approve or decline in one tap.
function requestItem(r, walletId, state, mayApprove, categories, name) {
  const status = h("p", { role: "status" });
  const body = state.me.role === "carer" ? { wallet_id: walletId } : {};
  const answer = (what) => async () => {
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    try {
      await api(`/api/payment-requests/${r.id}/${what}`, { method: "POST", body });
      flash = t(what === "approve" ? "requests.approved" : "requests.declined");
      box.replaceChildren(h("p", { class: "outcome" }, flash));
      announce(flash);
    } catch (err) {
      for (const b of box.querySelectorAll("button")) b.disabled = false;
      status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
    }
  };
  const box = h("div", { class: "request" },
    h("p", { class: "outcome" }, state.me.role === "client"
      ? t("requests.ask", { provider: r.provider_name, amount: money(r.total_cents) })
      : t("requests.askFor", { provider: r.provider_name, amount: money(r.total_cents), name })),
    h("ul", { class: "request__lines" }, (r.lines || []).map((line) => {
      const cat = categories[line.category];
      const service = cat?.name || line.category;
      const unit = cat ? t(`unit.${cat.unit}`) : "";
      return h("li", {}, t("requests.line", {
        service, quantity: quantity(line.quantity || "1"), unit, price: money(line.unit_price_cents), amount: money(line.amount_cents),
      }));
    })),
    // The client pays the own share; a carer reads who does.
    r.client_share_cents > 0 ? h("p", {}, state.me.role === "client"
      ? t("share.request", { amount: money(r.client_share_cents) })
      : t("share.requestFor", { amount: money(r.client_share_cents), name })) : null,
    h("p", { class: "small" }, t("requests.until", { time: time(r.expires_at) })),
    mayApprove ? [
      h("button", { class: "button", type: "button", onclick: answer("approve") }, t("requests.approve")),
      h("button", { class: "button button--warning", type: "button", onclick: answer("decline") }, t("requests.decline")),
    ] : h("p", {}, t("carer.cannotApprove")),
    status);
  return box;
}

// Pay with a code: a single-use QR and its 8-digit code, valid for up to two minutes.
function payCode(walletId) {
  const area = h("div", {});
  const show = h("button", { class: "button button--wide", type: "button" }, t("pay.show"));
  let timer = null;
  show.addEventListener("click", async () => {
    clearInterval(timer);
    show.disabled = true;
    try {
      const token = await api(`/api/wallets/${walletId}/payment-tokens`, { method: "POST", body: {} });
      const ends = instant(token.expires_at).getTime();
      const left = h("p", { class: "small", role: "timer", "aria-live": "off" });
      const tick = () => {
        const s = Math.max(0, Math.round((ends - Date.now()) / 1000));
        // As people say it: "about 2 minutes", then the last minute in seconds.
        left.textContent = s > 60 ? tn("pay.leftMinutes", Math.ceil(s / 60)) : tn("pay.left", s);
        if (s === 0 || !area.isConnected) {
          clearInterval(timer);
          area.replaceChildren(h("p", {}, t("pay.expired")));
        }
      };
      area.replaceChildren(h("div", { class: "card pay-code" },
        h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(token.qr_svg)}`, alt: t("pay.qrAlt"), width: 240, height: 240 }),
        h("p", {}, t("pay.codeLabel")),
        h("p", { class: "total", id: "pay-code" }, token.code.replace(/(\d{4})(\d{4})/, "$1 $2")),
        left));
      tick();
      timer = setInterval(tick, 1000);
      show.textContent = t("pay.again");
    } catch (err) {
      area.replaceChildren(h("p", { class: "notice" }, err instanceof ApiError && err.status === 404 ? t("pay.qrNotYet") : (err.title || t("charge.err.offline"))));
    } finally {
      show.disabled = false;
    }
  });
  return h("div", {}, show, area);
}
