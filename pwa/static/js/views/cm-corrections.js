// Case manager: corrections of charges after their month has closed (#/corrections).
// #/corrections lists the ones waiting for a second case manager (approve or reject) and the
// decided ones; an admin sets the amount above which a second approval is needed.
// #/corrections/charge/<id> corrects one charge: how much goes back to the county, and why.
// The money never goes back to the client's budget: that month has closed.
import { api, ApiError, newKey } from "../api.js";
import { announce, h } from "../dom.js";
import { dateTime, money, monthName, parseMoney } from "../format.js";
import { field, showErrors } from "../forms.js";
import { t, tn } from "../i18n.js";

export async function render(main, params, { state }) {
  if (params[0] === "charge" && params[1]) return correctForm(main, params[1]);
  return list(main, state);
}

async function list(main, state) {
  const [all, settings] = await Promise.all([
    api("/api/corrections?limit=200"),
    api("/api/organizer/settings"),
  ]);
  const pending = all.filter((c) => c.status === "pending");
  const decided = all.filter((c) => c.status !== "pending");
  const status = h("div", { role: "status", "aria-live": "polite", id: "corrections-status" });
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.corrections.title")),
    h("p", {}, t("cm.corrections.intro", { limit: money(settings.correction_approval_above_cents) })),
    status,
    h("section", { "aria-labelledby": "pending-title" },
      h("h2", { id: "pending-title" }, tn("cm.corrections.pending", pending.length)),
      pending.length
        ? h("ul", { class: "list card", id: "pending-corrections" }, pending.map((c) => pendingItem(c, main, state, status)))
        : h("p", {}, t("cm.corrections.nonePending"))),
    h("section", { "aria-labelledby": "decided-title" },
      h("h2", { id: "decided-title" }, t("cm.corrections.decided")),
      decided.length
        ? h("ul", { class: "list card", id: "decided-corrections" }, decided.map(decidedItem))
        : h("p", {}, t("cm.corrections.noneDecided"))),
    state.me.admin ? limitForm(settings, main, state) : null));
}

function facts(c) {
  return [
    h("p", { class: "list__title" }, t("cm.corrections.what", {
      client: c.client_name, provider: c.provider_name, month: monthName(c.period),
    })),
    h("p", {}, h("strong", {}, money(c.amount_cents)), " ",
      h("span", { class: "small" }, t("cm.corrections.ofCharge", { total: money(c.charge_total_cents) }))),
    h("p", { class: "small" }, t("cm.corrections.reason", { reason: c.reason })),
    h("p", { class: "small" }, t("cm.corrections.asked", { name: c.requested_by_name, when: dateTime(c.requested_at) })),
  ];
}

function pendingItem(c, main, state, status) {
  const decide = (what) => async () => {
    for (const b of item.querySelectorAll("button")) b.disabled = true;
    try {
      await api(`/api/corrections/${c.id}/${what}`, { method: "POST", body: {} });
      const said = t(what === "approve" ? "cm.corrections.approvedNow" : "cm.corrections.rejectedNow", { amount: money(c.amount_cents) });
      main.replaceChildren();
      await list(main, state);
      main.querySelector("#corrections-status").textContent = said;
      announce(said);
    } catch (err) {
      for (const b of item.querySelectorAll("button")) b.disabled = false;
      status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
    }
  };
  const item = h("li", { "data-correction": c.id },
    h("div", {}, ...facts(c),
      c.may_decide
        ? h("p", { class: "actions" },
          h("button", { class: "button", type: "button", onclick: decide("approve") }, t("cm.corrections.approve")),
          " ",
          h("button", { class: "button button--warning", type: "button", onclick: decide("reject") }, t("cm.corrections.reject")))
        : h("p", { class: "actions" },
          h("span", { class: "small" }, t("cm.corrections.waitsForOther")), " ",
          h("button", { class: "button button--secondary", type: "button", onclick: decide("reject") }, t("cm.corrections.withdraw")))));
  return item;
}

function decidedItem(c) {
  const tag = c.status === "approved"
    ? h("span", { class: "tag tag--ok" }, t("cm.corrections.status.approved"))
    : h("span", { class: "tag tag--warn" }, t("cm.corrections.status.rejected"));
  return h("li", { "data-correction": c.id, "data-status": c.status },
    h("div", {}, ...facts(c),
      h("p", { class: "small" }, tag, " ", t("cm.corrections.decidedBy", { name: c.decided_by_name || "", when: c.decided_at ? dateTime(c.decided_at) : "" }))));
}

