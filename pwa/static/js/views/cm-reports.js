// Case manager: reports (#/reports) from the ledger: per month and budget line (allotted,
// funded, spent net of refunds, refunded, expired, use rate) and per provider (earned,
// refunded, net, settled), with CSV downloads and, when the server draws it, a chart of the
// months. "Spent" is the same figure in the table and the chart: net of refunds. Services are
// named in the UI language (the catalogue), never by code.
import { api, ApiError, headers } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { money, monthName, percent } from "../format.js";
import { t } from "../i18n.js";

const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

export async function render(main) {
  const from = h("input", { id: "report-from", type: "text", inputmode: "numeric", autocomplete: "off", class: "input-short" });
  const to = h("input", { id: "report-to", type: "text", inputmode: "numeric", autocomplete: "off", class: "input-short" });
  const form = h("form", { novalidate: true, class: "filters" },
    field({ id: "report-from", label: t("cm.reports.from"), hint: t("cm.reports.periodHint"), input: from }),
    field({ id: "report-to", label: t("cm.reports.to"), hint: t("cm.reports.periodHint"), input: to }),
    h("button", { class: "button", type: "submit" }, t("cm.reports.show")));
  const out = h("div", {});
  main.append(h("div", { class: "desk" }, h("h1", {}, t("cm.reports.title")), form, out));
  const categories = await api("/api/categories").catch(() => []);
  const names = Object.fromEntries(categories.map((x) => [x.code, x.name]));
  async function load() {
    const q = new URLSearchParams();
    if (from.value.trim()) q.set("from", from.value.trim());
    if (to.value.trim()) q.set("to", to.value.trim());
    const [months, providers] = await Promise.all([api(`/api/reports/months?${q}`), api(`/api/reports/providers?${q}`)]);
    out.replaceChildren(
      h("section", { "aria-labelledby": "months-title" },
        h("h2", { id: "months-title" }, t("cm.reports.months")),
        await chart(q),
        months.length ? monthsTable(months, names) : h("p", {}, t("cm.reports.none")),
        download(`/api/reports/months?${withCsv(q)}`, "report-months.csv", t("cm.reports.csvMonths"))),
      h("section", { "aria-labelledby": "providers-title" },
        h("h2", { id: "providers-title" }, t("cm.reports.providers")),
        providers.length ? providersTable(providers) : h("p", {}, t("cm.reports.none")),
        download(`/api/reports/providers?${withCsv(q)}`, "report-providers.csv", t("cm.reports.csvProviders"))));
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [from, to].filter((x) => x.value.trim() && !PERIOD.test(x.value.trim()))
      .map((x) => ({ id: x.id, message: t("cm.reports.err.period") }));
    if (errors.length) return showErrors(form, errors);
    try { await load(); } catch (err) { showErrors(form, [{ id: "report-from", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]); }
  });
  await load();
}

function withCsv(q) {
  const c = new URLSearchParams(q);
  c.set("format", "csv");
  return c;
}

// The chart is an SVG from the server; fetched with the same credentials as the API and shown
// as an image with a text alternative (the table below it has the same numbers).
async function chart(q) {
  try {
    const res = await fetch(`/api/reports/months.svg?${q}`, { headers: headers({ Accept: "image/svg+xml" }), credentials: "same-origin" });
    if (!res.ok) return null;
    const text = await res.text();
    return h("figure", { class: "report-chart" },
      h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`, alt: t("cm.reports.chartAlt") }),
      h("figcaption", { class: "small" }, t("cm.reports.chartCaption")));
  } catch {
    return null;
  }
}

// CSV needs the caller's credentials too (a developer key is a header, not a cookie), so the
// link downloads through fetch.
function download(path, name, label) {
  const button = h("button", { class: "button button--secondary", type: "button" }, label);
  button.addEventListener("click", async () => {
    const res = await fetch(path, { headers: headers({ Accept: "text/csv" }), credentials: "same-origin" });
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  return h("p", {}, button);
}

// The scrolling box is a region named "Table: …", so its name differs from the section's
// (axe landmark-unique), and a keyboard user can scroll it.
function table(id, caption, heads, rows) {
  return h("div", { class: "table-wrap", role: "region", "aria-label": t("cm.reports.tableOf", { title: caption }), tabindex: "0" },
    h("table", { class: "table" },
      h("caption", { id, class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, heads.map(([text, num]) => h("th", { scope: "col", class: num ? "num" : null }, text)))),
      h("tbody", {}, rows)));
}

// "kotiapu+siivous" -> "Kotiapu, Siivous" (a code the catalogue no longer has stays a code).
function services(group, names) {
  return group.split("+").map((code) => names[code] || code).join(", ");
}

function monthsTable(rows, names) {
  return table("months-caption", t("cm.reports.months"), [
    [t("cm.funding.month")], [t("cm.reports.services")], [t("cm.reports.allotted"), 1], [t("cm.reports.funded"), 1],
    [t("cm.reports.spentNet"), 1], [t("cm.reports.refunded"), 1], [t("cm.reports.expired"), 1], [t("cm.reports.useRate"), 1],
  ], rows.map((r) => h("tr", {},
    h("th", { scope: "row" }, monthName(r.period)),
    h("td", {}, services(r.services, names)),
    ...[r.allotted_cents, r.funded_cents, r.spent_net_cents ?? r.spent_cents - r.refunded_cents, r.refunded_cents, r.expired_cents]
      .map((c) => h("td", { class: "num" }, money(c))),
    h("td", { class: "num" }, r.use_rate_pct == null ? "–" : percent(r.use_rate_pct)))));
}

function providersTable(rows) {
  return table("providers-caption", t("cm.reports.providers"), [
    [t("cm.funding.month")], [t("settlements.provider")], [t("cm.reports.earned"), 1], [t("cm.reports.refunded"), 1],
    [t("cm.reports.net"), 1], [t("cm.reports.settled"), 1],
  ], rows.map((r) => h("tr", {},
    h("th", { scope: "row" }, monthName(r.period)),
    h("td", {}, r.provider),
    ...[r.earned_cents, r.refunded_cents, r.net_cents, r.settled_cents].map((c) => h("td", { class: "num" }, money(c))))));
}
