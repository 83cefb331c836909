// Case manager: a client's file (#/clients/ID): decisions, the wallet, invites (print), SMS
// (cm-sms.js) and QR cards (issue, print, revoke, unlock), and closing the account once its
// decisions have ended (issue 19; two steps, the server refuses while a decision is in force).
// Opening a file is recorded in the audit trail by the server. The list is cm-clients.js.
import { api, ApiError, headers } from "../api.js";
import { announce, h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { date, dateTime, money, phone } from "../format.js";
import { currentLang, t, tn } from "../i18n.js";
import { inviteBlock, inviteCard } from "./client-invite.js";
import { smsSection } from "./cm-sms.js";

export async function render(main, clientId) {
  const id = encodeURIComponent(clientId);
  const [file, categories, mandates] = await Promise.all([api(`/api/clients/${id}`), api("/api/categories"), api(`/api/clients/${id}/mandates`).catch(() => [])]);
  const names = Object.fromEntries(categories.map((x) => [x.code, x.name]));
  const c = file.client;
  const [make, invite] = inviteBlock(c.client_id);
  const active = mandates.filter((m) => m.active);
  const texts = await smsSection(c, active);
  main.append(h("div", { class: "desk" },
    h("h1", {}, `${c.first_name} ${c.last_name}`),
    c.closed_at ? h("div", { class: "notice client-closed" }, h("p", {}, t("cm.client.closed", { date: date(c.closed_at) }))) : null,
    h("dl", { class: "facts card" },
      fact(t("clients.phone"), phone(c.phone)),
      fact(t("clients.language"), { fi: "Suomi", sv: "Svenska", en: "English" }[c.language] || c.language),
      fact(t("cm.client.since"), date(c.created_at)),
      fact(t("cm.client.passkey"), c.has_passkey ? t("cm.yes") : t("cm.no"))),
    h("p", { class: "no-print" },
      h("a", { class: "button button--secondary", href: `#/wallet/${c.wallet_id}` }, t("clients.viewWallet")),
      h("a", { class: "button button--secondary", href: `#/clients/${c.client_id}/${c.wallet_id}/decision` }, t("cm.client.newDecision")),
      h("a", { class: "button button--secondary", href: `#/audit/${c.client_id}` }, t("cm.client.audit")),
      // The client's right of access, asked of the county: the server records the download.
      h("a", { class: "button button--secondary", href: `/api/clients/${id}/export`, download: true }, t("cm.client.export")),
      h("a", { class: "button button--secondary", href: `/api/clients/${id}/export?format=html&lang=${currentLang()}`, target: "_blank", rel: "noopener" }, t("cm.client.exportPrint"))),
    h("section", { "aria-labelledby": "decisions-title" },
      h("h2", { id: "decisions-title" }, t("cm.client.decisions")),
      file.decisions.length ? file.decisions.map((d) => decision(d, names)) : h("p", {}, t("cm.client.noDecisions"))),
    h("section", { "aria-labelledby": "invites-title", class: "no-print-siblings" },
      h("h2", { id: "invites-title" }, t("cm.client.invites")),
      file.invites.length ? h("ul", { class: "list card" }, file.invites.map((i) => h("li", {},
        h("span", {}, dateTime(i.created_at), h("span", { class: "small", style: "display:block" }, t("invite.expires", { date: date(i.expires_at) }))),
        h("span", { class: "tag" }, t(`cm.invite.${i.status}`))))) : h("p", {}, t("cm.client.noInvites")),
      make, invite),
    c.closed_at ? null : recoverySection(c, active),
    c.closed_at ? null : texts,
    cardsSection(file.cards, c),
    c.closed_at ? null : closeSection(c)));
}

// Closing the account: the money left goes back to the county and every way to pay or sign in
// as the client ends, for good. Two steps; one Idempotency-Key per confirmation, so a double
// click or a retry after a lost answer closes once.
function closeSection(c) {
  const start = h("button", { class: "button button--warning", type: "button" }, t("cm.close.start"));
  const actions = h("div", { class: "actions" }, start);
  const out = h("div", {});
  start.addEventListener("click", () => {
    const key = crypto.randomUUID();
    const name = `${c.first_name} ${c.last_name}`;
    const confirm = h("button", { class: "button button--warning", type: "button", "aria-describedby": "close-warning" }, t("cm.close.confirm"));
    const cancel = h("button", { class: "button button--secondary", type: "button" }, t("cm.close.cancel"));
    actions.replaceChildren(h("p", { id: "close-warning" }, t("cm.close.warning", { name })), confirm, cancel);
    confirm.focus();
    cancel.addEventListener("click", () => { actions.replaceChildren(start); out.replaceChildren(); start.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const done = await api(`/api/clients/${encodeURIComponent(c.client_id)}/close`, { method: "POST", body: {}, idempotencyKey: key });
        const message = t("cm.close.done", { amount: money(done.expired_cents) });
        actions.replaceChildren();
        out.replaceChildren(h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, message)));
        out.firstChild.focus();
        announce(message);
      } catch (err) {
        confirm.disabled = false;
        out.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
      }
    });
  });
  return h("section", { "aria-labelledby": "close-title", class: "no-print close-account" },
    h("h2", { id: "close-title" }, t("cm.close.title")),
    h("p", {}, t("cm.close.intro")), actions, out);
}

