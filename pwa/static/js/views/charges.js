// A provider's own charges, newest first, 30 at a time ("Show more" follows the server's
// cursor), with services by name in the UI language, today's totals, and a refund of any part
// of what is left of each charge: "Refund" opens the amount (all that is left, to begin with)
// and a confirm button that names it, so no single tap gives money back.
import { api, ApiError, newKey, Offline } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors, clearErrors } from "../forms.js";
import { date, dateTime, money, parseMoney } from "../format.js";
import { t, tn } from "../i18n.js";

const PAGE = 30;
const keys = new Map(); // charge id -> {amount, key}: a refund's Idempotency-Key, reused on a retry

export async function render(main) {
  const [first, categories] = await Promise.all([api(`/api/charges?limit=${PAGE}`), api("/api/categories")]);
  const names = Object.fromEntries(categories.map((c) => [c.code, c.name]));
  const status = h("div", { role: "status", "aria-live": "polite" });
  main.append(h("h1", {}, t("charges.title")), status);
  if (!first.items.length) { main.append(h("p", {}, t("charges.none"))); return; }
  const charges = new Map(); // id -> the charge as last read (today's totals are counted from it)
  const today = h("div", {});
  const list = h("ul", { class: "list card", id: "charges-list" });
  const more = h("button", { class: "button button--secondary", type: "button", hidden: true }, t("charges.more"));
  let cursor = null;
  const ctx = { names, status, refresh: () => todays(today, charges), charges };
  const add = (page) => {
    for (const c of page.items) { charges.set(c.id, c); list.append(row(c, ctx)); }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    ctx.refresh();
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    const before = list.children.length;
    try {
      add(await api(`/api/charges?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`));
      list.children[before]?.querySelector("button, a")?.focus();
      status.textContent = tn("charges.shown", list.children.length);
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
    } finally {
      more.disabled = false;
    }
  });
  main.append(today, list, more);
  add(first);
}

// Today (Helsinki): what was charged and refunded, for the end-of-day check. Counted again
// after every refund, so "Refunded today" is never stale.
function todays(box, charges) {
  const day = date(new Date().toISOString());
  const mine = [...charges.values()].filter((c) => date(c.created_at) === day);
  if (!mine.length) { box.replaceChildren(); return; }
  const charged = mine.reduce((sum, c) => sum + c.total_cents, 0);
  const refunded = mine.reduce((sum, c) => sum + c.refunded_cents, 0);
  box.replaceChildren(h("dl", { class: "facts card", "aria-label": t("charges.today") },
    h("div", {}, h("dt", {}, t("charges.todayCount")), h("dd", {}, String(mine.length))),
    h("div", {}, h("dt", {}, t("charges.todayCharged")), h("dd", {}, money(charged))),
    h("div", {}, h("dt", {}, t("charges.todayRefunded")), h("dd", { id: "refunded-today" }, money(refunded)))));
}

function row(c, ctx) {
  const left = c.total_cents - c.refunded_cents;
  const what = c.lines.map((l) => `${ctx.names[l.category] || l.category} ${l.quantity.replace(".", ",")} × ${money(l.unit_price_cents)}`).join(", ");
  const li = h("li", { style: "flex-wrap:wrap", "data-charge": c.id },
    h("span", {}, what,
      h("span", { class: "small", style: "display:block" }, dateTime(c.created_at)),
      c.refunded_cents ? h("span", { class: "small", style: "display:block" }, t("charges.refunded", { amount: money(c.refunded_cents) })) : null),
    h("span", { class: "amount" }, money(c.total_cents)));
  if (left > 0) li.append(refundControls(c, left, li, ctx));
  return li;
}

// Step one: "Refund". Step two: how much (at most what is left) and a confirm button that says
// the amount; "Cancel" closes it again.
function refundControls(c, left, li, ctx) {
  const id = `refund-${c.id}`;
  const amount = h("input", { id, type: "text", inputmode: "decimal", autocomplete: "off", class: "input-short", value: money(left).replace(/\s*€/, "") });
  const ask = h("button", { class: "button button--secondary", type: "button" }, t("charges.refund"));
  const confirm = h("button", { class: "button button--warning", type: "submit" }, t("charges.confirmRefund", { amount: money(left) }));
  const cancel = h("button", { class: "button button--secondary", type: "button" }, t("charges.cancelRefund"));
  const form = h("form", { novalidate: true, class: "refund", hidden: true },
    field({ id, label: t("charges.refundAmount"), hint: t("charges.refundMax", { amount: money(left) }), input: amount, unit: "€" }),
    confirm, cancel);
  const shown = () => {
    const cents = parseMoney(amount.value);
    confirm.textContent = cents && cents <= left ? t("charges.confirmRefund", { amount: money(cents) }) : t("charges.confirmRefundNone");
  };
  amount.addEventListener("input", shown);
  ask.addEventListener("click", () => { ask.hidden = true; form.hidden = false; amount.focus(); amount.select(); });
  cancel.addEventListener("click", () => { clearErrors(form); form.hidden = true; ask.hidden = false; ask.focus(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const cents = parseMoney(amount.value);
    if (!cents) return showErrors(form, [{ id, message: t("charges.err.amount") }]);
    if (cents > left) return showErrors(form, [{ id, message: t("charges.err.tooMuch", { amount: money(left) }) }]);
    clearErrors(form);
    // A retry of the same refund (after a lost connection) reuses its key: the server answers
    // the first refund instead of giving the money back twice. Another amount is a new refund.
    if (keys.get(c.id)?.amount !== cents) keys.set(c.id, { amount: cents, key: newKey() });
    confirm.disabled = true;
    try {
      await api(`/api/charges/${c.id}/refunds`, { method: "POST", body: { amount_cents: cents }, idempotencyKey: keys.get(c.id).key });
      keys.delete(c.id);
      ctx.status.textContent = t("charges.refundDone", { amount: money(cents) });
      const fresh = await api(`/api/charges/${c.id}`);
      ctx.charges.set(c.id, fresh);
      const next = row(fresh, ctx);
      li.replaceWith(next);
      ctx.refresh();
      (next.querySelector("button") || next).focus?.();
    } catch (err) {
      confirm.disabled = false;
      if (!(err instanceof Offline)) keys.delete(c.id);
      showErrors(form, [{ id, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  return h("div", { style: "flex-basis:100%" }, ask, form);
}
