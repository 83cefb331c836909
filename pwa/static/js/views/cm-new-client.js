// Case manager: create a client (#/clients/new), grant a budget by decision
// (#/clients/CLIENT/WALLET/decision), and print an invite so the client can make a passkey
// (#/clients/CLIENT/WALLET). Loaded by clients.js only for these pages, not for the list.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { money, parseMoney } from "../format.js";
import { t, tn } from "../i18n.js";
import { inviteBlock } from "./client-invite.js";

export function render(main, params, { go }) {
  if (params[0] === "new") return renderNew(main, go);
  const [clientId, walletId, step] = params;
  if (step === "decision") return renderDecision(main, clientId, walletId, go);
  return renderDone(main, clientId, walletId);
}

const NAME_FIELDS = { first_name: "first", last_name: "last", phone: "phone" };

// Problem details from the server on a field: the invalid-phone slug points at the phone.
function serverErrors(err, fallbackId) {
  if (err instanceof ApiError && err.slug === "invalid-phone") return [{ id: "phone", message: err.title }];
  return [{ id: fallbackId, message: err instanceof ApiError ? err.title : t("charge.err.offline") }];
}

function renderNew(main, go) {
  const form = h("form", { novalidate: true });
  const inputs = {
    first: h("input", { id: "first", type: "text", autocomplete: "off" }),
    last: h("input", { id: "last", type: "text", autocomplete: "off" }),
    phone: h("input", { id: "phone", type: "tel", autocomplete: "off", inputmode: "tel" }),
  };
  const langs = h("fieldset", { "data-field": "lang-fi" }, h("legend", {}, t("clients.language")),
    h("div", { class: "choices" }, [["fi", "Suomi"], ["sv", "Svenska"], ["en", "English"]].map(([code, name], i) =>
      h("label", { class: "choice", lang: code }, h("input", { type: "radio", name: "language", id: `lang-${code}`, value: code, checked: i === 0 }), name))));
  form.append(h("h1", {}, t("clients.newTitle")),
    h("p", {}, t("clients.newIntro")),
    field({ id: "first", label: t("clients.first"), input: inputs.first }),
    field({ id: "last", label: t("clients.last"), input: inputs.last }),
    field({ id: "phone", label: t("clients.phone"), hint: t("clients.phoneHint"), input: inputs.phone }),
    langs,
    h("button", { class: "button button--wide", type: "submit" }, t("clients.create")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = Object.entries(NAME_FIELDS)
      .filter(([, id]) => !inputs[id].value.trim())
      .map(([key, id]) => ({ id, message: t(`clients.err.${key}`) }));
    if (errors.length) return showErrors(form, errors);
    try {
      const created = await api("/api/clients", { method: "POST", body: {
        first_name: inputs.first.value.trim(), last_name: inputs.last.value.trim(), phone: inputs.phone.value.trim(),
        language: form.querySelector("input[name=language]:checked").value,
      } });
      go(`#/clients/${created.client_id}/${created.wallet_id}/decision`);
    } catch (err) {
      showErrors(form, serverErrors(err, "first"));
    }
  });
  main.append(form);
}

