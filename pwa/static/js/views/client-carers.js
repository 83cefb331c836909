// The client's carers and what each may do: see the budget, approve payments, choose trusted
// providers; until when. Change or end a mandate, and invite a new carer (a one-time code, a
// link and a QR code to give them). Only the client (or a case manager) does this. A mandate
// to someone who is already a carer waits for that carer to accept it: it is shown apart,
// as waiting, and can be withdrawn.
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { date } from "../format.js";
import { field, showErrors } from "../forms.js";
import { t } from "../i18n.js";

const SCOPES = ["view", "approve", "manage-providers"];
const TITLE = "carers.title";

export async function render(main, params, ctx) {
  const me = ctx.state.me;
  if (me.role !== "client" || !me.client_id) {
    main.append(h("h1", {}, t(TITLE)), h("p", { class: "notice" }, t("carers.clientOnly")));
    return;
  }
  const base = `/api/clients/${me.client_id}/mandates`;
  const status = h("div", { id: "carers-status" });
  const list = h("div", { id: "carers-list" });
  main.append(h("h1", {}, t(TITLE)), h("p", {}, t("carers.intro")), status, list);
  const redraw = async (message) => {
    main.replaceChildren();
    await render(main, params, ctx);
    const box = h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, message));
    main.querySelector("#carers-status").append(box);
    box.focus();
    announce(message);
  };
  // The list alone is read again after an invite, so the invite's code stays on screen.
  const drawList = async () => {
    const mandates = await api(base);
    const active = mandates.filter((m) => m.status === "active");
    const waiting = mandates.filter((m) => m.status === "pending");
    const ended = mandates.filter((m) => m.status === "ended" || m.status === "declined");
    list.replaceChildren(...[
      active.length || waiting.length ? null : h("p", {}, t("carers.none")),
      ...active.map((m) => carerCard(m, base, status, redraw)),
      waiting.length ? h("h2", {}, t("carers.waiting")) : null,
      ...waiting.map((m) => waitingCard(m, base, status, redraw)),
      ended.length ? h("h2", {}, t("carers.ended")) : null,
      ended.length ? h("ul", { class: "list card" }, ended.map((m) => h("li", {}, h("span", {}, m.carer_name),
        h("span", { class: "small" }, endedText(m))))) : null,
    ].filter(Boolean));
  };
  await drawList();
  main.append(inviteForm(me.client_id, drawList));
}

function endedText(m) {
  if (m.status === "declined") return t("carers.declined");
  return m.valid_until ? t("carers.endedOn", { date: date(m.valid_until) }) : t("carers.endedNow");
}

// A mandate the carer has not accepted yet: what was asked, and a way to take the request back.
function waitingCard(m, base, status, redraw) {
  const titleId = `waiting-${m.carer_id}`;
  const withdraw = h("button", { class: "button button--secondary", type: "button", "aria-label": t("carers.withdrawName", { name: m.carer_name }) }, t("carers.withdraw"));
  withdraw.addEventListener("click", async () => {
    withdraw.disabled = true;
    try {
      await api(`${base}?carer_id=${encodeURIComponent(m.carer_id)}`, { method: "DELETE" });
      await redraw(t("carers.withdrawn", { name: m.carer_name }));
    } catch (err) {
      withdraw.disabled = false;
      status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" },
        h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
    }
  });
  return h("section", { class: "card", "aria-labelledby": titleId, "data-waiting": m.carer_id },
    h("h3", { id: titleId }, m.carer_name, " ", h("span", { class: "tag" }, t("carers.waitingTag"))),
    h("p", {}, t("carers.waitingText", { name: m.carer_name })),
    h("p", { class: "small" }, t("carers.asked", { scopes: SCOPES.filter((s) => m.scopes.includes(s)).map((s) => t(`scope.${s}`)).join(", ") })),
    m.valid_until ? h("p", { class: "small" }, t("carers.validUntil", { date: date(m.valid_until) })) : null,
    h("div", { class: "actions" }, withdraw));
}

function scopeBoxes(prefix, chosen) {
  return h("div", { class: "choices" }, SCOPES.map((s) => h("label", { class: "choice", for: `${prefix}-${s}` },
    h("input", { type: "checkbox", id: `${prefix}-${s}`, value: s, checked: chosen.includes(s) || null }),
    h("span", {}, t(`scope.${s}`), h("span", { class: "small" }, t(`scope.${s}.hint`))))));
}

function readScopes(form, prefix) {
  return SCOPES.filter((s) => form.querySelector(`#${prefix}-${s}`).checked);
}

