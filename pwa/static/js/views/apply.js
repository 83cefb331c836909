// A provider applies to the county in the app: company, business id, bank account, contact,
// languages, area and a price for each service; then creates the passkey it will sign in with.
// The server checks the whole application before the passkey is made, and writes it with the
// passkey in one go. Reached from the sign-in screen (the county chosen by name), or by the
// county's link #/apply/<county>. The same bank account or contact person as an earlier
// application is a warning (possible-duplicate) that the applicant may send past.
import { api, ApiError, devKey, setCsrf } from "../api.js";
import { go } from "../router.js";
import { loadMe } from "../session.js";
import { h } from "../dom.js";
import { clearErrors, field, showErrors } from "../forms.js";
import { money, parseMoney } from "../format.js";
import { t, LANGS } from "../i18n.js";
import { startLive } from "../live.js";
import { failure, loadWebAuthn } from "./signin.js";

const TEXT_FIELDS = [
  ["company_name", "organization", "text"],
  ["business_id", "off", "text"],
  ["iban", "off", "text"],
  ["bic", "off", "text"],
  ["contact_name", "name", "text"],
  ["contact_email", "email", "email"],
  ["contact_phone", "tel", "tel"],
];

// Which field a refusal is about, so its message sits beside that field.
const FIELD_OF = {
  "invalid-business-id": "business_id",
  "already-applied": "business_id",
  "invalid-iban": "iban",
  "invalid-bic": "bic",
};

export async function render(main, params) {
  main.append(h("h1", {}, t("apply.title")), h("p", {}, t("apply.intro")));
  const slug = params[0] ? decodeURIComponent(params[0]) : "";
  if (!slug) return chooseCounty(main);
  let county;
  try {
    county = await api(`/api/providers/apply/county?organizer=${encodeURIComponent(slug)}`);
  } catch (err) {
    main.append(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, err instanceof ApiError ? t("apply.noCounty") : failure(err))));
    return chooseCounty(main);
  }
  main.append(applicationForm(county));
}

// The counties come from the server, by name, so nobody has to know a county's code (the
// demo's is not "kainuu"). Without the list (an older server, a lost connection) the code is typed.
async function chooseCounty(main) {
  let counties = [];
  try { counties = await api("/api/providers/apply/counties"); } catch { counties = []; }
  const form = h("form", { novalidate: true });
  let chosen;
  if (counties.length) {
    const radios = counties.map((c, i) => h("input", { type: "radio", name: "county", id: `county-${i}`, value: c.organizer, checked: counties.length === 1 }));
    form.append(h("fieldset", { class: "fieldset", "data-field": "county-0" },
      h("legend", {}, t("apply.chooseCounty")),
      h("div", { class: "choices" }, radios.map((radio, i) => h("label", { class: "choice" }, radio, counties[i].name)))));
    chosen = () => radios.find((r) => r.checked)?.value || "";
  } else {
    const input = h("input", { id: "county-0", name: "county", type: "text", autocomplete: "off", spellcheck: "false" });
    form.append(field({ id: "county-0", label: t("apply.county"), hint: t("apply.countyHint"), input }));
    chosen = () => input.value.trim().toLowerCase();
  }
  form.append(h("button", { class: "button", type: "submit" }, t("apply.next")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = chosen();
    if (!/^[a-z0-9-]{1,40}$/.test(value)) return showErrors(form, [{ id: "county-0", message: t(counties.length ? "apply.err.chooseCounty" : "apply.err.county") }]);
    go(`#/apply/${encodeURIComponent(value)}`);
  });
  main.append(form);
}

