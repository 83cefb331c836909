// Notification settings: push on this device (asked only from a tap, with the iPhone home-screen
// guide), which events to hear about, amounts hidden on the lock screen, the low-balance limit,
// and the language notifications are written in.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { money, parseMoney } from "../format.js";
import { clearErrors, field, showErrors } from "../forms.js";
import { LANGS, t } from "../i18n.js";
import { state } from "../session.js";
import { pushSection } from "./settings.js";

const NAMES = { fi: "Suomi", sv: "Svenska", en: "English" };
// What needs an answer first, then money out and in, then the monthly and the rest.
const ORDER = [
  "payment.requested", "charge.captured", "refund.created", "payment.approved", "payment.declined",
  "payment.expired", "balance.low", "envelope.funded", "remainder.expired", "statement.ready", "mandate.changed",
];

export async function render(main) {
  const prefs = await api("/api/notifications/preferences");
  main.append(h("h1", {}, t("notif.title")), pushSection(), preferencesForm(prefs));
}

// A type the server knows but this app has no words for yet still gets a switch.
function typeLabel(type) {
  const key = `notif.type.${type}`;
  const text = t(key);
  return text === key ? t("notif.type.other", { type }) : text;
}

function checkbox(id, label, checked, hint) {
  return h("label", { class: "choice", for: id },
    h("input", { type: "checkbox", id, name: id, checked: checked || null }),
    h("span", {}, label, hint ? h("span", { class: "small" }, hint) : null));
}

function preferencesForm(prefs) {
  const form = h("form", { novalidate: true, id: "preferences" });
  const rank = (type) => (ORDER.includes(type) ? ORDER.indexOf(type) : ORDER.length);
  const types = Object.keys(prefs.types).sort((a, b) => rank(a) - rank(b));
  const low = h("input", {
    id: "low-balance", name: "low-balance", type: "text", inputmode: "decimal", autocomplete: "off",
    class: "input-short", value: prefs.low_balance_cents == null ? "" : money(prefs.low_balance_cents).replace(/\s?€/, ""),
  });
  const status = h("div", {});
  // A balance is a client's: the limit is asked of clients and carers, not of staff.
  const asksLow = ["client", "carer"].includes(state.me?.role);
  form.append(
    h("h2", {}, t("notif.which")),
    h("fieldset", {},
      h("legend", {}, t("notif.typesLegend")),
      h("div", { class: "choices" }, types.map((type) => checkbox(`type-${type.replace(/\./g, "-")}`, typeLabel(type), prefs.types[type])))),
    h("fieldset", {},
      h("legend", {}, t("notif.privacy")),
      h("div", { class: "choices" }, checkbox("hide-amounts", t("notif.hideAmounts"), prefs.hide_amounts, t("notif.hideAmountsHint")))),
    asksLow ? field({ id: "low-balance", label: t("notif.low"), hint: t("notif.lowHint"), input: low, unit: "€" }) : "",
    h("fieldset", {},
      h("legend", {}, t("notif.language")),
      h("div", { class: "choices" }, LANGS.map((code) => h("label", { class: "choice", lang: code, for: `notif-lang-${code}` },
        h("input", { type: "radio", name: "notif-lang", value: code, id: `notif-lang-${code}`, checked: code === prefs.language || null }),
        NAMES[code])))),
    status,
    h("button", { class: "button", type: "submit" }, t("notif.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    const text = asksLow ? low.value.trim() : "";
    const lowCents = !asksLow ? prefs.low_balance_cents ?? null : text === "" ? null : parseMoney(text);
    if (text !== "" && (lowCents === null || lowCents <= 0)) {
      return showErrors(form, [{ id: "low-balance", message: t("notif.err.low") }]);
    }
    clearErrors(form);
    const body = {
      types: Object.fromEntries(types.map((type) => [type, form.querySelector(`#type-${type.replace(/\./g, "-")}`).checked])),
      hide_amounts: form.querySelector("#hide-amounts").checked,
      low_balance_cents: lowCents,
      language: form.querySelector("input[name=notif-lang]:checked")?.value || prefs.language,
    };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("/api/notifications/preferences", { method: "PUT", body });
      const done = h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, t("notif.saved")));
      status.replaceChildren(done);
      done.focus();
      announce(t("notif.saved"));
    } catch (err) {
      status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" },
        h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
