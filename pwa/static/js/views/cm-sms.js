// Case manager: SMS for a client with a basic phone (issue 20), a section of the client file
// (#/clients/ID). The case manager turns texts on for the client's number or a carer's, with a
// language and the events wanted; the number gets a code at once, which the client reads out
// and the case manager enters here. Nothing else is texted before that. docs/sms.md.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { phone } from "../format.js";
import { t } from "../i18n.js";

const LANGS = { fi: "Suomi", sv: "Svenska", en: "English" };

export async function smsSection(client, carers) {
  const section = h("section", { "aria-labelledby": "sms-title", class: "no-print", id: "sms" });
  section.append(h("h2", { id: "sms-title" }, t("sms.title")), h("p", {}, t("sms.intro")));
  let listed;
  try {
    listed = await api(`/api/wallets/${client.wallet_id}/sms`);
  } catch (err) {
    section.append(h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline")));
    return section;
  }
  const people = [{ id: "", name: `${client.first_name} ${client.last_name}` },
    ...carers.map((m) => ({ id: m.carer_id, name: m.carer_name }))];
  const nameOf = (principalId) => (carers.find((m) => m.carer_id === principalId)?.carer_name) || people[0].name;
  const status = h("p", { role: "status", class: "small" });
  const list = h("ul", { class: "list card", id: "sms-numbers" });
  const draw = () => {
    list.replaceChildren(...listed.items.map((o) => row(o)));
    list.hidden = !listed.items.length;
    none.hidden = !!listed.items.length;
  };
  const none = h("p", {}, t("sms.none"));
  const replace = (changed) => {
    listed.items = [...listed.items.filter((o) => o.id !== changed.id), changed];
    draw();
  };

  function row(o) {
    const events = o.events.map((e) => t(`sms.event.${e}`)).join(", ") || t("sms.noEvents");
    const li = h("li", { "data-optin": o.id },
      h("span", {},
        h("strong", { class: "phone" }, phone(o.phone)),
        h("span", { class: "small block" }, `${nameOf(o.principal_id)} · ${LANGS[o.language] || o.language}`),
        h("span", { class: "small block" }, events)),
      h("span", { class: "tag" }, o.confirmed ? t("sms.confirmed") : t("sms.waiting")));
    const remove = h("button", { class: "button button--warning", type: "button", "aria-label": t("sms.removeFor", { phone: phone(o.phone) }) }, t("sms.remove"));
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try {
        await api(`/api/sms/optins/${o.id}`, { method: "DELETE" });
        listed.items = listed.items.filter((x) => x.id !== o.id);
        draw();
        status.textContent = t("sms.removed", { phone: phone(o.phone) });
        announce(status.textContent);
      } catch (err) {
        remove.disabled = false;
        status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
      }
    });
    if (o.confirmed) {
      li.append(h("span", { class: "actions" }, remove));
      return li;
    }
    // Waiting for its code: the client reads it out, the case manager types it here.
    const codeId = `sms-code-${o.id}`;
    const code = h("input", { id: codeId, type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", class: "input-short" });
    const confirm = h("button", { class: "button", type: "submit" }, t("sms.confirm"));
    const resend = h("button", { class: "button button--secondary", type: "button" }, t("sms.resend"));
    const form = h("form", { novalidate: true, class: "sms-confirm" },
      field({ id: codeId, label: t("sms.code"), hint: t("sms.codeHint"), input: code }),
      h("p", {}, confirm, " ", resend, " ", remove));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!/^\d{6}$/.test(code.value.trim())) return showErrors(form, [{ id: codeId, message: t("sms.err.code") }]);
      confirm.disabled = true;
      try {
        replace(await api(`/api/sms/optins/${o.id}/confirm`, { method: "POST", body: { code: code.value.trim() } }));
        status.textContent = t("sms.confirmedDone", { phone: phone(o.phone) });
        announce(status.textContent);
        list.querySelector(`[data-optin="${o.id}"] .phone`)?.setAttribute("tabindex", "-1");
        list.querySelector(`[data-optin="${o.id}"] .phone`)?.focus();
      } catch (err) {
        confirm.disabled = false;
        showErrors(form, [{ id: codeId, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
      }
    });
    resend.addEventListener("click", async () => {
      resend.disabled = true;
      try {
        await api(`/api/sms/optins/${o.id}/code`, { method: "POST", body: {} });
        status.textContent = t("sms.codeSent", { phone: phone(o.phone) });
        announce(status.textContent);
      } catch (err) {
        status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
      } finally {
        resend.disabled = false;
      }
    });
    li.append(form);
    return li;
  }

  section.append(status, none, list);
  draw();
  if (!listed.available) {
    section.append(h("p", { class: "notice" }, t("sms.unavailable")));
    return section;
  }

  // The form: whose number, the number, the language and the events.
  const whose = h("select", { id: "sms-whose" }, people.map((p) => h("option", { value: p.id }, p.name)));
  const number = h("input", { id: "sms-phone", type: "tel", inputmode: "tel", autocomplete: "off", maxlength: "32", value: client.phone ? phone(client.phone) : "" });
  const lang = h("select", { id: "sms-lang" }, Object.entries(LANGS).map(([code, name]) => h("option", { value: code, selected: code === client.language ? "" : null }, name)));
  const boxes = listed.events.map((e) => h("input", { type: "checkbox", id: `sms-event-${e}`, value: e, checked: ["receipt", "request", "low_balance"].includes(e) ? "" : null }));
  const submit = h("button", { class: "button", type: "submit" }, t("sms.add"));
  const form = h("form", { novalidate: true, class: "card", id: "sms-form" },
    h("h3", {}, t("sms.addTitle")),
    field({ id: "sms-whose", label: t("sms.whose"), input: whose }),
    field({ id: "sms-phone", label: t("sms.phone"), hint: t("sms.phoneHint"), input: number }),
    field({ id: "sms-lang", label: t("sms.language"), input: lang }),
    h("fieldset", { class: "fieldset", "data-field": `sms-event-${listed.events[0]}` },
      h("legend", {}, t("sms.events")),
      h("div", { class: "choices" }, boxes.map((box) => h("div", { class: "choice" }, box,
        h("label", { for: box.id }, t(`sms.event.${box.value}`)))))),
    h("p", {}, submit));
  whose.addEventListener("change", () => { if (whose.value) number.value = ""; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!number.value.trim()) return showErrors(form, [{ id: "sms-phone", message: t("sms.err.phone") }]);
    submit.disabled = true;
    try {
      const body = { phone: number.value.trim(), language: lang.value, events: boxes.filter((b) => b.checked).map((b) => b.value) };
      if (whose.value) body.carer_id = whose.value;
      const made = await api(`/api/wallets/${client.wallet_id}/sms`, { method: "POST", body });
      replace(made);
      status.textContent = t("sms.codeSent", { phone: phone(made.phone) });
      announce(status.textContent);
      document.getElementById(`sms-code-${made.id}`)?.focus();
    } catch (err) {
      showErrors(form, [{ id: "sms-phone", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    } finally {
      submit.disabled = false;
    }
  });
  section.append(form);
  return section;
}