function limitForm(settings, main, state) {
  const input = h("input", {
    id: "correction-limit", name: "limit", inputmode: "decimal", autocomplete: "off",
    value: (settings.correction_approval_above_cents / 100).toFixed(2).replace(".", ","),
  });
  const said = h("p", { role: "status", "aria-live": "polite" });
  const form = h("form", { novalidate: true, id: "correction-limit-form" },
    h("h2", {}, t("cm.corrections.limitTitle")),
    field({ id: "correction-limit", label: t("cm.corrections.limitLabel"), hint: t("cm.corrections.limitHint"), input, unit: "€" }),
    h("button", { class: "button", type: "submit" }, t("cm.corrections.limitSave")),
    said);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const cents = parseMoney(input.value);
    if (cents === null) return showErrors(form, [{ id: "correction-limit", message: t("charges.err.amount") }]);
    showErrors(form, []);
    try {
      const saved = await api("/api/organizer/settings", { method: "PUT", body: { correction_approval_above_cents: cents } });
      said.textContent = t("cm.corrections.limitSaved", { limit: money(saved.correction_approval_above_cents) });
    } catch (err) {
      showErrors(form, [{ id: "correction-limit", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  return form;
}

async function correctForm(main, chargeId) {
  const charge = await api(`/api/charges/${encodeURIComponent(chargeId)}`);
  const left = charge.total_cents - charge.refunded_cents;
  const amount = h("input", {
    id: "correction-amount", name: "amount", inputmode: "decimal", autocomplete: "off",
    value: (left / 100).toFixed(2).replace(".", ","),
  });
  const reason = h("textarea", { id: "correction-reason", name: "reason", rows: 3, maxlength: 500 });
  const submit = h("button", { class: "button", type: "submit" }, t("cm.corrections.submit"));
  const key = newKey(); // one correction per visit to this form: a retry after a lost answer repeats it
  const form = h("form", { novalidate: true, id: "correction-form" },
    field({ id: "correction-amount", label: t("cm.corrections.amount"), hint: t("cm.corrections.amountHint", { amount: money(left) }), input: amount, unit: "€" }),
    field({ id: "correction-reason", label: t("cm.corrections.reasonLabel"), hint: t("cm.corrections.reasonHint"), input: reason }),
    submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const cents = parseMoney(amount.value);
    const errors = [];
    if (cents === null || cents <= 0) errors.push({ id: "correction-amount", message: t("charges.err.amount") });
    else if (cents > left) errors.push({ id: "correction-amount", message: t("cm.corrections.err.tooMuch", { amount: money(left) }) });
    if (!reason.value.trim()) errors.push({ id: "correction-reason", message: t("cm.corrections.err.reason") });
    if (errors.length) return showErrors(form, errors);
    showErrors(form, []);
    submit.disabled = true;
    try {
      const done = await api(`/api/charges/${charge.id}/corrections`, {
        method: "POST", body: { amount_cents: cents, reason: reason.value.trim() }, idempotencyKey: key,
      });
      const said = done.status === "approved"
        ? t("cm.corrections.done", { amount: money(done.amount_cents) })
        : t("cm.corrections.waits", { amount: money(done.amount_cents) });
      form.replaceWith(h("div", { class: `notice ${done.status === "approved" ? "notice--ok" : ""}` },
        h("p", { class: "outcome" }, said),
        h("p", {}, h("a", { href: "#/corrections" }, t("cm.corrections.toList")))));
      announce(said);
    } catch (err) {
      submit.disabled = false;
      showErrors(form, [{ id: "correction-amount", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.corrections.formTitle")),
    h("dl", { class: "facts" },
      h("div", {}, h("dt", {}, t("cm.corrections.provider")), h("dd", {}, charge.provider_name)),
      h("div", {}, h("dt", {}, t("cm.corrections.month")), h("dd", {}, monthName(charge.period))),
      h("div", {}, h("dt", {}, t("cm.corrections.charged")), h("dd", {}, `${money(charge.total_cents)} · ${dateTime(charge.created_at)}`)),
      charge.refunded_cents ? h("div", {}, h("dt", {}, t("cm.corrections.alreadyBack")), h("dd", {}, money(charge.refunded_cents))) : null),
    h("p", {}, t("cm.corrections.formIntro")),
    form));
}
