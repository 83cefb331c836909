// Case manager with the admin right: the organizer's case managers (#/staff). Invite one (with
// or without the admin right), give or take the admin right, remove one after a confirm step;
// the server keeps at least one admin and refuses removing oneself.
import { api } from "../api.js";
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
}
