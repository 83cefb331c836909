// The provider's charge screen (#/charge) and check-in (#/charge/visit): identify the customer
// (phone number, the code under their QR, the QR read by the camera, or a QR card + the PIN
// the client types), choose the service from the price list, quantity, see the total, charge.
// Once the customer is identified it takes at most three taps (service, charge; the quantity
// and the list price are already filled in). Declines show the problem's title, which the
// server words for a provider in their language.
import { api, ApiError, newKey, Offline } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors, clearErrors } from "../forms.js";
import { lineCents, money, parseMoney, parseQuantity, time } from "../format.js";
import { onLive } from "../live.js";
import { t } from "../i18n.js";

const PRICE = (code) => `pricelist.${code}`;
const VISITS = "wallet.visits";
let pending = null; // {body, key}: a retry after a lost connection reuses the Idempotency-Key

export const keepFocus = false;

// The provider's prices in force today: {category: cents}, from its own price list.
export async function listPrices() {
  try {
    const got = await api("/api/providers/me/prices");
    const rows = Array.isArray(got) ? got : got.items || got.prices || [];
    return Object.fromEntries(rows.filter((r) => r.unit_price_cents && r.approved !== false)
      .map((r) => [r.category, r.unit_price_cents]));
  } catch (err) {
    if (err instanceof ApiError || err instanceof Offline) return {};
    throw err;
  }
}

// What a decoded QR is: the client's payment QR (token), a QR card, or the 8-digit code.
export function readScanned(text) {
  const value = String(text || "").trim();
  if (/^hbp_[\w-]{8,}$/.test(value)) return { token: value };
  if (/^HBK-[0-9A-F]{4,}$/i.test(value)) return { card_number: value.toUpperCase() };
  const digits = value.replace(/\s/g, "");
  if (/^\d{8}$/.test(digits)) return { code: digits };
  return null;
}

// A provider that is not approved (an applicant waiting for the county, or one rejected or
// suspended) cannot charge: it is told where it stands instead of being shown the form.
async function standing() {
  try {
    return await api("/api/providers/me");
  } catch (err) {
    if (err instanceof ApiError && err.status !== 401) return null; // the form's own refusals say it
    throw err;
  }
}

function notApproved(main, me) {
  const known = ["applied", "rejected", "suspended"].includes(me.status) ? me.status : "applied";
  main.append(
    h("h1", {}, t(`standing.${known}.title`)),
    h("div", { class: "notice", role: "status", id: "standing" },
      h("p", {}, t(`standing.${known}.text`, { name: me.name })),
      me.decision_reason && known !== "applied" ? h("p", {}, t("standing.reason", { reason: me.decision_reason })) : null),
    h("p", {}, t("standing.meanwhile")),
    h("p", {}, h("a", { href: "#/prices" }, t("nav.prices"))));
}

