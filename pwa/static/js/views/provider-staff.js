// A provider's owner: the provider's staff (#/team). Invite one (optionally another owner) and
// remove one after a confirm step; the server refuses removing oneself or the last owner.
import { t } from "../i18n.js";
import { renderStaff } from "./staff-shared.js";

export async function render(main, _params, { state }) {
  await renderStaff(main, {
    state,
    title: t("staff.provider.title"),
    intro: t("staff.provider.intro"),
    inviteTitle: t("staff.provider.inviteTitle"),
    listTitle: t("staff.provider.listTitle"),
    listPath: "/api/providers/staff",
    invitePath: "/api/providers/staff",
    removePath: (id) => `/api/providers/staff/${id}`,
    flag: "owner",
    flagLabel: t("staff.owner"),
    flagHint: t("staff.owner.hint"),
    toggle: null,
  });
}
