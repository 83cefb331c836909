// The provider's charge screen: identify the customer, choose the service, see the total,
// charge. Once the customer is identified it takes at most three taps (service, charge; the
// quantity and the remembered unit price are already filled in). Declines show the problem's
// title, which the server words for a provider in their language.
import { api, ApiError, newKey, Offline } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors, clearErrors } from "../forms.js";
import { lineCents, money, parseMoney, parseQuantity, time } from "../format.js";
import { onLive } from "../live.js";
import { t } from "../i18n.js";

const PRICE = (code) => `pricelist.${code}`;
let pending = null; // {body, key}: a retry after a lost connection reuses the Idempotency-Key

export const keepFocus = false;

export async function render(main, _params, { state }) {
  const categories = await api("/api/categories");
  const form = h("form", { novalidate: true, class: "charge" });
  const phone = h("input", { id: "phone", name: "phone", type: "tel", autocomplete: "off", inputmode: "tel" });
  const code = h("input", { id: "code", name: "code", type: "text", autocomplete: "off", inputmode: "numeric" });
  const how = h("fieldset", { "data-field": "how-phone" }, h("legend", {}, t("charge.how")),
    h("div", { class: "choices" },
      h("label", { class: "choice" }, h("input", { type: "radio", name: "how", id: "how-phone", value: "phone", checked: true }), t("charge.byPhone")),
      h("label", { class: "choice" }, h("input", { type: "radio", name: "how", id: "how-code", value: "code" }), t("charge.byCode"))));
  const phoneField = field({ id: "phone", label: t("charge.phone"), hint: t("charge.phoneHint"), input: phone });
  const codeField = field({ id: "code", label: t("charge.code"), hint: t("charge.codeHint"), input: code });
  codeField.hidden = true;
  const byCode = () => form.querySelector("input[name=how]:checked")?.value === "code";
  const quantity = h("input", { id: "quantity", name: "quantity", type: "text", inputmode: "decimal", value: "1", class: "input-short", autocomplete: "off" });
  const price = h("input", { id: "price", name: "price", type: "text", inputmode: "decimal", autocomplete: "off" });
  const total = h("p", { class: "total", id: "total", "aria-live": "polite" });
  const submit = h("button", { class: "button button--wide", type: "submit" }, t("charge.submit"));
  const chosen = () => form.querySelector("input[name=service]:checked");
  const unitOf = (cat) => t(`unit.${cat.unit}`);

  const services = h("fieldset", { "data-field": "service-0" },
    h("legend", {}, t("charge.service")),
    h("div", { class: "choices" }, categories.map((cat, i) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "service", id: `service-${i}`, value: cat.code }),
      h("span", {}, cat.name, h("span", { class: "small" }, t("charge.per", { unit: unitOf(cat) })))))));

  function update() {
    const cat = categories.find((c) => c.code === chosen()?.value);
    const q = parseQuantity(quantity.value);
    const unitCents = parseMoney(price.value);
    const cents = cat && q && unitCents ? lineCents(q.thousandths, unitCents) : null;
    total.textContent = cents ? t("charge.total", { amount: money(cents) }) : t("charge.totalNone");
    submit.textContent = cents ? t("charge.submitAmount", { amount: money(cents) }) : t("charge.submit");
  }
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "how") {
      phoneField.hidden = byCode();
      codeField.hidden = !byCode();
    }
    if (ev.target.name === "service") {
      const saved = localStorage.getItem(PRICE(ev.target.value));
      price.value = saved ? money(Number(saved)).replace(/\s*€/, "") : "";
      const cat = categories.find((c) => c.code === ev.target.value);
      form.querySelector(".price-unit").textContent = cat ? `€ / ${unitOf(cat)}` : "€";
    }
    update();
  });
  form.addEventListener("input", update);

  form.append(
    h("h1", {}, t("charge.title")),
    how, phoneField, codeField,
    services,
    field({ id: "price", label: t("charge.price"), hint: t("charge.priceHint"), input: price, unit: "€" }),
    field({ id: "quantity", label: t("charge.quantity"), input: quantity }),
    total, submit);
  form.querySelector(".input-unit .unit").classList.add("price-unit");
  update();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    const cat = categories.find((c) => c.code === chosen()?.value);
    const q = parseQuantity(quantity.value);
    const unitCents = parseMoney(price.value);
    const codeDigits = code.value.replace(/\D/g, "");
    if (!byCode() && !phone.value.trim()) errors.push({ id: "phone", message: t("charge.err.phone") });
    if (byCode() && codeDigits.length !== 8) errors.push({ id: "code", message: t("charge.err.code") });
    if (!cat) errors.push({ id: "service-0", message: t("charge.err.service") });
    if (!unitCents) errors.push({ id: "price", message: t("charge.err.price") });
    if (!q) errors.push({ id: "quantity", message: t("charge.err.quantity") });
    if (errors.length) return showErrors(form, errors);
    clearErrors(form);
    const lines = [{ category: cat.code, quantity: q.text, unit_price_cents: unitCents }];
    const body = byCode() ? { code: codeDigits, lines } : { phone: phone.value.trim(), lines };
    const same = pending && JSON.stringify(pending.body) === JSON.stringify(body);
    pending = same ? pending : { body, key: newKey() };
    submit.disabled = true;
    submit.textContent = t("charge.working");
    try {
      const result = await checkout(body, pending.key);
      pending = null;
      localStorage.setItem(PRICE(cat.code), String(unitCents));
      const again = () => { main.replaceChildren(); render(main, _params, { state }); };
      const who = body.phone || t("charge.byCode");
      if (result.request) return waitForAnswer(main, result.request, { cat, who, again });
      outcome(main, { ok: true, charge: result.charge, cat, who, again });
    } catch (err) {
      if (err instanceof Offline) {
        submit.disabled = false;
        update();
        return showErrors(form, [{ id: "phone", message: t("charge.err.offline") }]);
      }
      pending = null;
      if (!(err instanceof ApiError)) throw err;
      if (err.slug === "invalid-phone" || err.slug === "token-invalid") {
        submit.disabled = false; update();
        return showErrors(form, [{ id: byCode() ? "code" : "phone", message: err.title }]);
      }
      outcome(main, { ok: false, err, retry: () => { main.replaceChildren(form); submit.disabled = false; update(); form.querySelector("h1").focus(); } });
    }
  });
  main.append(form);
}

