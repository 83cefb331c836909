// A client's passkey invite: shared by the new-client flow (clients.js) and the client file
// (cm-clients.js), in a module of its own so neither imports the other.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { date } from "../format.js";
import { t } from "../i18n.js";

// An invite for the client to make a passkey: a one-time code and its QR, to print or show.
// Returns the button that makes it and the place where it appears.
export function inviteBlock(clientId) {
  const invite = h("div", {});
  const make = h("button", { class: "button button--wide no-print", type: "button" }, t("invite.create"));
  make.addEventListener("click", async () => {
    make.disabled = true;
    try {
      const issued = await api("/api/invites", { method: "POST", body: { client_id: clientId } });
      invite.replaceChildren(inviteCard(issued));
      make.remove();
      invite.querySelector("h2").focus();
    } catch (err) {
      make.disabled = false;
      invite.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
    }
  });
  return [make, invite];
}

// An issued invite as a card to print or show: the code, its QR and when it expires.
export function inviteCard(issued, id = "invite-title") {
  return h("section", { class: "card invite", "aria-labelledby": id },
    h("h2", { id, tabindex: "-1" }, t("invite.for", { name: issued.display_name })),
    h("p", {}, t("invite.howto")),
    h("p", { class: "total" }, h("span", { class: "visually-hidden" }, `${t("invite.code")}: `), issued.code),
    h("img", { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(issued.qr_svg)}`, alt: t("invite.qrAlt"), width: 220, height: 220 }),
    h("p", { class: "small" }, t("invite.expires", { date: date(issued.expires_at) })),
    h("button", { class: "button button--secondary no-print", type: "button", onclick: () => window.print() }, t("invite.print")));
}