export async function render(main, params, ctx) {
  const visit = params[0] === "visit";
  // One round trip: where the provider stands, the services and its prices, asked together.
  const [me, categories, prices] = await Promise.all([standing(), api("/api/categories"), listPrices()]);
  if (me && me.status !== "approved") return notApproved(main, me);
  // Only the services on the provider's list, when it has one (the others would be refused).
  const listed = categories.filter((c) => prices[c.code]);
  const offered = listed.length ? listed : categories;
  const form = h("form", { novalidate: true, class: "charge" });
  const phone = h("input", { id: "phone", name: "phone", type: "tel", autocomplete: "off", inputmode: "tel" });
  const code = h("input", { id: "code", name: "code", type: "text", autocomplete: "off", inputmode: "numeric" });
  const card = h("input", { id: "card", name: "card", type: "text", autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  let scanned = null; // {token} from the camera; shown, not editable
  const choice = (value, label, checked = false) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "how", id: `how-${value}`, value, checked }), label);
  const how = h("fieldset", { "data-field": "how-phone" }, h("legend", {}, t("charge.how")),
    h("div", { class: "choices" },
      choice("phone", t("charge.byPhone"), true),
      choice("code", t("charge.byCode")),
      choice("scan", t("charge.byScan")),
      choice("card", t("charge.byCard"))));
  const phoneField = field({ id: "phone", label: t("charge.phone"), hint: t(visit ? "visit.phoneHint" : "charge.phoneHint"), input: phone });
  const codeField = field({ id: "code", label: t("charge.code"), hint: t("charge.codeHint"), input: code });
  const cardField = field({ id: "card", label: t("charge.card"), hint: t("charge.cardHint"), input: card });
  const scanArea = h("div", { class: "scan", id: "scan-area" });
  const cardScan = h("button", { class: "button button--secondary", type: "button" }, t("scan.cardButton"));
  cardField.append(cardScan, h("p", { class: "small" }, t("charge.pinLater")));
  const how_ = () => form.querySelector("input[name=how]:checked")?.value || "phone";
  const quantity = h("input", { id: "quantity", name: "quantity", type: "text", inputmode: "decimal", value: "1", class: "input-short", autocomplete: "off" });
  const price = h("input", { id: "price", name: "price", type: "text", inputmode: "decimal", autocomplete: "off" });
  const total = h("p", { class: "total", id: "total", "aria-live": "polite" });
  const submitLabel = visit ? "visit.submit" : "charge.submit";
  const submit = h("button", { class: "button button--wide", type: "submit" }, t(submitLabel));
  const chosen = () => form.querySelector("input[name=service]:checked");
  const unitOf = (cat) => t(`unit.${cat.unit}`);

  const services = h("fieldset", { "data-field": "service-0" },
    h("legend", {}, t("charge.service")),
    h("div", { class: "choices" }, offered.map((cat, i) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "service", id: `service-${i}`, value: cat.code }),
      h("span", {}, cat.name, h("span", { class: "small" }, prices[cat.code]
        ? t("charge.listPrice", { amount: money(prices[cat.code]), unit: unitOf(cat) })
        : t("charge.per", { unit: unitOf(cat) })))))));

  function cents() {
    const cat = offered.find((c) => c.code === chosen()?.value);
    const q = parseQuantity(quantity.value);
    const unitCents = parseMoney(price.value);
    return cat && q && unitCents ? lineCents(q.thousandths, unitCents) : null;
  }
  function update() {
    const c = cents();
    total.textContent = c ? t("charge.total", { amount: money(c) }) : t("charge.totalNone");
    submit.textContent = c ? t(`${submitLabel}Amount`, { amount: money(c) }) : t(submitLabel);
  }
  function showHow() {
    const mode = how_();
    phoneField.hidden = mode !== "phone";
    codeField.hidden = mode !== "code";
    cardField.hidden = mode !== "card";
    scanArea.hidden = mode !== "scan";
    if (mode === "scan" && !scanned) explainCamera(scanArea, { onResult: useScanned, onManual: () => pick("code") });
    if (mode !== "scan") stopCamera();
  }
  function pick(mode, focus = true) {
    form.querySelector(`#how-${mode}`).checked = true;
    showHow();
    const target = { phone, code, card }[mode];
    if (focus && target) target.focus();
  }
  // A QR from the camera: the client's payment QR is used as it is; a card's QR fills the
  // card number (the client still types the PIN); anything else is said plainly.
  function useScanned(text) {
    const found = readScanned(text);
    if (!found) {
      scanArea.prepend(h("p", { class: "notice notice--error", role: "alert" }, t("scan.unknown")));
      return false;
    }
    if (found.card_number) { card.value = found.card_number; pick("card", false); chosen() ? submit.focus() : services.querySelector("input").focus(); return true; }
    if (found.code) { code.value = found.code; pick("code", false); services.querySelector("input").focus(); return true; }
    scanned = found;
    scanArea.replaceChildren(h("p", { class: "notice notice--ok", role: "status" }, t("scan.read")),
      h("button", { class: "linkish", type: "button", onclick: () => { scanned = null; showHow(); } }, t("scan.again")));
    services.querySelector("input").focus();
    return true;
  }
  cardScan.addEventListener("click", () => {
    pick("scan", false);
  });
  form.addEventListener("change", (ev) => {
    if (ev.target.name === "how") showHow();
    if (ev.target.name === "service") {
      const listPrice = prices[ev.target.value];
      const saved = listPrice || Number(localStorage.getItem(PRICE(ev.target.value))) || null;
      price.value = saved ? money(saved).replace(/\s*€/, "") : "";
      const cat = offered.find((c) => c.code === ev.target.value);
      form.querySelector(".price-unit").textContent = cat ? `€ / ${unitOf(cat)}` : "€";
    }
    update();
  });
  form.addEventListener("input", update);

  form.append(...[
    h("h1", {}, t(visit ? "visit.title" : "charge.title")),
    visit ? h("p", {}, t("visit.intro")) : null,
    how, phoneField, codeField, scanArea, cardField,
    services,
    field({ id: "price", label: t("charge.price"), hint: t("charge.priceHint"), input: price, unit: "€" }),
    field({ id: "quantity", label: t(visit ? "visit.quantity" : "charge.quantity"), input: quantity }),
    total, submit,
    h("p", {}, h("a", { href: visit ? "#/visits" : "#/charge/visit" }, t(visit ? "visit.list" : "visit.checkIn")))].filter(Boolean));
  form.querySelector(".input-unit .unit").classList.add("price-unit");
  showHow();
  update();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    const mode = how_();
    const cat = offered.find((c) => c.code === chosen()?.value);
    const q = parseQuantity(quantity.value);
    const unitCents = parseMoney(price.value);
    const codeDigits = code.value.replace(/\D/g, "");
    const cardNumber = card.value.trim().toUpperCase();
    if (mode === "phone" && !phone.value.trim()) errors.push({ id: "phone", message: t("charge.err.phone") });
    if (mode === "code" && codeDigits.length !== 8) errors.push({ id: "code", message: t("charge.err.code") });
    if (mode === "card" && !/^HBK-[0-9A-F]{4,}$/.test(cardNumber)) errors.push({ id: "card", message: t("charge.err.card") });
    if (mode === "scan" && !scanned) errors.push({ id: "how-scan", message: t("charge.err.scan") });
    if (!cat) errors.push({ id: "service-0", message: t("charge.err.service") });
    if (!unitCents) errors.push({ id: "price", message: t("charge.err.price") });
    if (!q) errors.push({ id: "quantity", message: t("charge.err.quantity") });
    if (errors.length) return showErrors(form, errors);
    clearErrors(form);
    stopCamera();
    const lines = [{ category: cat.code, quantity: q.text, unit_price_cents: unitCents }];
    const who = { phone: { phone: phone.value.trim() }, code: { code: codeDigits }, scan: scanned, card: { card_number: cardNumber } }[mode];
    const body = { ...who, lines };
    const again = () => { main.replaceChildren(); render(main, params, ctx); };
    const back = () => { main.replaceChildren(form); submit.disabled = false; update(); form.querySelector("h1").focus(); };
    const info = { cat, who: mode === "phone" ? body.phone : t(`charge.by${mode[0].toUpperCase()}${mode.slice(1)}`), again, visit, lines };
    if (mode === "card") return handover(main, body, cents(), info, back);
    submit.disabled = true;
    submit.textContent = t("charge.working");
    try {
      const result = await send(body, visit);
      localStorage.setItem(PRICE(cat.code), String(unitCents));
      if (result.hold) return visitStarted(main, result.hold, info);
      if (result.request) return waitForAnswer(main, result.request, info);
      outcome(main, { ok: true, charge: result.charge, ...info });
    } catch (err) {
      if (err instanceof Offline) {
        submit.disabled = false;
        update();
        return showErrors(form, [{ id: { phone: "phone", code: "code", scan: "how-scan" }[mode], message: t("charge.err.offline") }]);
      }
      if (!(err instanceof ApiError)) throw err;
      if (err.slug === "invalid-phone" || err.slug === "token-invalid") {
        submit.disabled = false; update();
        if (mode === "scan") scanned = null;
        return showErrors(form, [{ id: { phone: "phone", code: "code", scan: "how-scan" }[mode], message: err.title }]);
      }
      outcome(main, { ok: false, err, retry: back, again });
    }
  });
  main.append(form);
}