// Dates are typed as dd.mm.yyyy (or picked); the API wants yyyy-mm-dd. Empty: no end date.
function dateInput(id, value) {
  return h("input", { id, name: id, type: "date", value: value || "" });
}

function carerCard(m, base, status, redraw) {
  const titleId = `carer-${m.carer_id}`;
  const prefix = `scopes-${m.carer_id.slice(0, 8)}`;
  const untilId = `until-${m.carer_id.slice(0, 8)}`;
  const form = h("form", { novalidate: true });
  const until = dateInput(untilId, m.valid_until);
  form.append(
    h("fieldset", { "data-field": prefix }, h("legend", {}, t("carers.mayDo", { name: m.carer_name })), scopeBoxes(prefix, m.scopes)),
    field({ id: untilId, label: t("carers.until"), hint: t("carers.untilHint"), input: until }),
    h("button", { class: "button", type: "submit" }, t("carers.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const scopes = readScopes(form, prefix);
    if (!scopes.length) return showErrors(form, [{ id: `${prefix}-view`, message: t("carers.err.scopes") }]);
    try {
      await api(base, { method: "PUT", body: { carer_id: m.carer_id, scopes, valid_until: until.value || null } });
      await redraw(t("carers.saved", { name: m.carer_name }));
    } catch (err) {
      showErrors(form, [{ id: untilId, message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    }
  });
  const end = h("button", { class: "button button--secondary", type: "button", "aria-label": t("carers.endName", { name: m.carer_name }) }, t("carers.end"));
  const actions = h("div", { class: "actions" }, end);
  end.addEventListener("click", () => {
    const confirm = h("button", { class: "button button--warning", type: "button" }, t("carers.confirmEnd", { name: m.carer_name }));
    const keep = h("button", { class: "button button--secondary", type: "button" }, t("carers.keep"));
    actions.replaceChildren(confirm, keep);
    confirm.focus();
    keep.addEventListener("click", () => { actions.replaceChildren(end); end.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api(`${base}?carer_id=${encodeURIComponent(m.carer_id)}`, { method: "DELETE" });
        await redraw(t("carers.endedDone", { name: m.carer_name }));
      } catch (err) {
        confirm.disabled = false;
        status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" },
          h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
      }
    });
  });
  return h("section", { class: "card", "aria-labelledby": titleId, "data-carer": m.carer_id },
    h("h2", { id: titleId }, m.carer_name),
    m.valid_until ? h("p", { class: "small" }, t("carers.validUntil", { date: date(m.valid_until) })) : null,
    form, actions);
}

function inviteForm(clientId, invited) {
  const name = h("input", { id: "carer-name", name: "carer-name", type: "text", autocomplete: "off" });
  const until = dateInput("carer-until", "");
  const out = h("div", {});
  const form = h("form", { novalidate: true, class: "card" },
    h("h2", {}, t("carers.inviteTitle")),
    h("p", {}, t("carers.inviteIntro")),
    field({ id: "carer-name", label: t("carers.name"), hint: t("carers.nameHint"), input: name }),
    h("fieldset", { "data-field": "new-scopes" }, h("legend", {}, t("carers.newMayDo")), scopeBoxes("new-scopes", ["view", "approve"])),
    field({ id: "carer-until", label: t("carers.until"), hint: t("carers.untilHint"), input: until }),
    h("button", { class: "button", type: "submit" }, t("carers.invite")),
    out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errors = [];
    if (!name.value.trim()) errors.push({ id: "carer-name", message: t("carers.err.name") });
    const scopes = readScopes(form, "new-scopes");
    if (!scopes.length) errors.push({ id: "new-scopes-view", message: t("carers.err.scopes") });
    if (errors.length) return showErrors(form, errors);
    showErrors(form, []);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const issued = await api(`/api/clients/${clientId}/carers`, { method: "POST", body: {
        display_name: name.value.trim(), scopes, valid_until: until.value || null,
      } });
      out.replaceChildren(h("section", { class: "invite notice notice--ok", "aria-labelledby": "carer-invite-title" },
        h("h3", { id: "carer-invite-title", tabindex: "-1" }, t("invite.for", { name: issued.display_name })),
        h("p", {}, t("carers.inviteHowto")),
        h("p", { class: "total" }, h("span", { class: "visually-hidden" }, `${t("invite.code")}: `), issued.code),
        h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(issued.qr_svg)}`, alt: t("invite.qrAlt"), width: 220, height: 220 }),
        h("p", { class: "small" }, t("invite.expires", { date: date(issued.expires_at) }))));
      await invited().catch(() => {});
      out.querySelector("h3").focus();
      announce(t("invite.for", { name: issued.display_name }));
    } catch (err) {
      showErrors(form, [{ id: "carer-name", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
