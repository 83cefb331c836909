// Case manager with the admin right: the organizer's case managers (#/staff). Invite one (with
// or without the admin right), give or take the admin right, remove one after a confirm step;
// the server keeps at least one admin and refuses removing oneself. The other admin task, the
// organizer's webhooks for integrations (#/webhooks), is linked from here.
import { api } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { renderStaff } from "./staff-shared.js";

export async function render(main, _params, { state }) {
  await renderStaff(main, {
    state,
    title: t("staff.cm.title"),
    intro: t("staff.cm.intro"),
    inviteTitle: t("staff.cm.inviteTitle"),
    listTitle: t("staff.cm.listTitle"),
    listPath: "/api/staff",
    invitePath: "/api/staff",
    removePath: (id) => `/api/staff/${id}`,
    flag: "admin",
    flagLabel: t("staff.admin"),
    flagHint: t("staff.admin.hint"),
    toggle: (person, admin) => api(`/api/staff/${person.principal_id}`, { method: "PATCH", body: { admin } }),
  });
  main.querySelector(".desk")?.append(h("section", { class: "card no-print", "aria-labelledby": "staff-more-title" },
    h("h2", { id: "staff-more-title" }, t("webhooks.link")),
    h("p", {}, t("webhooks.link.hint")),
    h("p", {}, h("a", { href: "#/webhooks" }, t("webhooks.title")))));
}