// One money write with its Idempotency-Key: a retry of the same body (after a lost
// connection) reuses the key, so the server answers the first result instead of charging twice.
async function send(body, visit) {
  const same = pending && JSON.stringify(pending.body) === JSON.stringify({ body, visit });
  pending = same ? pending : { body: { body, visit }, key: newKey() };
  const result = await post(body, visit, pending.key).catch((err) => {
    if (!(err instanceof Offline)) pending = null;
    throw err;
  });
  pending = null;
  return result;
}

// Checkout (issue 4): by code or QR -> captured at once; by card + PIN -> captured at once;
// by phone -> captured for a trusted provider, else a payment request that holds the money
// until the client or a carer answers. Visits: a hold now, the charge at check-out.
async function post(body, visit, key) {
  if (visit) {
    return { hold: await api("/api/holds", { method: "POST", body, idempotencyKey: key }) };
  }
  if (body.card_number) return { charge: await api("/api/checkout/card", { method: "POST", body, idempotencyKey: key }) };
  const path = body.phone ? "/api/checkout/phone" : "/api/checkout/token";
  const result = await api(path, { method: "POST", body, idempotencyKey: key });
  return body.phone ? result : { charge: result };
}

// Card + PIN: the provider hands the phone to the client, who types the PIN out of the
// provider's sight; the amount is on screen so the client knows what they agree to.
function handover(main, body, cents, info, back) {
  const heading = h("h1", { tabindex: "-1" }, t("pin.title"));
  const form = h("form", { novalidate: true, class: "handover" });
  const pin = h("input", { id: "pin", type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "6", class: "input-short pin" });
  const pay = h("button", { class: "button button--wide", type: "submit" }, t(info.visit ? "pin.submitVisit" : "pin.submit", { amount: money(cents) }));
  const cancel = h("button", { class: "button button--secondary", type: "button", onclick: back }, t("pin.cancel"));
  form.append(heading,
    h("div", { class: "notice handover__step", role: "note" }, h("p", { class: "outcome" }, t("pin.handOver")), h("p", {}, t("pin.handOverText"))),
    h("p", { class: "total" }, `${info.cat.name}: ${money(cents)}`),
    field({ id: "pin", label: t("pin.label"), hint: t("pin.hint"), input: pin }),
    pay, cancel);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!/^\d{4,6}$/.test(pin.value)) return showErrors(form, [{ id: "pin", message: t("pin.err.format") }]);
    pay.disabled = true;
    try {
      const result = await send({ ...body, pin: pin.value }, info.visit);
      pin.value = "";
      if (result.hold) return visitStarted(main, result.hold, { ...info, giveBack: true });
      outcome(main, { ok: true, charge: result.charge, ...info, giveBack: true });
    } catch (err) {
      pay.disabled = false;
      pin.value = "";
      if (err instanceof Offline) return showErrors(form, [{ id: "pin", message: t("charge.err.offline") }]);
      if (!(err instanceof ApiError)) throw err;
      if (err.slug === "card-invalid") {
        const left = err.problem.attempts_left;
        return showErrors(form, [{ id: "pin", message: left != null ? t("pin.err.wrong", { left }) : err.title }]);
      }
      outcome(main, { ok: false, err, retry: back, again: info.again, giveBack: true });
    }
  });
  main.replaceChildren(form);
  heading.focus();
}

