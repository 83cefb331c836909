// Case manager: monthly funding runs (#/funding), as the ledger records them: envelopes funded
// and the amount, what expired when the month closed, when the run wrote, and whether it funded
// every envelope whose decision was valid that month.
import { api } from "../api.js";
import { h } from "../dom.js";
import { dateTime, money, monthName } from "../format.js";
import { t, tn } from "../i18n.js";

export async function render(main) {
  const runs = await api("/api/funding-runs?limit=24");
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.funding.title")),
    h("p", {}, t("cm.funding.intro")),
    runs.length ? h("div", { class: "table-wrap", role: "region", "aria-labelledby": "funding-caption", tabindex: "0" },
      h("table", { class: "table" },
        h("caption", { id: "funding-caption", class: "visually-hidden" }, t("cm.funding.title")),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("cm.funding.month")),
          h("th", { scope: "col", class: "num" }, t("cm.funding.funded")),
          h("th", { scope: "col", class: "num" }, t("cm.funding.expired")),
          h("th", { scope: "col" }, t("cm.funding.progress")),
          h("th", { scope: "col" }, t("cm.funding.when")))),
        h("tbody", {}, runs.map((r) => h("tr", {},
          h("th", { scope: "row" }, monthName(r.period)),
          h("td", { class: "num" }, money(r.funded_cents), h("span", { class: "small", style: "display:block" }, tn("cm.funding.envelopes", r.funded_envelopes))),
          h("td", { class: "num" }, money(r.expired_cents), h("span", { class: "small", style: "display:block" }, tn("cm.funding.envelopes", r.expired_envelopes))),
          h("td", {}, r.funded_envelopes >= r.envelopes_eligible
            ? h("span", { class: "tag tag--ok" }, t("cm.funding.complete"))
            : h("span", { class: "tag tag--warn" }, t("cm.funding.partial", { done: r.funded_envelopes, total: r.envelopes_eligible }))),
          h("td", {}, r.started_at ? (r.started_at === r.finished_at || !r.finished_at ? dateTime(r.started_at) : `${dateTime(r.started_at)} – ${dateTime(r.finished_at)}`) : "–")))))) : h("p", {}, t("cm.funding.none"))));
}
