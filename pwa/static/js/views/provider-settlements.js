// Settlements (#/settlements, #/settlements/ID): a provider sees its own payouts, a case
// manager the county's; one settlement lists the charges (+) and refunds (-) it covers, and
// what the bank said of the payout (pending until `wallet bank import` reads its answer).
import { api } from "../api.js";
import { h } from "../dom.js";
import { date, dateTime, money } from "../format.js";
import { t, tn } from "../i18n.js";

export async function render(main, params, { state }) {
  if (params[0]) return renderOne(main, params[0]);
  const rows = await api("/api/settlements?limit=100");
  const staff = state.me?.role === "case_manager";
  main.append(h("h1", {}, t("settlements.title")), h("p", {}, t(staff ? "settlements.introCm" : "settlements.intro")));
  if (!rows.length) { main.append(h("p", {}, t("settlements.none"))); return; }
  main.append(h("div", { class: "table-wrap", role: "region", "aria-labelledby": "settlements-caption", tabindex: "0" },
    h("table", { class: "table" },
      h("caption", { id: "settlements-caption", class: "visually-hidden" }, t("settlements.title")),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("settlements.reference")),
        staff ? h("th", { scope: "col" }, t("settlements.provider")) : null,
        h("th", { scope: "col" }, t("settlements.until")),
        h("th", { scope: "col" }, t("settlements.status")),
        h("th", { scope: "col", class: "num" }, t("settlements.amount")))),
      h("tbody", {}, rows.map((s) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `#/settlements/${s.id}` }, s.reference),
          h("span", { class: "small", style: "display:block" }, tn("settlements.lines", s.lines))),
        staff ? h("td", {}, s.provider_name) : null,
        h("td", {}, date(s.until)),
        h("td", { "data-status": s.status }, t(`settlements.status.${s.status}`)),
        h("td", { class: "num" }, money(s.amount_cents))))))));
}

async function renderOne(main, id) {
  const { settlement: s, lines } = await api(`/api/settlements/${encodeURIComponent(id)}`);
  main.append(h("h1", {}, t("settlements.one", { reference: s.reference })),
    h("dl", { class: "facts card" },
      fact(t("settlements.provider"), s.provider_name),
      fact(t("settlements.until"), date(s.until)),
      fact(t("settlements.made"), dateTime(s.created_at)),
      fact(t("settlements.amount"), money(s.amount_cents)),
      fact(t("settlements.status"), t(`settlements.status.${s.status}`)),
      s.bank_reason ? fact(t("settlements.bankReason"), s.bank_reason) : null),
    h("div", { class: "table-wrap", role: "region", "aria-labelledby": "lines-caption", tabindex: "0" },
      h("table", { class: "table" },
        h("caption", { id: "lines-caption" }, t("settlements.linesTitle")),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("settlements.booked")),
          h("th", { scope: "col" }, t("settlements.kind")),
          h("th", { scope: "col" }, t("settlements.period")),
          h("th", { scope: "col", class: "num" }, t("settlements.amount")))),
        h("tbody", {}, lines.map((l) => h("tr", {},
          h("td", {}, dateTime(l.booked_at)),
          h("td", {}, t(`settlements.kind.${l.kind}`) === `settlements.kind.${l.kind}` ? l.kind : t(`settlements.kind.${l.kind}`)),
          h("td", {}, l.period),
          h("td", { class: "num" }, money(l.amount_cents))))))),
    h("p", {}, h("a", { href: "#/settlements" }, t("settlements.back"))));
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}
