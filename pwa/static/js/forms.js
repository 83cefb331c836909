// GOV.UK / Suomi.fi form pattern: visible labels and hints, an error beside each field, and an
// error summary at the top that takes focus and links to each field.
import { h } from "./dom.js";
import { t } from "./i18n.js";

// field({id, label, hint, input}) where input is an element whose id is `id`.
export function field({ id, label, hint, input, unit }) {
  const described = [];
  if (hint) described.push(`${id}-hint`);
  input.setAttribute("aria-describedby", described.join(" ") || null);
  if (!described.length) input.removeAttribute("aria-describedby");
  const control = unit
    ? h("div", { class: "input-unit" }, input, h("span", { class: "unit", "aria-hidden": "true" }, unit))
    : input;
  return h("div", { class: "field", "data-field": id },
    h("label", { for: id }, label),
    hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null,
    control);
}

export function clearErrors(form) {
  form.querySelector(".error-summary")?.remove();
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll(".field--error")) el.classList.remove("field--error");
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => !x.endsWith("-error"));
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" ")); else el.removeAttribute("aria-describedby");
  }
}

// errors: [{id, message}] where id is the field's input id (or a fieldset's first input).
export function showErrors(form, errors) {
  clearErrors(form);
  if (!errors.length) return;
  const summary = h("div", { class: "error-summary", tabindex: "-1", role: "alert", "aria-labelledby": "error-summary-title" },
    h("h2", { id: "error-summary-title" }, t("errors.title")),
    h("ul", {}, errors.map((e) => h("li", {}, h("a", {
      href: `#${e.id}`,
      onclick: (ev) => { ev.preventDefault(); document.getElementById(e.id)?.focus(); },
    }, e.message)))));
  for (const e of errors) {
    const input = document.getElementById(e.id);
    if (!input) continue;
    const box = input.closest("[data-field]");
    box?.classList.add("field--error");
    const msg = h("span", { class: "field-error", id: `${e.id}-error` },
      h("span", { class: "visually-hidden" }, `${t("errors.prefix")} `), e.message);
    const anchor = box?.querySelector(".input-unit, input, select, .choices");
    if (box && anchor) anchor.before(msg);
    if (input.matches("input, select")) {
      input.setAttribute("aria-invalid", "true");
      const ids = [input.getAttribute("aria-describedby"), `${e.id}-error`].filter(Boolean);
      input.setAttribute("aria-describedby", ids.join(" "));
    }
  }
  form.prepend(summary);
  summary.focus();
}