// A lost phone: a recovery invite for the client (or one of their carers) signs that person
// out everywhere at once (passkeys, sessions, API keys, notifications on the old phone) and
// lets them make a new passkey. Two steps, since it ends every device of theirs.
function recoverySection(c, carers) {
  const people = [{ key: "client", name: `${c.first_name} ${c.last_name}`, body: { client_id: c.client_id } },
    ...carers.map((m) => ({ key: m.carer_id, name: m.carer_name, body: { principal_id: m.carer_id } }))];
  const out = h("div", {});
  return h("section", { "aria-labelledby": "recovery-title", class: "no-print-siblings" },
    h("h2", { id: "recovery-title" }, t("recovery.title")),
    h("p", {}, t("recovery.intro")),
    h("ul", { class: "list card" }, people.map((p) => recoveryRow(p, out))), out);
}

function recoveryRow(person, out) {
  const start = h("button", { class: "button button--secondary no-print", type: "button", "aria-label": t("recovery.issueFor", { name: person.name }) }, t("recovery.issue"));
  const actions = h("span", { class: "actions" }, start);
  const row = h("li", { "data-recovery": person.key }, h("span", {}, h("strong", { class: "person" }, person.name)), actions);
  start.addEventListener("click", () => {
    const confirm = h("button", { class: "button button--warning", type: "button" }, t("recovery.confirm", { name: person.name }));
    const cancel = h("button", { class: "button button--secondary", type: "button" }, t("recovery.cancel"));
    actions.replaceChildren(h("span", { class: "small block", id: `recovery-warn-${person.key}` }, t("recovery.warning", { name: person.name })), confirm, cancel);
    confirm.setAttribute("aria-describedby", `recovery-warn-${person.key}`);
    confirm.focus();
    cancel.addEventListener("click", () => { actions.replaceChildren(start); start.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        const issued = await api("/api/invites", { method: "POST", body: { ...person.body, revoke_passkeys: true } });
        actions.replaceChildren(h("span", { class: "tag" }, t("recovery.done")));
        out.replaceChildren(inviteCard(issued, `recovery-invite-${person.key}`));
        out.querySelector("h2").focus();
        announce(t("recovery.done"));
      } catch (err) {
        confirm.disabled = false;
        out.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
      }
    });
  });
  return row;
}

function decision(d, names) {
  const range = d.valid_to ? t("cm.decision.range", { from: date(d.valid_from), to: date(d.valid_to) }) : t("cm.decision.from", { from: date(d.valid_from) });
  return h("div", { class: "card" },
    h("h3", {}, range),
    h("ul", { class: "list" }, d.lines.map((l) => h("li", {},
      h("span", {}, l.label, h("span", { class: "small", style: "display:block" }, l.categories.map((code) => names[code] || code).join(", "))),
      h("span", { class: "amount" }, t("cm.decision.monthly", { amount: money(l.monthly_amount_cents) }))))),
    d.carry_over === "capped" ? h("p", { class: "small" }, t("cm.decision.carry", { amount: money(d.carry_over_cap_cents) })) : null);
}

