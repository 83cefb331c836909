// Live events over Server-Sent Events (GET /api/events). fetch() streams it so the same
// Authorization header works for sessions and developer keys; reconnects with Last-Event-ID.
import { headers } from "./api.js";
import { h } from "./dom.js";
import { money } from "./format.js";
import { t } from "./i18n.js";

let controller = null;
let lastId = null;
const listeners = new Set();

export function onLive(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export function stopLive() { controller?.abort(); controller = null; }

export async function startLive() {
  stopLive();
  const mine = new AbortController();
  controller = mine;
  let delay = 2000;
  while (controller === mine) {
    try {
      const extra = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      const res = await fetch("/api/events", { headers: headers(extra), signal: mine.signal, credentials: "same-origin" });
      if (res.status === 404 || res.status === 401 || res.status === 403) return; // not offered (yet) or not allowed
      if (!res.ok || !res.body) throw new Error(`events ${res.status}`);
      delay = 2000;
      await read(res.body);
    } catch (err) {
      if (mine.signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 60000);
  }
}

async function read(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
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
  try { event.data = JSON.parse(data.join("\n")); } catch { event.data = data.join("\n"); }
  for (const fn of listeners) fn(event);
}

// A charge or a refund of a wallet, said in words a sighted person sees at the top of the
// screen (and a screen reader hears): "Siivouspalvelu Kuura Oy veloitti 34,00 €. Saldo nyt
// 315,00 €." `wallet` is the wallet read again after the event, `items` its recent movements
// (a refund's event names its charge; the movements name the charge's provider).
const NOTICE_TYPES = { "charge.captured": "live.charged", "refund.created": "live.refunded" };

export function isMoneyEvent(event) { return Boolean(NOTICE_TYPES[event.type || event.data?.type]); }

export function moneyNotice(event, wallet, items = []) {
  const key = NOTICE_TYPES[event.type || event.data?.type];
  const d = event.data?.data;
  if (!key || !d || !wallet) return null;
  const amount = d.total_cents ?? d.amount_cents;
  if (typeof amount !== "number") return null;
  const balance = wallet.envelopes.reduce((sum, e) => sum + e.balance_cents, 0);
  const provider = d.provider_name || items.find((i) => d.charge_id && i.charge_id === d.charge_id)?.provider_name
    || t("history.someProvider");
  return { id: String(event.data.id || event.id || Date.now()), text: t(key, { provider, amount: money(amount), balance: money(balance) }) };
}

// The notice, with a button that closes it.
export function noticeBox(notice, onClose) {
  return h("div", { class: "notice notice--ok live-notice", "data-live-notice": notice.id },
    h("p", {}, notice.text),
    h("button", {
      class: "button button--secondary", type: "button", "aria-label": t("live.closeNamed", { text: notice.text }),
      onclick: onClose,
    }, t("live.close")));
}