function outcome(main, result) {
  const heading = h("h1", { tabindex: "-1" }, result.ok ? t("charge.done") : t("charge.declined"));
  const nodes = [heading];
  if (result.giveBack) nodes.push(h("p", { class: "notice" }, t("pin.giveBack")));
  if (result.ok) {
    const c = result.charge;
    nodes.push(h("div", { class: "notice notice--ok", role: "status" },
      h("p", { class: "outcome" }, t("charge.doneAmount", { amount: money(c.total_cents) })),
      h("p", {}, `${result.cat.name} · ${c.lines.map((l) => `${l.quantity} × ${money(l.unit_price_cents)}`).join(", ")}`),
      // Above a service voucher's value the client pays the rest to the provider directly.
      c.client_share_cents > 0 ? h("p", { class: "outcome share" }, t("share.collect", { amount: money(c.client_share_cents) })) : null,
      h("p", { class: "small" }, t("charge.customer", { phone: result.who }))),
      h("button", { class: "button button--wide", type: "button", onclick: () => result.again() }, t("charge.next")),
      h("p", {}, h("a", { href: "#/charges" }, t("nav.charges"))));
  } else {
    const extra = t(`decline.${result.err.slug}`);
    // Not enough money: the server says what is left for this service only when the client
    // presented their code or card (consent); by phone number only the way to find out.
    const left = result.err.problem?.available_cents;
    const short = result.err.slug === "insufficient-funds"
      ? h("p", { id: "decline-left" }, Number.isInteger(left) ? t("decline.available", { amount: money(left) }) : t("decline.checkBalance"))
      : null;
    nodes.push(h("div", { class: "notice notice--error", role: "alert" },
      h("p", { class: "outcome" }, result.err.title || t("error.generic.text")),
      h("p", {}, extra === `decline.${result.err.slug}` ? "" : extra), short),
      result.retry ? h("button", { class: "button button--wide", type: "button", onclick: result.retry }, t("charge.retry"))
        : h("button", { class: "button button--wide", type: "button", onclick: () => result.again() }, t("charge.next")));
  }
  main.replaceChildren(...nodes);
  heading.focus();
}

