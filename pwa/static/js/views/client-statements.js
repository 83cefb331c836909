// Monthly statements: per month, a printable page (opening balance, funding, each charge and
// refund, expired money, closing balance) and a CSV for a spreadsheet. For the client, and for
// a carer whose mandate includes `view`. The server picks the page's language from the
// person's settings; links open with the session cookie.
import { api } from "../api.js";
import { h } from "../dom.js";
import { monthName } from "../format.js";
import { t } from "../i18n.js";
import { heading, nobody, notAllowed, subject } from "./client-context.js";

const TITLE = "statements.title";

export async function render(main, params, ctx) {
  const subj = await subject(ctx.state, params[0]);
  if (!subj || !subj.walletId) return nobody(main, TITLE);
  if (!subj.scopes.includes("view")) return notAllowed(main, subj, TITLE);
  const months = await api(`/api/wallets/${subj.walletId}/statements`);
  main.append(...heading(subj, TITLE), h("p", {}, t("statements.intro")));
  if (!months.length) {
    main.append(h("p", {}, t("statements.none")));
    return;
  }
  const base = `/api/wallets/${subj.walletId}/statements`;
  main.append(h("ul", { class: "list card", id: "statements-list" }, months.map((m) => {
    const name = monthName(m.period);
    return h("li", { "data-period": m.period },
      h("h2", { class: "list__title" }, name),
      h("p", { class: "small" }, t(m.closed ? "statements.closed" : "statements.open")),
      h("p", { class: "links-inline" },
        h("a", { href: `${base}/${m.period}.html`, target: "_blank", rel: "noopener" },
          t("statements.print", { month: name })),
        " ",
        h("a", { href: `${base}/${m.period}.csv`, download: `statement-${m.period}.csv` },
          t("statements.csv", { month: name }))));
  })));
}
