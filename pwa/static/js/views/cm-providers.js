// Case manager: providers by status (#/approvals: waiting for a decision first), approve,
// reject with a reason, suspend and reinstate; and the county's service catalogue
// (#/catalogue, through cm-catalogue.js). A rejection or suspension needs a reason, which the provider sees.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { date, money, phone } from "../format.js";
import { t } from "../i18n.js";

const STATUSES = ["applied", "approved", "suspended", "rejected"];

export async function render(main, params) {
  const status = STATUSES.includes(params[0]) ? params[0] : "applied";
  const [rows, categories] = await Promise.all([api(`/api/providers/applications?status=${status}`), api("/api/categories")]);
  const names = Object.fromEntries(categories.map((c) => [c.code, c]));
  const live = h("div", { role: "status", "aria-live": "polite" });
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.providers.title")),
    h("nav", { "aria-label": t("cm.providers.filter"), class: "tabs" },
      STATUSES.map((s) => h("a", { href: `#/approvals/${s}`, "aria-current": s === status ? "page" : null }, t(`cm.providers.status.${s}`)))),
    h("p", {}, h("a", { href: "#/catalogue" }, t("cm.catalogue.title"))),
    live,
    rows.length ? rows.map((p) => providerCard(p, names, live)) : h("p", {}, t(`cm.providers.none.${status}`))));
}

function providerCard(p, names, live) {
  const id = p.provider_id.slice(0, 8);
  const card = h("section", { class: "card provider", "aria-labelledby": `p-${id}` });
  const actions = h("div", { class: "provider__actions" });
  const reasonInput = h("textarea", { id: `reason-${id}`, rows: "3" });
  const reasonForm = h("form", { novalidate: true, hidden: true },
    field({ id: `reason-${id}`, label: t("cm.providers.reason"), hint: t("cm.providers.reasonHint"), input: reasonInput }));
  const decide = async (action, reason) => {
    try {
      const body = reason === undefined ? {} : { reason };
      const out = await api(`/api/providers/${p.provider_id}/${action}`, { method: "POST", body });
      const text = t("cm.providers.done", { name: p.name, status: t(`cm.providers.status.${out.status}`) });
      card.replaceWith(h("p", { class: "notice notice--ok" }, text));
      live.textContent = text;
      announce(text);
    } catch (err) {
      showErrors(reasonForm.hidden ? actionsForm : reasonForm, [{ id: reasonForm.hidden ? `act-${id}` : `reason-${id}`, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  };
  // Reasoned actions open the reason field first; the confirm button sends it.
  const withReason = (action) => () => {
    reasonForm.hidden = false;
    reasonForm.querySelector("button")?.remove();
    const send = h("button", { class: action === "reinstate" ? "button" : "button button--warning", type: "submit" }, t(`cm.providers.confirm.${action}`));
    reasonForm.append(send);
    reasonForm.onsubmit = (ev) => {
      ev.preventDefault();
      const reason = reasonInput.value.trim();
      if (!reason && action !== "reinstate") return showErrors(reasonForm, [{ id: `reason-${id}`, message: t("cm.providers.err.reason") }]);
      decide(action, reason || null);
    };
    reasonInput.focus();
  };
  const button = (action, cls, onclick) => h("button", { class: `button ${cls}`, type: "button", id: action === "approve" || action === "reinstate" ? `act-${id}` : null, onclick }, t(`cm.providers.${action}`));
  if (p.status === "applied") actions.append(button("approve", "", () => decide("approve")), button("reject", "button--secondary", withReason("reject")));
  if (p.status === "approved") actions.append(button("suspend", "button--secondary", withReason("suspend")));
  if (p.status === "suspended") actions.append(button("reinstate", "", withReason("reinstate")));
  const actionsForm = h("form", { novalidate: true, onsubmit: (ev) => ev.preventDefault() }, actions);
  card.append(...[
    h("h2", { id: `p-${id}` }, p.name),
    h("dl", { class: "facts" },
      fact(t("cm.providers.businessId"), p.business_id),
      fact(t("cm.providers.applied"), date(p.created_at)),
      p.contact_name ? fact(t("cm.providers.contact"), [p.contact_name, p.contact_phone && phone(p.contact_phone), p.contact_email].filter(Boolean).join(", ")) : null,
      p.iban ? fact("IBAN", `${p.iban}${p.bic ? ` / ${p.bic}` : ""}`) : null,
      p.municipalities.length ? fact(t("cm.providers.area"), p.municipalities.join(", ")) : null,
      p.languages.length ? fact(t("cm.providers.languages"), p.languages.join(", ")) : null),
    p.prices.length ? h("ul", { class: "list", "aria-label": t("cm.providers.prices") }, p.prices.map((x) => h("li", {},
      h("span", {}, names[x.category]?.name || x.category,
        x.approved || p.status === "applied" ? null : h("span", { class: "small", style: "display:block" }, t("prices.notApproved"))),
      h("span", { class: "amount" }, money(x.unit_price_cents), h("span", { class: "per-unit" }, ` / ${t(`unit.${names[x.category]?.unit || "hour"}`)}`))))) : null,
    p.decision_reason ? h("p", { class: "small" }, t("cm.providers.reasonWas", { reason: p.decision_reason })) : null,
    actionsForm, reasonForm].filter(Boolean));
  return card;
}

export async function renderCatalogue(main) {
  const categories = await api("/api/categories");
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.catalogue.title")),
    h("p", {}, t("cm.catalogue.intro")),
    h("div", { class: "table-wrap", role: "region", "aria-labelledby": "catalogue-caption", tabindex: "0" },
      h("table", { class: "table" },
        h("caption", { id: "catalogue-caption", class: "visually-hidden" }, t("cm.catalogue.title")),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("prices.service")),
          h("th", { scope: "col" }, t("cm.catalogue.code")),
          h("th", { scope: "col" }, t("cm.catalogue.unit")),
          h("th", { scope: "col", class: "num" }, t("prices.cap")))),
        h("tbody", {}, categories.map((c) => h("tr", {},
          h("th", { scope: "row" }, c.name),
          h("td", { class: "mono" }, c.code),
          h("td", {}, t(`unit.${c.unit}`)),
          h("td", { class: "num" }, c.price_cap_cents ? money(c.price_cap_cents) : "–")))))),
    h("p", {}, h("a", { href: "#/approvals" }, t("cm.providers.title")))));
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}