// QR cards: one live card per wallet (issuing a new one revokes the old). The PIN is set
// with the client present, at issue; five wrong PINs lock the card until it is unlocked here.
function cardsSection(cards, client) {
  const section = h("section", { "aria-labelledby": "cards-title", class: "no-print" });
  const status = h("div", { role: "status" });
  const list = h("ul", { class: "list card" });
  const draw = (items) => {
    list.replaceChildren(...items.map((card) => cardRow(card, status, redraw)));
    list.hidden = !items.length;
  };
  let current = cards;
  const redraw = async (changed) => {
    current = [changed, ...current.filter((x) => x.card_id !== changed.card_id && x.card_id !== changed.id)];
    draw(current.map((x) => ({ ...x, card_id: x.card_id || x.id })));
  };
  draw(current);
  const pin = h("input", { id: "card-pin", type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "6", class: "input-short" });
  const form = h("form", { novalidate: true, class: "card" },
    h("h3", {}, t("cm.card.issue")),
    h("p", {}, t("cm.card.issueIntro")),
    field({ id: "card-pin", label: t("cm.card.pin"), hint: t("cm.card.pinHint"), input: pin }),
    h("button", { class: "button", type: "submit" }, t("cm.card.issueButton")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (pin.value && !/^\d{4,6}$/.test(pin.value)) return showErrors(form, [{ id: "card-pin", message: t("pin.err.format") }]);
    // One tap, one card: a second card would revoke the first.
    const issue = form.querySelector("button[type=submit]");
    if (issue.disabled) return;
    issue.disabled = true;
    try {
      const card = await api(`/api/wallets/${client.wallet_id}/cards`, { method: "POST", body: pin.value ? { pin: pin.value } : {} });
      pin.value = "";
      // Issuing revokes the earlier cards: show them as revoked without another request.
      current = current.map((x) => ({ ...x, status: x.status === "revoked" ? x.status : "revoked" }));
      await redraw({ ...card, card_id: card.id, created_at: new Date().toISOString() });
      section.querySelector(".no-cards")?.remove();
      status.textContent = t("cm.card.issued", { number: card.card_number });
    } catch (err) {
      showErrors(form, [{ id: "card-pin", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    } finally {
      issue.disabled = false;
    }
  });
  section.append(h("h2", { id: "cards-title" }, t("cm.client.cards")), status);
  if (!cards.length) section.append(h("p", { class: "no-cards" }, t("cm.client.noCards")));
  section.append(list, form);
  return section;
}

function cardRow(card, status, redraw) {
  const act = (action) => async (ev) => {
    ev.target.disabled = true;
    try {
      const changed = await api(`/api/cards/${card.card_id}/${action}`, { method: "POST", body: {} });
      await redraw({ ...card, ...changed, card_id: card.card_id });
      status.textContent = t(`cm.card.${action}Done`, { number: card.card_number });
      announce(status.textContent);
    } catch (err) {
      ev.target.disabled = false;
      status.textContent = err instanceof ApiError ? err.title : t("charge.err.offline");
    }
  };
  const print = async () => {
    // The print page needs the same credentials as the API: fetch it, then open it.
    const res = await fetch(`/api/cards/${card.card_id}/print`, { headers: headers({ Accept: "text/html" }), credentials: "same-origin" });
    const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html" }));
    window.open(url, "_blank", "noopener");
  };
  return h("li", {},
    h("span", {}, h("span", { class: "mono" }, card.card_number),
      h("span", { class: "small", style: "display:block" },
        [t(`cm.card.status.${card.status}`), card.has_pin ? t("cm.card.hasPin") : t("cm.card.noPin"),
          card.failed_attempts ? tn("cm.card.failed", card.failed_attempts) : null].filter(Boolean).join(" · "))),
    h("span", {},
      card.status !== "revoked" ? h("button", { class: "button button--secondary", type: "button", onclick: print, "aria-label": `${t("cm.card.print")} ${card.card_number}` }, t("cm.card.print")) : null,
      card.status === "locked" ? h("button", { class: "button", type: "button", onclick: act("unlock"), "aria-label": `${t("cm.card.unlock")} ${card.card_number}` }, t("cm.card.unlock")) : null,
      card.status !== "revoked" ? h("button", { class: "button button--warning", type: "button", onclick: act("revoke"), "aria-label": `${t("cm.card.revoke")} ${card.card_number}` }, t("cm.card.revoke")) : null));
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}
