// Visits (#/visits): the provider's open visits (kept on the server, so any device of the
// provider sees them; this device adds who each one was for), and check-out. At check-out the provider
// enters what was delivered (at most what was held); the server charges that and releases the
// rest. "Cancel the visit" releases everything.
import { api, ApiError, newKey, Offline } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { dateTime, lineCents, money, parseQuantity } from "../format.js";
import { t } from "../i18n.js";

const VISITS = "wallet.visits";
const keys = new Map(); // hold id -> {body, key}: a capture's Idempotency-Key, reused on a retry

function remembered() { return JSON.parse(localStorage.getItem(VISITS) || "[]"); }
function forgetVisit(id) { localStorage.setItem(VISITS, JSON.stringify(remembered().filter((v) => v.id !== id))); }

export async function render(main) {
  const status = h("div", { role: "status", "aria-live": "polite", class: "visits__status" });
  main.append(h("h1", {}, t("visits.title")), status,
    h("a", { class: "button", href: "#/charge/visit" }, t("visit.checkIn")));
  const open = await openVisits();
  if (!open.length) { main.append(h("p", {}, t("visits.none"))); return; }
  main.append(h("ul", { class: "list card visits" }, open.map((v) => visitRow(v, status))));
}

// The provider's open visits from the server (any device), with what this device remembers
// about each (who it was). A server without the list: the visits this device checked in.
async function openVisits() {
  const local = Object.fromEntries(remembered().map((v) => [v.id, v]));
  const categories = await api("/api/categories");
  const names = Object.fromEntries(categories.map((c) => [c.code, c.name]));
  try {
    const rows = await api("/api/holds");
    const ids = new Set(rows.map((r) => r.hold_id));
    for (const id of Object.keys(local)) if (!ids.has(id)) forgetVisit(id);
    return rows.filter((r) => r.lines.length && r.lines.every((l) => l.unit_price_cents)).map((r) => ({
      id: r.hold_id, hold: r, who: local[r.hold_id]?.who || "",
      name: r.lines.map((l) => names[l.category] || l.category).join(", "),
      lines: r.lines.map(({ category, quantity, unit_price_cents }) => ({ category, name: names[category], quantity: quantity || "1", unit_price_cents })),
    }));
  } catch (err) {
    if (!(err instanceof ApiError && (err.status === 405 || err.status === 404))) throw err;
  }
  const holds = await Promise.all(Object.values(local).map(async (v) => {
    try { return { ...v, hold: await api(`/api/holds/${v.id}`) }; } catch (err) {
      if (err instanceof ApiError && err.status === 404) { forgetVisit(v.id); return null; }
      throw err;
    }
  }));
  return holds.filter((v) => v && v.hold.status === "held");
}

function visitRow(v, status) {
  const li = h("li", { class: "visit" });
  const base = `q-${v.id.slice(0, 8)}`;
  // One quantity per service held (usually one): what was delivered, at most what was held.
  const inputs = v.lines.map((line, i) => {
    const id = i ? `${base}-${i}` : base;
    const label = v.lines.length > 1 ? `${line.name || line.category}: ${t("visits.delivered")}` : t("visits.delivered");
    const input = h("input", { id, type: "text", inputmode: "decimal", autocomplete: "off", class: "input-short", value: String(line.quantity).replace(".", ",") });
    return { id, line, input, box: field({ id, label, hint: t("visits.deliveredHint", { unit: money(line.unit_price_cents) }), input }) };
  });
  const form = h("form", { novalidate: true, class: "visit__out" });
  const out = h("button", { class: "button", type: "submit" }, t("visits.checkOut"));
  const cancel = h("button", { class: "button button--secondary", type: "button" }, t("visits.cancel"));
  form.append(...inputs.map((x) => x.box), out, cancel);
  li.append(
    h("span", {}, h("strong", {}, v.name), v.who ? ` · ${v.who}` : "",
      h("span", { class: "small", style: "display:block" }, t("visits.since", { time: dateTime(v.hold.created_at) })),
      h("span", { class: "small", style: "display:block" }, t("visits.expires", { time: dateTime(v.hold.expires_at) }))),
    h("span", { class: "amount" }, t("visits.heldAmount", { amount: money(v.hold.amount_cents) })),
    h("div", { style: "flex-basis:100%" }, form));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const parsed = inputs.map((x) => ({ ...x, q: parseQuantity(x.input.value) }));
    const bad = parsed.filter((x) => !x.q).map((x) => ({ id: x.id, message: t("charge.err.quantity") }));
    if (bad.length) return showErrors(form, bad);
    const total = parsed.reduce((sum, x) => sum + lineCents(x.q.thousandths, x.line.unit_price_cents), 0);
    if (total > v.hold.amount_cents) return showErrors(form, [{ id: base, message: t("visits.err.more") }]);
    const body = { lines: parsed.map((x) => ({ category: x.line.category, quantity: x.q.text, unit_price_cents: x.line.unit_price_cents })) };
    // A retry of the same check-out (after a lost connection) reuses its Idempotency-Key, so
    // the server answers the first capture; a changed quantity is a new request.
    const text = JSON.stringify(body);
    if (keys.get(v.id)?.body !== text) keys.set(v.id, { body: text, key: newKey() });
    out.disabled = true;
    try {
      const hold = await api(`/api/holds/${v.id}/capture`, { method: "POST", body, idempotencyKey: keys.get(v.id).key });
      keys.delete(v.id);
      forgetVisit(v.id);
      const done = t("visits.done", { amount: money(hold.captured_cents) });
      li.replaceWith(h("li", {}, h("span", {}, done)));
      status.textContent = done;
    } catch (err) {
      out.disabled = false;
      if (!(err instanceof Offline)) keys.delete(v.id);
      showErrors(form, [{ id: base, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/api/holds/${v.id}/void`, { method: "POST", body: {} });
      forgetVisit(v.id);
      li.replaceWith(h("li", {}, h("span", {}, t("visits.cancelled"))));
      announce(t("visits.cancelled"));
    } catch (err) {
      cancel.disabled = false;
      status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
    }
  });
  return li;
}
