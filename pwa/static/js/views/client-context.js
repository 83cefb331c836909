// Whose money a client's or carer's screen is about. A client: their own wallet. A carer: the
// client chosen in the switch (kept on this device), with the scopes of that mandate, so each
// screen shows only what the mandate allows (the server checks again on every call).
import { api } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

export const SELECTED = "wallet.selected";

// The carer's live mandates, read once per person and page load (or again when asked).
let cached = { who: null, list: null };

export async function carerMandates(state, { fresh = false } = {}) {
  if (fresh || cached.who !== state.me.principal_id || !cached.list) {
    cached = { who: state.me.principal_id, list: await api("/api/me/mandates") };
  }
  return cached.list.filter((m) => m.active && m.wallet_id);
}

export function choose(walletId) { localStorage.setItem(SELECTED, walletId); }

// {mine, walletId, clientId, name, scopes} or null when there is nobody to show.
export async function subject(state, walletId = null) {
  const me = state.me;
  if (me.role === "client") {
    return {
      mine: true, walletId: (me.wallets || [])[0] || null, clientId: me.client_id, name: me.display_name,
      scopes: ["view", "approve", "manage-providers"],
    };
  }
  if (me.role !== "carer") return null;
  const list = await carerMandates(state);
  const wanted = walletId || localStorage.getItem(SELECTED);
  const m = list.find((x) => x.wallet_id === wanted) || list[0];
  if (!m) return null;
  return { mine: false, walletId: m.wallet_id, clientId: m.client_id, name: m.client_name, scopes: m.scopes };
}

// The first lines of a client's screen: its title, and for a carer whose client it is about.
export function heading(who, titleKey) {
  const nodes = [h("h1", {}, t(titleKey))];
  if (!who.mine) {
    nodes.push(h("p", { class: "subject" }, t("carer.about", { name: who.name }), " ",
      h("a", { href: "#/supported" }, t("carer.switchLink"))));
  }
  return nodes;
}

// A plain "you may not see this" for a carer whose mandate does not reach this screen.
export function notAllowed(main, who, titleKey) {
  main.append(...heading(who, titleKey), h("p", { class: "notice" }, t("carer.notAllowed")));
}

export function nobody(main, titleKey) {
  main.append(h("h1", {}, t(titleKey)), h("p", {}, t("carer.none")));
}
