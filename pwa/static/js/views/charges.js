// A provider's own charges, newest first, with a refund of what is left of each.
import { api, ApiError, newKey } from "../api.js";
import { h } from "../dom.js";
import { date, dateTime, money } from "../format.js";
import { t } from "../i18n.js";

export async function render(main) {
  const page = await api("/api/charges?limit=30");
  const status = h("div", { role: "status", "aria-live": "polite" });
  main.append(h("h1", {}, t("charges.title")), status);
  if (!page.items.length) { main.append(h("p", {}, t("charges.none"))); return; }
  // Today (Helsinki): what was charged and refunded, for the end-of-day check.
  const today = date(new Date().toISOString());
  const todays = page.items.filter((c) => date(c.created_at) === today);
  if (todays.length) {
    const charged = todays.reduce((sum, c) => sum + c.total_cents, 0);
    const refunded = todays.reduce((sum, c) => sum + c.refunded_cents, 0);
    main.append(h("dl", { class: "facts card", "aria-label": t("charges.today") },
      h("div", {}, h("dt", {}, t("charges.todayCount")), h("dd", {}, String(todays.length))),
      h("div", {}, h("dt", {}, t("charges.todayCharged")), h("dd", {}, money(charged))),
      h("div", {}, h("dt", {}, t("charges.todayRefunded")), h("dd", {}, money(refunded)))));
  }
  main.append(h("ul", { class: "list card" }, page.items.map((c) => row(c, status, main))));
}

function row(c, status, main) {
  const left = c.total_cents - c.refunded_cents;
  const li = h("li", { style: "flex-wrap:wrap" },
    h("span", {}, c.lines.map((l) => `${l.category} ${l.quantity} × ${money(l.unit_price_cents)}`).join(", "),
      h("span", { class: "small", style: "display:block" }, dateTime(c.created_at)),
      c.refunded_cents ? h("span", { class: "small", style: "display:block" }, t("charges.refunded", { amount: money(c.refunded_cents) })) : null),
    h("span", { class: "amount" }, money(c.total_cents)));
  if (left > 0) {
    const confirm = h("button", { class: "button button--warning", type: "button", hidden: true }, t("charges.confirmRefund", { amount: money(left) }));
    const ask = h("button", { class: "button button--secondary", type: "button" }, t("charges.refund"));
    ask.addEventListener("click", () => { ask.hidden = true; confirm.hidden = false; confirm.focus(); });
    const key = newKey();
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api(`/api/charges/${c.id}/refunds`, { method: "POST", body: {}, idempotencyKey: key });
        status.textContent = t("charges.refundDone", { amount: money(left) });
        const fresh = await api(`/api/charges/${c.id}`);
        li.replaceWith(row(fresh, status, main));
      } catch (err) {
        confirm.disabled = false;
        status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
      }
    });
    li.append(h("span", { style: "flex-basis:100%" }, ask, confirm));
  }
  return li;
}
