// Case manager: the county's audit trail (#/audit, or #/audit/CLIENT for one client's), newest
// first: who did or looked at what, and when. Filter by action (a prefix such as "wallet." or
// "mandate."); older entries page in with "Show more".
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { dateTime } from "../format.js";
import { t } from "../i18n.js";

// Prefixes the server matches (a name ending in "." matches every action that starts with it).
const ACTIONS = ["", "wallet.", "transactions.", "client.", "decision.", "card.", "checkout.", "provider.",
  "mandate.", "trusted_provider.", "invite.", "signin."];

export async function render(main, params) {
  const clientId = params[0] || null;
  const action = h("select", { id: "audit-action" }, ACTIONS.map((a) => h("option", { value: a }, a ? a.replace(/\.$/, "") : t("cm.audit.all"))));
  const form = h("form", { novalidate: true, class: "filters" },
    field({ id: "audit-action", label: t("cm.audit.action"), hint: t("cm.audit.actionHint"), input: action }),
    h("button", { class: "button", type: "submit" }, t("cm.reports.show")));
  const list = h("ul", { class: "list card audit" });
  const status = h("p", { role: "status", class: "small" });
  const more = h("button", { class: "button button--secondary", type: "button", hidden: true }, t("cm.more"));
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.audit.title")),
    clientId ? h("p", {}, t("cm.audit.oneClient"), " ", h("a", { href: "#/audit" }, t("cm.audit.everyone"))) : null,
    form, status, list, more));
  let last = null;
  let count = 0;
  async function load(older) {
    const q = new URLSearchParams({ limit: "50" });
    if (action.value) q.set("action", action.value);
    if (clientId) q.set("client_id", clientId);
    if (older && last) q.set("before_id", String(last));
    const rows = await api(`/api/audit?${q}`);
    if (!older) { list.replaceChildren(); count = 0; }
    for (const e of rows) list.append(entry(e));
    count += rows.length;
    last = rows.length ? rows[rows.length - 1].id : last;
    more.hidden = rows.length < 50;
    status.textContent = count ? t("cm.audit.count", { count }) : t("cm.audit.none");
    return rows.length;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await load(false); } catch (err) { showErrors(form, [{ id: "audit-action", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]); }
  });
  more.addEventListener("click", async () => {
    const before = list.children.length;
    await load(true);
    list.children[before]?.setAttribute("tabindex", "-1");
    list.children[before]?.focus();
  });
  await load(false);
}

function entry(e) {
  const known = t(`views.action.${e.action}`);
  return h("li", {},
    h("span", {},
      h("strong", {}, known === `views.action.${e.action}` ? e.action : known),
      h("span", { style: "display:block" }, e.actor_name ? `${e.actor_name}${e.actor_role ? ` (${t(`role.${e.actor_role}`)})` : ""}` : t("cm.audit.system")),
      e.subject_client_id ? h("a", { href: `#/clients/${e.subject_client_id}`, class: "small" }, t("cm.audit.client")) : null,
      e.detail ? h("span", { class: "small", style: "display:block" }, e.detail) : null),
    h("span", { class: "small" }, dateTime(e.created_at)));
}
