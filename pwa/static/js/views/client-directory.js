// The provider directory: the county's approved providers per service, cheapest first, so prices
// can be compared; filtered by service, municipality and the language the provider serves in.
import { api } from "../api.js";
import { h } from "../dom.js";
import { money } from "../format.js";
import { field } from "../forms.js";
import { t, tn } from "../i18n.js";

const LANG_NAMES = { fi: "Suomi", sv: "Svenska", en: "English" };

function unitText(unit) {
  const key = `unit.${unit}`;
  const text = t(key);
  return text === key ? unit : text;
}

function query(filters) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `/api/directory?${s}` : "/api/directory";
}

export async function render(main) {
  const [categories, all] = await Promise.all([api("/api/categories"), api("/api/directory")]);
  const places = [...new Set(all.flatMap((e) => e.municipalities))].sort((a, b) => a.localeCompare(b, "fi"));
  const service = h("select", { id: "dir-service", name: "category" },
    h("option", { value: "" }, t("directory.allServices")),
    categories.map((c) => h("option", { value: c.code }, c.name)));
  const place = h("select", { id: "dir-place", name: "municipality" },
    h("option", { value: "" }, t("directory.allPlaces")),
    places.map((m) => h("option", { value: m }, m)));
  const lang = h("select", { id: "dir-lang", name: "language" },
    h("option", { value: "" }, t("directory.allLanguages")),
    Object.entries(LANG_NAMES).map(([code, name]) => h("option", { value: code, lang: code }, name)));
  const results = h("div", { id: "dir-results" });
  const count = h("p", { id: "dir-count", role: "status", class: "outcome" });
  const form = h("form", { novalidate: true, class: "card filters", "aria-labelledby": "dir-filter-title" },
    h("h2", { id: "dir-filter-title" }, t("directory.filter")),
    field({ id: "dir-service", label: t("directory.service"), input: service }),
    field({ id: "dir-place", label: t("directory.place"), hint: places.length ? null : t("directory.noPlaces"), input: place }),
    field({ id: "dir-lang", label: t("directory.language"), input: lang }),
    h("button", { class: "button", type: "submit" }, t("directory.show")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const rows = await api(query({ category: service.value, municipality: place.value, language: lang.value }));
    draw(rows);
  });
  function draw(rows) {
    count.textContent = rows.length ? tn("directory.count", rows.length) : t("directory.none");
    // Grouped per service, in the catalogue's order; inside a service the API's order: cheapest first.
    const groups = new Map();
    for (const e of rows) {
      if (!groups.has(e.category)) groups.set(e.category, []);
      groups.get(e.category).push(e);
    }
    const order = categories.map((c) => c.code).filter((code) => groups.has(code));
    for (const code of groups.keys()) if (!order.includes(code)) order.push(code);
    results.replaceChildren(...order.map((code) => {
      const list = groups.get(code);
      const titleId = `dir-${code}`;
      return h("section", { "aria-labelledby": titleId, "data-category": code },
        h("h2", { id: titleId }, list[0].category_name),
        h("ol", { class: "list card offers" }, list.map((e) => h("li", { "data-provider": e.provider_id },
          h("span", {},
            h("strong", { class: "person" }, e.provider_name),
            e.municipalities.length ? h("span", { class: "small block" }, t("directory.serves", { places: e.municipalities.join(", ") })) : null,
            h("span", { class: "small block" }, t("directory.languages", { langs: e.languages.map((l) => LANG_NAMES[l] || l).join(", ") })),
            e.contact_phone ? h("span", { class: "block" }, h("a", { href: `tel:${e.contact_phone.replace(/\s/g, "")}` }, t("directory.call", { phone: e.contact_phone }))) : null),
          h("span", { class: "amount price" }, t("directory.price", { amount: money(e.unit_price_cents), unit: unitText(e.unit) }))))));
    }));
  }
  main.append(h("h1", {}, t("directory.title")), h("p", {}, t("directory.intro")), form, count, results);
  draw(all);
}