function outcome(main, result) {
  const heading = h("h1", { tabindex: "-1" }, result.ok ? t("charge.done") : t("charge.declined"));
  const nodes = [heading];
  if (result.ok) {
    const c = result.charge;
    nodes.push(h("div", { class: "notice notice--ok", role: "status" },
      h("p", { class: "outcome" }, t("charge.doneAmount", { amount: money(c.total_cents) })),
      h("p", {}, `${result.cat.name} · ${c.lines.map((l) => `${l.quantity} × ${money(l.unit_price_cents)}`).join(", ")}`),
      h("p", { class: "small" }, t("charge.customer", { phone: result.who }))),
      h("button", { class: "button button--wide", type: "button", onclick: () => result.again() }, t("charge.next")),
      h("p", {}, h("a", { href: "#/charges" }, t("nav.charges"))));
  } else {
    nodes.push(h("div", { class: "notice notice--error", role: "alert" },
      h("p", { class: "outcome" }, result.err.title || t("error.generic.text")),
      h("p", {}, t(`decline.${result.err.slug}`) === `decline.${result.err.slug}` ? "" : t(`decline.${result.err.slug}`))),
      result.retry ? h("button", { class: "button button--wide", type: "button", onclick: result.retry }, t("charge.retry"))
        : h("button", { class: "button button--wide", type: "button", onclick: () => result.again() }, t("charge.next")));
  }
  main.replaceChildren(...nodes);
  heading.focus();
}

// Checkout (issue 4): by code -> captured at once; by phone -> captured for a trusted provider,
// else a payment request that holds the money until the client or a carer answers.
// Servers without checkout fall back to the direct charge.
async function checkout(body, key) {
  const path = body.code ? "/api/checkout/token" : "/api/checkout/phone";
  try {
    const result = await api(path, { method: "POST", body, idempotencyKey: key });
    return body.code ? { charge: result } : result;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && err.slug === "not-found" && !body.code)) throw err;
    return { charge: await api("/api/charges", { method: "POST", body, idempotencyKey: key }) };
  }
}

function waitForAnswer(main, request, ctx) {
  const heading = h("h1", { tabindex: "-1" }, t("charge.waiting"));
  const status = h("p", { role: "status" }, t("charge.waitingText", { amount: money(request.total_cents), time: time(request.expires_at) }));
  const cancel = h("button", { class: "button button--secondary", type: "button" }, t("charge.cancel"));
  let done = false;
  const finish = (req) => {
    if (done) return;
    done = true;
    clearInterval(poll);
    off();
    if (req.charge_id) {
      outcome(main, { ok: true, charge: { total_cents: req.total_cents, lines: req.lines }, cat: ctx.cat, who: ctx.who, again: ctx.again });
    } else {
      outcome(main, { ok: false, err: { title: t(`request.${req.status}`), slug: `request-${req.status}` }, again: ctx.again });
    }
  };
  const check = async () => {
    try {
      const req = await api(`/api/payment-requests/${request.id}`);
      if (req.status !== "pending") finish(req);
    } catch { /* keep waiting; the next poll tries again */ }
  };
  const poll = setInterval(check, 3000);
  const off = onLive((event) => { if (String(event.type).startsWith("payment.")) check(); });
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try { finish(await api(`/api/payment-requests/${request.id}/cancel`, { method: "POST", body: {} })); } catch { cancel.disabled = false; }
  });
  main.replaceChildren(heading, h("div", { class: "notice" }, status), cancel);
  heading.focus();
}