// A visit hold was made: remember it on this device, so check-out finds it.
function visitStarted(main, hold, info) {
  const kept = JSON.parse(localStorage.getItem(VISITS) || "[]").filter((v) => v.id !== hold.id);
  kept.unshift({ id: hold.id, lines: info.lines, name: info.cat.name, who: info.who });
  localStorage.setItem(VISITS, JSON.stringify(kept.slice(0, 50)));
  const heading = h("h1", { tabindex: "-1" }, t("visit.started"));
  main.replaceChildren(...[heading,
    info.giveBack ? h("p", { class: "notice" }, t("pin.giveBack")) : null,
    h("div", { class: "notice notice--ok", role: "status" },
      h("p", { class: "outcome" }, t("visit.held", { amount: money(hold.amount_cents) })),
      h("p", {}, t("visit.until", { time: time(hold.expires_at) }))),
    h("a", { class: "button button--wide", href: "#/visits" }, t("visit.list")),
    h("p", {}, h("a", { href: "#/charge/visit" }, t("visit.another")))].filter(Boolean));
  announce(t("visit.held", { amount: money(hold.amount_cents) }));
  heading.focus();
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
      outcome(main, { ok: true, charge: { total_cents: req.total_cents, client_share_cents: req.client_share_cents, lines: req.lines }, cat: ctx.cat, who: ctx.who, again: ctx.again });
    } else {
      outcome(main, { ok: false, err: { title: t(`request.${req.status}`), slug: `request-${req.status}` }, again: ctx.again });
    }
  };
  const check = async () => {
    // The provider left this screen (a new charge, another page): stop listening.
    if (!main.isConnected) { clearInterval(poll); off(); return; }
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

// The camera, explained before the browser asks: what it is for, that nothing is recorded, and
// that typing the code is always possible. The decoder is fetched only now (provider-scan.js,
// which loads the vendored qr-scanner only where BarcodeDetector is missing).
let camera = null;
function stopCamera() { camera?.stop(); camera = null; }

function explainCamera(area, { onResult, onManual }) {
  const open = h("button", { class: "button", type: "button" }, t("scan.open"));
  const manual = h("button", { class: "button button--secondary", type: "button", onclick: onManual }, t("scan.manual"));
  area.replaceChildren(
    h("div", { class: "notice", id: "scan-explain" },
      h("h2", {}, t("scan.title")),
      h("p", {}, t("scan.why")),
      h("p", {}, t("scan.private"))),
    open, manual);
  open.addEventListener("click", async () => {
    open.disabled = true;
    const status = h("p", { role: "status" }, t("scan.starting"));
    area.replaceChildren(status, manual);
    try {
      const { startScanner } = await import("./provider-scan.js");
      stopCamera();
      camera = await startScanner(area, {
        label: t("scan.videoLabel"),
        onResult: (text) => { if (onResult(text)) stopCamera(); },
      });
      status.textContent = t("scan.aim");
    } catch (err) {
      stopCamera();
      const why = err && err.name === "NotAllowedError" ? t("scan.denied") : t("scan.noCamera");
      area.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, why)), manual);
      manual.focus();
    }
  });
}
