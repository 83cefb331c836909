// A carer's clients: everyone whose mandate is in force, what the carer may do for each, and a
// switch that makes one of them the client the other screens are about.
import { h } from "../dom.js";
import { date } from "../format.js";
import { t } from "../i18n.js";
import { SELECTED, carerMandates, choose } from "./client-context.js";

const ORDER = ["view", "approve", "manage-providers"];

export async function render(main, _params, { state, go }) {
  const list = await carerMandates(state, { fresh: true });
  main.append(h("h1", {}, t("carer.title")));
  if (!list.length) {
    main.append(h("p", {}, t("carer.none")));
    return;
  }
  const current = list.find((m) => m.wallet_id === localStorage.getItem(SELECTED)) || list[0];
  main.append(h("p", {}, t("carer.intro")));
  main.append(h("ul", { class: "list card people" }, list.map((m) => {
    const chosen = m === current;
    return h("li", { "data-client": m.client_id },
      h("span", {},
        h("strong", { class: "person" }, m.client_name),
        h("span", { class: "small block" }, t("carer.mayDo", { scopes: ORDER.filter((s) => m.scopes.includes(s)).map((s) => t(`scope.${s}`)).join(", ") })),
        m.valid_until ? h("span", { class: "small block" }, t("carer.until", { date: date(m.valid_until) })) : null,
        chosen ? h("span", { class: "tag" }, t("carer.chosen")) : null),
      h("button", {
        class: chosen ? "button button--secondary" : "button", type: "button",
        "aria-label": t("carer.chooseName", { name: m.client_name }),
        onclick: () => { choose(m.wallet_id); go(`#/wallet/${m.wallet_id}`); },
      }, t("carer.choose")));
  })));
}
