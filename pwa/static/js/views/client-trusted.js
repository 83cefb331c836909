// Trusted providers and their caps: a trusted provider may charge by phone number without asking
// each time, up to a cap per charge and, if set, per month. Add, change, stop trusting.
// A carer sees this with a `view` mandate and changes it only with `manage-providers`.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { money, parseMoney } from "../format.js";
import { field, showErrors } from "../forms.js";
import { t } from "../i18n.js";
import { heading, nobody, notAllowed, subject } from "./client-context.js";

const TITLE = "trusted.title";

export async function render(main, params, ctx) {
  const who = await subject(ctx.state, params[0]);
  if (!who || !who.walletId) return nobody(main, TITLE);
  if (!who.scopes.includes("view")) return notAllowed(main, who, TITLE);
  const manage = who.scopes.includes("manage-providers");
  const base = `/api/wallets/${who.walletId}/trusted-providers`;
  const [trusted, directory] = await Promise.all([
    api(base),
    manage ? api("/api/directory").catch((err) => { if (err instanceof ApiError) return []; throw err; }) : [],
  ]);
  const status = h("div", { id: "trusted-status" });
  main.append(...heading(who, TITLE), h("p", {}, t("trusted.intro")), status);
  const redraw = async (message) => {
    main.replaceChildren();
    await render(main, params, ctx);
    const box = h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, message));
    main.querySelector("#trusted-status").append(box);
    box.focus();
    announce(message);
  };
  if (!trusted.length) main.append(h("p", {}, who.mine ? t("trusted.none") : t("trusted.noneFor", { name: who.name })));
  for (const row of trusted) main.append(trustedCard(row, base, manage, status, redraw, who));
  if (!manage) {
    main.append(h("p", { class: "small" }, t("trusted.viewOnly")));
    return;
  }
  const have = new Set(trusted.map((r) => r.provider_id));
  const choices = new Map();
  for (const e of directory) if (!have.has(e.provider_id) && !choices.has(e.provider_id)) choices.set(e.provider_id, e.provider_name);
  if (choices.size) main.append(capsForm({ base, choices, redraw }));
}

function trustedCard(row, base, manage, status, redraw, who) {
  const titleId = `trusted-${row.provider_id}`;
  const card = h("section", { class: "card", "aria-labelledby": titleId, "data-provider": row.provider_id },
    h("h2", { id: titleId }, row.provider_name),
    h("dl", { class: "facts" },
      h("div", {}, h("dt", {}, t("trusted.perCharge")), h("dd", {}, money(row.per_charge_cap_cents))),
      h("div", {}, h("dt", {}, t("trusted.monthly")), h("dd", {}, row.monthly_cap_cents == null ? t("trusted.noMonthly") : money(row.monthly_cap_cents))),
      h("div", {}, h("dt", {}, t("trusted.spent")), h("dd", {}, money(row.month_spent_cents)))));
  if (!manage) return card;
  const actions = h("div", { class: "actions" });
  const change = h("button", { class: "button button--secondary", type: "button", "aria-label": t("trusted.changeName", { name: row.provider_name }) }, t("trusted.change"));
  const remove = h("button", { class: "button button--secondary", type: "button", "aria-label": t("trusted.removeName", { name: row.provider_name }) }, t("trusted.remove"));
  actions.append(change, remove);
  card.append(actions);
  change.addEventListener("click", () => {
    const form = capsForm({ base, row, redraw, onCancel: () => { form.remove(); actions.hidden = false; change.focus(); } });
    actions.hidden = true;
    card.append(form);
    form.querySelector("input").focus();
  });
  remove.addEventListener("click", () => {
    const confirm = h("button", { class: "button button--warning", type: "button" }, t("trusted.confirm", { name: row.provider_name }));
    const keep = h("button", { class: "button button--secondary", type: "button" }, t("trusted.keep"));
    actions.replaceChildren(confirm, keep);
    confirm.focus();
    keep.addEventListener("click", () => { actions.replaceChildren(change, remove); remove.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api(`${base}/${row.provider_id}`, { method: "DELETE" });
        await redraw(who.mine ? t("trusted.removed", { name: row.provider_name })
          : t("trusted.removedFor", { name: row.provider_name, client: who.name }));
      } catch (err) {
        confirm.disabled = false;
        status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" },
          h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
      }
    });
  });
  return card;
}

// Add (choices: providers not trusted yet) or change (row: the provider is fixed).
function capsForm({ base, choices, row, redraw, onCancel }) {
  const p = row ? `edit-${row.provider_id.slice(0, 8)}-` : "add-";
  const perCharge = h("input", { id: `${p}per-charge`, type: "text", inputmode: "decimal", autocomplete: "off",
    value: row ? money(row.per_charge_cap_cents).replace(/\s?€/, "") : "" });
  const monthly = h("input", { id: `${p}monthly`, type: "text", inputmode: "decimal", autocomplete: "off",
    value: row && row.monthly_cap_cents != null ? money(row.monthly_cap_cents).replace(/\s?€/, "") : "" });
  const select = choices ? h("select", { id: `${p}provider` },
    h("option", { value: "" }, t("trusted.pick")),
    [...choices].map(([id, name]) => h("option", { value: id }, name))) : null;
  const status = h("div", {});
  const form = h("form", { novalidate: true, class: row ? "" : "card" },
    row ? h("h3", {}, t("trusted.changeTitle", { name: row.provider_name })) : h("h2", {}, t("trusted.addTitle")),
    select ? field({ id: `${p}provider`, label: t("trusted.provider"), input: select }) : null,
    field({ id: `${p}per-charge`, label: t("trusted.perCharge"), hint: t("trusted.perChargeHint"), input: perCharge, unit: "€" }),
    field({ id: `${p}monthly`, label: t("trusted.monthlyOptional"), hint: t("trusted.monthlyHint"), input: monthly, unit: "€" }),
    status,
    h("button", { class: "button", type: "submit" }, t(row ? "trusted.save" : "trusted.add")),
    onCancel ? h("button", { class: "button button--secondary", type: "button", onclick: onCancel }, t("trusted.cancel")) : null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    const providerId = row ? row.provider_id : select.value;
    if (!providerId) errors.push({ id: `${p}provider`, message: t("trusted.err.provider") });
    const per = parseMoney(perCharge.value);
    if (per === null || per <= 0) errors.push({ id: `${p}per-charge`, message: t("trusted.err.perCharge") });
    const month = monthly.value.trim() === "" ? null : parseMoney(monthly.value);
    if (monthly.value.trim() !== "" && (month === null || month <= 0)) errors.push({ id: `${p}monthly`, message: t("trusted.err.monthly") });
    if (errors.length) return showErrors(form, errors);
    showErrors(form, []);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const saved = await api(`${base}/${providerId}`, { method: "PUT", body: { per_charge_cap_cents: per, monthly_cap_cents: month } });
      await redraw(t(row ? "trusted.changed" : "trusted.added", { name: saved.provider_name }));
    } catch (err) {
      button.disabled = false;
      showErrors(form, [{ id: `${p}per-charge`, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  return form;
}