function applicationForm(county) {
  const form = h("form", { novalidate: true, class: "apply" });
  const inputs = {};
  const part = (title, ...children) => h("fieldset", { class: "fieldset" }, h("legend", {}, title), ...children);
  for (const [name, autocomplete, type] of TEXT_FIELDS) {
    inputs[name] = h("input", { id: name, name, type, autocomplete, spellcheck: "false" });
  }
  const langBoxes = LANGS.map((code) => h("input", { type: "checkbox", id: `lang-${code}`, name: "languages", value: code, checked: code === "fi" }));
  const municipalities = h("input", { id: "municipalities", name: "municipalities", type: "text", autocomplete: "off" });
  const prices = county.services.map((svc) => ({
    svc,
    input: h("input", { id: `price-${svc.code}`, name: `price-${svc.code}`, type: "text", inputmode: "decimal", autocomplete: "off" }),
  }));
  const status = h("div", { role: "alert" });
  // Set after the server's possible-duplicate warning: the applicant read it and sends anyway.
  let confirmed = false;
  const changedSince = () => { if (!confirmed) return; confirmed = false; form.querySelector("button[type=submit]").textContent = t("apply.send"); };
  form.append(
    h("p", { class: "notice" }, t("apply.to", { county: county.name })),
    part(t("apply.company"),
      field({ id: "company_name", label: t("apply.f.company_name"), input: inputs.company_name }),
      field({ id: "business_id", label: t("apply.f.business_id"), hint: t("apply.h.business_id"), input: inputs.business_id })),
    part(t("apply.bank"),
      field({ id: "iban", label: t("apply.f.iban"), hint: t("apply.h.iban"), input: inputs.iban }),
      field({ id: "bic", label: t("apply.f.bic"), hint: t("apply.h.bic"), input: inputs.bic })),
    part(t("apply.contact"),
      field({ id: "contact_name", label: t("apply.f.contact_name"), hint: t("apply.h.contact_name"), input: inputs.contact_name }),
      field({ id: "contact_email", label: t("apply.f.contact_email"), input: inputs.contact_email }),
      field({ id: "contact_phone", label: t("apply.f.contact_phone"), input: inputs.contact_phone })),
    h("fieldset", { class: "fieldset", "data-field": "lang-fi" },
      h("legend", {}, t("apply.languages")),
      h("div", { class: "choices" }, langBoxes.map((box) => h("div", { class: "choice" }, box, h("label", { for: box.id }, t(`apply.lang.${box.value}`)))))),
    field({ id: "municipalities", label: t("apply.f.municipalities"), hint: t("apply.h.municipalities"), input: municipalities }),
    part(t("apply.prices"),
      h("p", { class: "hint" }, t("apply.pricesHint")),
      prices.map(({ svc, input }) => field({
        id: input.id,
        label: `${svc.name} (${t(`unit.${svc.unit}`)})`,
        hint: svc.price_cap_cents ? t("apply.cap", { cap: money(svc.price_cap_cents) }) : null,
        input, unit: "€",
      }))),
    h("p", {}, t("apply.passkeyNext")),
    status,
    h("button", { class: "button button--wide", type: "submit" }, t("apply.send")));

  form.addEventListener("input", changedSince);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!confirmed) status.replaceChildren();
    const errors = [];
    const body = { organizer: county.organizer, ...(confirmed ? { confirm_duplicate: true } : {}) };
    for (const [name] of TEXT_FIELDS) {
      body[name] = inputs[name].value.trim();
      if (!body[name]) errors.push({ id: name, message: t(`apply.err.${name}`) });
    }
    body.languages = langBoxes.filter((b) => b.checked).map((b) => b.value);
    if (!body.languages.length) errors.push({ id: "lang-fi", message: t("apply.err.languages") });
    body.municipalities = municipalities.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (!body.municipalities.length) errors.push({ id: "municipalities", message: t("apply.err.municipalities") });
    body.prices = {};
    for (const { svc, input } of prices) {
      if (!input.value.trim()) continue;
      const cents = parseMoney(input.value);
      if (!cents) errors.push({ id: input.id, message: t("apply.err.price") });
      else if (svc.price_cap_cents && cents > svc.price_cap_cents) errors.push({ id: input.id, message: t("apply.err.cap", { cap: money(svc.price_cap_cents) }) });
      else body.prices[svc.code] = cents;
    }
    if (!Object.keys(body.prices).length && !errors.some((e) => e.id.startsWith("price-"))) errors.push({ id: prices[0]?.input.id || "company_name", message: t("apply.err.noPrices") });
    if (errors.length) return showErrors(form, errors);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { publicKey } = await api("/api/providers/apply/options", { method: "POST", body });
      const lib = await loadWebAuthn();
      const credential = await lib.startRegistration({ optionsJSON: publicKey });
      const result = await api("/api/providers/apply/verify", { method: "POST", body: { credential, passkey_name: t("join.passkeyName") } });
      devKey.clear();
      setCsrf(result.csrf_token);
      await loadMe();
      startLive();
      const done = h("div", { class: "notice notice--ok", tabindex: "-1" },
        h("h2", {}, t("apply.sent")),
        h("p", {}, t("apply.sentText", { county: county.name })),
        h("p", {}, h("a", { class: "button", href: "#/" }, t("apply.continue"))));
      form.replaceWith(done);
      done.focus();
    } catch (err) {
      button.disabled = false;
      if (err instanceof ApiError && err.slug === "possible-duplicate") {
        // A warning, not a refusal: say what is the same, and let them send it anyway.
        clearErrors(form); // the form itself passed every check
        confirmed = true;
        button.textContent = t("apply.sendAnyway");
        const matches = err.problem.matches || [];
        const warning = h("div", { class: "notice", id: "duplicate-warning", tabindex: "-1" },
          h("h2", {}, t("apply.duplicate.title")),
          h("ul", {}, matches.map((m) => h("li", {}, t(`apply.duplicate.${m === "iban" ? "iban" : "contact"}`)))),
          h("p", {}, t("apply.duplicate.text")));
        status.replaceChildren(warning);
        warning.focus();
        return;
      }
      if (err instanceof ApiError) {
        const id = FIELD_OF[err.slug] || (err.problem.category ? `price-${err.problem.category}` : null);
        if (id && document.getElementById(id)) return showErrors(form, [{ id, message: err.title }]);
      }
      status.replaceChildren(h("div", { class: "notice notice--error" }, h("p", {}, failure(err, "add"))));
    }
  });
  return form;
}
