// The provider's price list (#/prices): each service's price in force, the county's cap and
// announced changes; publishing a new price from a date, when the server offers it. Prices are
// never edited in place: a new version starts on its date, so no past charge changes.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { date, money, parseMoney } from "../format.js";
import { intl, t } from "../i18n.js";

const ROUTE = "/api/providers/me/prices";

export async function render(main, _params, { state }) {
  const got = await api(ROUTE);
  const rows = Array.isArray(got) ? got : got.items || got.prices || [];
  main.append(h("h1", {}, t("prices.title")), h("p", {}, t("prices.intro")));
  if (!rows.length) main.append(h("p", {}, t("prices.none")));
  else main.append(table(rows));
  const canPublish = rows.some((r) => r.approved !== false);
  if (canPublish) main.append(publishForm(rows, main));
}

function table(rows) {
  return h("div", { class: "table-wrap", role: "region", "aria-labelledby": "prices-caption", tabindex: "0" },
    h("table", { class: "table" },
      h("caption", { id: "prices-caption" }, t("prices.caption")),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("prices.service")),
        h("th", { scope: "col", class: "num" }, t("prices.now")),
        h("th", { scope: "col", class: "num" }, t("prices.cap")),
        h("th", { scope: "col" }, t("prices.upcoming")))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        h("th", { scope: "row" }, r.category_name || r.category,
          h("span", { class: "small", style: "display:block" }, t(`unit.${r.unit}`)),
          r.approved === false ? h("span", { class: "tag" }, t("prices.notApproved")) : null),
        h("td", { class: "num" }, r.unit_price_cents ? money(r.unit_price_cents) : "–"),
        h("td", { class: "num" }, r.price_cap_cents ? money(r.price_cap_cents) : "–"),
        h("td", {}, (r.upcoming || []).length
          ? (r.upcoming || []).map((u) => h("span", { style: "display:block" }, t("prices.from", { date: date(u.effective_from), amount: money(u.unit_price_cents) })))
          : "–"))))));
}

function publishForm(rows, main) {
  const form = h("form", { novalidate: true, class: "card" });
  const tomorrow = new Date(Date.now() + 86_400_000);
  const iso = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}`;
  const service = h("select", { id: "price-service" }, rows.filter((r) => r.approved !== false)
    .map((r) => h("option", { value: r.category }, r.category_name || r.category)));
  const amount = h("input", { id: "price-new", type: "text", inputmode: "decimal", autocomplete: "off" });
  const from = h("input", { id: "price-from", type: "date", value: iso });
  const done = h("div", { role: "status" });
  form.append(h("h2", {}, t("prices.publish")), h("p", {}, t("prices.publishIntro")),
    field({ id: "price-service", label: t("prices.service"), input: service }),
    field({ id: "price-new", label: t("prices.newPrice"), hint: t("charge.priceHint"), input: amount, unit: "€" }),
    field({ id: "price-from", label: t("prices.fromDate"), hint: t("prices.fromHint"), input: from }),
    h("button", { class: "button", type: "submit" }, t("prices.publishButton")), done);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const cents = parseMoney(amount.value);
    const errors = [];
    if (!cents) errors.push({ id: "price-new", message: t("charge.err.price") });
    // Today (Helsinki) up to two years ahead, as the server allows; ISO dates compare as text.
    const today = intl(Intl.DateTimeFormat, { timeZone: "Europe/Helsinki" }, "sv-SE").format(new Date());
    const last = `${Number(today.slice(0, 4)) + 2}${today.slice(4)}`;
    if (!from.value || from.value < today || from.value > last) errors.push({ id: "price-from", message: t("prices.err.date") });
    if (errors.length) return showErrors(form, errors);
    try {
      await api(ROUTE, { method: "POST", body: { category: service.value, unit_price_cents: cents, effective_from: from.value } });
      main.replaceChildren();
      await render(main, [], { state: {} });
      main.querySelector("h1").after(h("div", { class: "notice notice--ok", role: "status" }, t("prices.published", { amount: money(cents), date: date(from.value) })));
    } catch (err) {
      // A refused date (past, or too far ahead) points at the date; anything else at the price.
      const aboutDate = err instanceof ApiError && /effective_from/.test(JSON.stringify(err.problem));
      showErrors(form, [{ id: aboutDate ? "price-from" : "price-new", message: aboutDate ? t("prices.err.date") : err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  return form;
}
