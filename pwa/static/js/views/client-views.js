// "Who has looked at my data": everyone other than the client who opened their budget, movements
// or carers, and when — newest first, older ones a page at a time. For the client, and for a
// carer whose mandate includes `view`.
import { api } from "../api.js";
import { h } from "../dom.js";
import { dateTime } from "../format.js";
import { t } from "../i18n.js";
import { heading, nobody, notAllowed, subject } from "./client-context.js";

const TITLE = "views.title";
const PAGE = 20;

function what(action) {
  const key = `views.action.${action}`;
  const text = t(key);
  return text === key ? t("views.action.other") : text;
}

function who(entry) {
  const role = entry.actor_role ? t(`role.${entry.actor_role}`) : null;
  if (!entry.actor_name) return t("views.system");
  return role && role !== `role.${entry.actor_role}` ? `${entry.actor_name} (${role})` : entry.actor_name;
}

export async function render(main, params, ctx) {
  const subj = await subject(ctx.state, params[0]);
  if (!subj || !subj.clientId) return nobody(main, TITLE);
  if (!subj.scopes.includes("view")) return notAllowed(main, subj, TITLE);
  const base = `/api/clients/${subj.clientId}/views?limit=${PAGE}`;
  const first = await api(base);
  main.append(...heading(subj, TITLE), h("p", {}, t(subj.mine ? "views.intro" : "views.introFor", { name: subj.name })));
  if (!first.length) {
    main.append(h("p", {}, t("views.none")));
    return;
  }
  const list = h("ol", { class: "list card", id: "views-list" });
  const more = h("button", { class: "button button--secondary", type: "button" }, t("views.more"));
  const add = (rows) => {
    for (const e of rows) {
      list.append(h("li", { "data-entry": e.id },
        h("span", {}, h("strong", { class: "person" }, who(e)), h("span", { class: "small block" }, what(e.action))),
        h("span", { class: "small when" }, dateTime(e.created_at))));
    }
    if (rows.length < PAGE) more.remove();
  };
  more.addEventListener("click", async () => {
    const last = list.lastElementChild?.dataset.entry;
    more.disabled = true;
    try {
      const rows = await api(`${base}&before_id=${last}`);
      const firstNew = list.children.length;
      add(rows);
      // Keep the keyboard where the new rows start, or on the list if there were none.
      const target = list.children[firstNew];
      if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
    } finally {
      more.disabled = false;
    }
  });
  main.append(list, more);
  add(first);
}
