// A carer's clients: first the mandates that clients ask the carer to take on (who asks, what
// the carer could do, until when), to accept or decline; then everyone whose mandate is in
// force, what the carer may do for each, and a switch that makes one of them the client the
// other screens are about. A mandate that waits grants nothing until it is accepted.
import { api, ApiError } from "../api.js";
import { loadMe } from "../session.js";
import { announce, h } from "../dom.js";
import { date } from "../format.js";
import { t } from "../i18n.js";
import { SELECTED, carerMandates, choose } from "./client-context.js";

const ORDER = ["view", "approve", "manage-providers"];

export async function render(main, params, ctx) {
  const { state, go } = ctx;
  const [list, pending] = await Promise.all([
    carerMandates(state, { fresh: true }),
    state.me.role === "carer" ? api("/api/me/mandates/pending") : [],
  ]);
  main.append(h("h1", {}, t("carer.title")), h("div", { id: "supported-status" }));
  // After an answer: the wallets this person may see come from /api/me, so read it again.
  const redraw = async (message) => {
    await loadMe();
    main.replaceChildren();
    await render(main, params, ctx);
    const box = h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, message));
    main.querySelector("#supported-status").append(box);
    box.focus();
    announce(message);
  };
  if (pending.length) main.append(requests(pending, redraw));
  if (!list.length) {
    main.append(h("p", {}, t("carer.none")));
    return;
  }
  const current = list.find((m) => m.wallet_id === localStorage.getItem(SELECTED)) || list[0];
  if (pending.length) main.append(h("h2", {}, t("carer.inForce")));
  main.append(h("p", {}, t("carer.intro")));
  main.append(h("ul", { class: "list card people" }, list.map((m) => {
    const chosen = m === current;
    return h("li", { "data-client": m.client_id },
      h("span", {},
        h("strong", { class: "person" }, m.client_name),
        h("span", { class: "small block" }, t("carer.mayDo", { scopes: scopeNames(m.scopes).join(", ") })),
        m.valid_until ? h("span", { class: "small block" }, t("carer.until", { date: date(m.valid_until) })) : null,
        chosen ? h("span", { class: "tag" }, t("carer.chosen")) : null),
      h("button", {
        class: chosen ? "button button--secondary" : "button", type: "button",
        "aria-label": t("carer.chooseName", { name: m.client_name }),
        onclick: () => { choose(m.wallet_id); go(`#/wallet/${m.wallet_id}`); },
      }, t("carer.choose")));
  })));
}

function scopeNames(scopes) {
  return ORDER.filter((s) => scopes.includes(s)).map((s) => t(`scope.${s}`));
}

// The clients' requests, each with what accepting it would allow, and one answer per request.
function requests(pending, redraw) {
  return h("section", { class: "pending", "aria-labelledby": "pending-title" },
    h("h2", { id: "pending-title" }, t("carer.pendingTitle")),
    h("p", {}, t("carer.pendingIntro")),
    ...pending.map((m) => {
      const titleId = `pending-${m.client_id}`;
      const error = h("div", {});
      const answer = (how, done) => async (ev) => {
        const buttons = ev.currentTarget.parentElement.querySelectorAll("button");
        buttons.forEach((b) => { b.disabled = true; });
        try {
          await api(`/api/me/mandates/${m.client_id}/${how}`, { method: "POST", body: {} });
          await redraw(t(done, { name: m.client_name }));
        } catch (err) {
          buttons.forEach((b) => { b.disabled = false; });
          error.replaceChildren(h("div", { class: "notice notice--error", role: "alert" },
            h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
        }
      };
      return h("section", { class: "card", "aria-labelledby": titleId, "data-pending": m.client_id },
        h("h3", { id: titleId }, m.client_name),
        h("p", {}, t("carer.asks", { name: m.client_name })),
        h("ul", {}, scopeNames(m.scopes).map((s) => h("li", {}, s))),
        m.valid_until ? h("p", { class: "small" }, t("carer.until", { date: date(m.valid_until) })) : null,
        error,
        h("div", { class: "actions" },
          h("button", { class: "button", type: "button", "aria-label": t("carer.acceptName", { name: m.client_name }),
            onclick: answer("accept", "carer.accepted") }, t("carer.accept")),
          h("button", { class: "button button--secondary", type: "button", "aria-label": t("carer.declineName", { name: m.client_name }),
            onclick: answer("decline", "carer.declined") }, t("carer.decline"))));
    }));
}
