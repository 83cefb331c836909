// Case manager: the county's audit trail (#/audit, or #/audit/CLIENT for one client's), newest
// first: who did or looked at what, and when, each entry a sentence in the UI language with
// the names the server resolved (the actor, the client, the provider, the other person, the
// card). Filter by kind of action (a prefix such as "wallet." or "mandate."); older entries
// page in with "Show more", which is in the page only while there may be more.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { dateTime } from "../format.js";
import { t, tn } from "../i18n.js";

// Prefixes the server matches (a name ending in "." matches every action that starts with it).
const ACTIONS = ["", "wallet.", "transactions.", "statement.", "client.", "data_export.", "decision.", "card.", "checkout.", "provider.",
  "mandate.", "trusted_provider.", "invite.", "signin.", "passkey.", "staff.", "webhook.", "sms.", "charge.", "organizer."];
const PAGE = 50;

export async function render(main, params) {
  const clientId = params[0] || null;
  const action = h("select", { id: "audit-action" }, ACTIONS.map((a) =>
    h("option", { value: a }, a ? t(`cm.audit.filter.${a.replace(/\.$/, "")}`) : t("cm.audit.all"))));
  const form = h("form", { novalidate: true, class: "filters" },
    field({ id: "audit-action", label: t("cm.audit.action"), hint: t("cm.audit.actionHint"), input: action }),
    h("button", { class: "button", type: "submit" }, t("cm.reports.show")));
  const list = h("ul", { class: "list card audit" });
  const status = h("p", { role: "status", class: "small" });
  const more = h("button", { class: "button button--secondary more", type: "button" }, t("cm.more"));
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.audit.title")),
    clientId ? h("p", {}, t("cm.audit.oneClient"), " ", h("a", { href: "#/audit" }, t("cm.audit.everyone"))) : null,
    form, status, list));
  let last = null;
  let count = 0;
  async function load(older) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (action.value) q.set("action", action.value);
    if (clientId) q.set("client_id", clientId);
    if (older && last) q.set("before_id", String(last));
    const rows = await api(`/api/audit?${q}`);
    if (!older) { list.replaceChildren(); count = 0; }
    for (const e of rows) list.append(entry(e, clientId));
    count += rows.length;
    last = rows.length ? rows[rows.length - 1].id : last;
    // A full page may have more behind it; a short one is the end. The button leaves the page
    // (not just hidden), so no stylesheet can leave a dead one behind.
    if (rows.length < PAGE) more.remove(); else list.after(more);
    status.textContent = count ? tn("cm.audit.count", count) : t("cm.audit.none");
    return rows.length;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await load(false); } catch (err) { showErrors(form, [{ id: "audit-action", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]); }
  });
  more.addEventListener("click", async () => {
    const before = list.children.length;
    await load(true);
    const next = list.children[before] || list.lastElementChild;
    next?.setAttribute("tabindex", "-1");
    next?.focus();
  });
  await load(false);
}

// One entry as a sentence: "Liisa Ohjaaja avasi asiakkaan Aino Virtanen tiedot."
export function sentence(e) {
  const unknown = t("cm.audit.unknown");
  const vars = {
    actor: e.actor_name || t("cm.audit.system"),
    client: e.client_name || unknown,
    provider: e.provider_name || unknown,
    person: e.person_name || unknown,
    card: e.card_number || "",
  };
  const key = `cm.audit.say.${e.action}`;
  const text = t(key, vars);
  return text === key ? t("cm.audit.say.other", vars) : text;
}

function entry(e, oneClient) {
  const who = e.actor_role ? t(`role.${e.actor_role}`) : null;
  return h("li", { "data-action": e.action },
    h("span", {},
      h("span", { class: "subject block" }, sentence(e)),
      h("span", { class: "small block" }, [dateTime(e.created_at), who].filter(Boolean).join(" · ")),
      e.subject_client_id && !oneClient
        ? h("a", { href: `#/clients/${e.subject_client_id}`, class: "small" }, t("cm.audit.clientFile", { client: e.client_name || t("cm.audit.unknown") }))
        : null));
}