async function renderDecision(main, clientId, walletId, go) {
  const categories = await api("/api/categories");
  const today = new Date();
  const iso = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
  const form = h("form", { novalidate: true });
  const from = h("input", { id: "valid-from", type: "date", value: iso });
  const to = h("input", { id: "valid-to", type: "date" });
  const label = h("input", { id: "label", type: "text", autocomplete: "off" });
  const amount = h("input", { id: "amount", type: "text", inputmode: "decimal", autocomplete: "off" });
  const cats = h("fieldset", { "data-field": "cat-0" }, h("legend", {}, t("decision.categories")),
    h("span", { class: "hint" }, t("decision.categoriesHint")),
    h("div", { class: "choices" }, categories.map((c, i) => h("label", { class: "choice" },
      h("input", { type: "checkbox", name: "category", id: `cat-${i}`, value: c.code }),
      h("span", {}, c.name, c.price_cap_cents ? h("span", { class: "small" }, t("decision.cap", { amount: money(c.price_cap_cents), unit: t(`unit.${c.unit}`) })) : null)))));
  // A line may fund a group of categories (the catalogue's groups): one tap ticks the group's.
  const groups = [...new Set(categories.flatMap((c) => c.groups || []))].sort();
  if (groups.length) {
    const picked = h("p", { role: "status", class: "small" });
    cats.insertBefore(h("div", { class: "choices", id: "groups" },
      h("span", { class: "hint" }, t("decision.groupsHint")),
      groups.map((g) => {
        const members = categories.filter((c) => (c.groups || []).includes(g));
        return h("button", { class: "button button--secondary", type: "button", "data-group": g, onclick: () => {
          for (const box of cats.querySelectorAll("input[name=category]")) {
            box.checked = members.some((c) => c.code === box.value);
          }
          picked.textContent = tn("decision.groupPicked", members.length, { group: g });
        } }, tn("decision.group", members.length, { group: g }));
      }), picked), cats.querySelector(".choices"));
  }
  // A service voucher: the wallet pays at most its value per unit (the client pays any price
  // above it themselves). The helper turns "hours a week x value" into the monthly amount.
  const voucher = h("input", { id: "voucher", type: "text", inputmode: "decimal", autocomplete: "off" });
  const hours = h("input", { id: "hours", type: "text", inputmode: "decimal", autocomplete: "off" });
  const worked = h("p", { role: "status", class: "small" });
  const calc = h("button", { class: "button button--secondary", type: "button" }, t("voucher.calculate"));
  calc.addEventListener("click", async () => {
    const value = parseMoney(voucher.value);
    const errors = [];
    if (!value) errors.push({ id: "voucher", message: t("voucher.err.value") });
    if (!/^\d{1,3}([.,]\d{1,3})?$/.test(hours.value.trim())) errors.push({ id: "hours", message: t("voucher.err.hours") });
    if (errors.length) return showErrors(form, errors);
    try {
      const out = await api("/api/decision-helper", { method: "POST", body: { hours_per_week: hours.value.trim().replace(",", "."), value_per_hour_cents: value } });
      amount.value = (out.monthly_amount_cents / 100).toFixed(2).replace(".", ",");
      worked.textContent = t("voucher.worked", { hours: hours.value.trim(), value: money(value), amount: money(out.monthly_amount_cents) });
    } catch (err) {
      showErrors(form, serverErrors(err, "hours"));
    }
  });
  const voucherPart = h("details", { class: "card" },
    h("summary", {}, h("strong", {}, t("voucher.title"))),
    h("p", { class: "hint" }, t("voucher.intro")),
    field({ id: "voucher", label: t("voucher.value"), hint: t("voucher.valueHint"), input: voucher, unit: "€" }),
    field({ id: "hours", label: t("voucher.hours"), hint: t("voucher.hoursHint"), input: hours }),
    calc, worked);
  form.append(h("h1", {}, t("decision.title")),
    field({ id: "label", label: t("decision.label"), hint: t("decision.labelHint"), input: label }),
    voucherPart,
    field({ id: "amount", label: t("decision.amount"), hint: t("decision.amountHint"), input: amount, unit: "€" }),
    cats,
    field({ id: "valid-from", label: t("decision.from"), input: from }),
    field({ id: "valid-to", label: t("decision.to"), hint: t("decision.toHint"), input: to }),
    h("button", { class: "button button--wide", type: "submit" }, t("decision.create")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    const cents = parseMoney(amount.value);
    const chosen = [...form.querySelectorAll("input[name=category]:checked")].map((c) => c.value);
    const voucherCents = voucher.value.trim() ? parseMoney(voucher.value) : null;
    if (voucher.value.trim() && !voucherCents) errors.push({ id: "voucher", message: t("voucher.err.value") });
    if (!label.value.trim()) errors.push({ id: "label", message: t("decision.err.label") });
    if (!cents) errors.push({ id: "amount", message: t("decision.err.amount") });
    if (!chosen.length) errors.push({ id: "cat-0", message: t("decision.err.categories") });
    if (!from.value) errors.push({ id: "valid-from", message: t("decision.err.from") });
    if (to.value && from.value && to.value < from.value) errors.push({ id: "valid-to", message: t("decision.err.to") });
    if (errors.length) return showErrors(form, errors);
    try {
      await api(`/api/clients/${clientId}/decisions`, { method: "POST", body: {
        valid_from: from.value, valid_to: to.value || null,
        lines: [{ label: label.value.trim(), monthly_amount_cents: cents, categories: chosen,
          ...(voucherCents ? { voucher_value_cents: voucherCents } : {}) }],
      } });
      go(`#/clients/${clientId}/${walletId}`);
    } catch (err) {
      showErrors(form, serverErrors(err, "label"));
    }
  });
  main.append(form);
}

function renderDone(main, clientId, walletId) {
  const [make, invite] = inviteBlock(clientId);
  main.append(h("h1", {}, t("clients.doneTitle")),
    h("div", { class: "notice notice--ok" }, h("p", {}, t("clients.doneText"))),
    make, invite,
    h("p", { class: "no-print" }, h("a", { href: `#/wallet/${walletId}` }, t("clients.viewWallet"))),
    h("p", { class: "no-print" }, h("a", { href: `#/clients/${clientId}` }, t("cm.client.open"))),
    h("p", { class: "no-print" }, h("a", { href: "#/clients/new" }, t("clients.another"))));
}
