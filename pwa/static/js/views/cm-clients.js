// Case manager: the clients of the county with a search by name or phone (#/clients, the case
// manager's home; phone numbers shown as "+358 40 123 4567"). A client's file (#/clients/ID)
// is cm-client-file.js: the list, a first screen, comes without its code (on a phone's first
// wave, some 5 KB less); app.js fetches it once the list is drawn.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { phone } from "../format.js";
import { t, tn } from "../i18n.js";

export async function render(main, params) {
  if (params[0]) return (await import("./cm-client-file.js")).render(main, params[0]);
  return renderList(main);
}

async function renderList(main) {
  const search = h("input", { id: "client-search", type: "search", autocomplete: "off" });
  const form = h("form", { role: "search", class: "search" },
    field({ id: "client-search", label: t("cm.clients.search"), hint: t("cm.clients.searchHint"), input: search }),
    h("button", { class: "button", type: "submit" }, t("cm.clients.find")));
  const results = h("div", { id: "client-results" });
  const count = h("p", { role: "status", class: "small" });
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.clients.title")),
    h("p", {}, h("a", { class: "button button--secondary", href: "#/clients/new" }, t("cm.clients.new")),
      " ", h("a", { class: "button button--secondary", href: "#/clients/import" }, t("cm.import.link"))),
    form, count, results));
  let shown = 0;
  // Only the latest request may draw: the first page of all clients, still on its way when a
  // search is sent, must not replace the search's results when it arrives after them.
  let latest = 0;
  async function load(cursor) {
    const mine = ++latest;
    const query = new URLSearchParams({ limit: "25" });
    if (search.value.trim()) query.set("q", search.value.trim());
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/api/clients?${query}`);
    if (mine !== latest) return;
    if (!cursor) { results.replaceChildren(); shown = 0; }
    results.querySelector(".more")?.remove();
    if (!page.items.length && !cursor) {
      results.append(h("p", {}, t("cm.clients.none")));
      count.textContent = t("cm.clients.none");
      return;
    }
    let list = results.querySelector("ul");
    if (!list) { list = h("ul", { class: "list card" }); results.append(list); }
    for (const c of page.items) list.append(h("li", {},
      h("span", {}, h("a", { href: `#/clients/${c.client_id}` }, `${c.last_name} ${c.first_name}`),
        h("span", { class: "small block phone" }, phone(c.phone))),
      c.closed_at ? h("span", { class: "tag closed" }, t("cm.clients.closed"))
        : h("span", { class: "small" }, c.has_passkey ? t("cm.clients.hasPasskey") : t("cm.clients.noPasskey"))));
    shown += page.items.length;
    count.textContent = tn("cm.clients.count", shown);
    if (page.next_cursor) {
      const more = h("button", { class: "button button--secondary more", type: "button" }, t("cm.more"));
      more.addEventListener("click", async () => {
        const before = list.children.length;
        await load(page.next_cursor);
        list.children[before]?.querySelector("a")?.focus();
      });
      results.append(more);
    }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await load(); } catch (err) { showErrors(form, [{ id: "client-search", message: err instanceof ApiError ? err.title : t("charge.err.offline") }]); }
  });
  await load();
}
