// Case manager: many clients and their decisions at once from the county's CSV file
// (#/clients/import; the columns of `wallet import clients`, docs/setup.md). "Check" sends the
// file as a dry run and shows what each row would do; only then does "Import" write it. A file
// with a refused row writes nothing: its rows are listed with their lines and reasons, in the
// case manager's language (the problem's refused_rows: a code and params per row).
import { api, ApiError } from "../api.js";
import { announce, h } from "../dom.js";
import { money } from "../format.js";
import { field, showErrors } from "../forms.js";
import { has, intl, t, tn } from "../i18n.js";

export async function render(main) {
  const input = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv" });
  const check = h("button", { class: "button", type: "submit" }, t("cm.import.check"));
  const form = h("form", { novalidate: true },
    field({ id: "import-file", label: t("cm.import.file"), hint: t("cm.import.fileHint"), input }),
    check);
  const status = h("p", { role: "status", id: "import-status" });
  const apply = h("button", { class: "button", type: "button", hidden: true }, t("cm.import.apply"));
  const out = h("div", { id: "import-result" });
  main.append(h("div", { class: "desk" },
    h("h1", {}, t("cm.import.title")),
    h("p", {}, t("cm.import.intro")),
    h("p", { class: "small" }, t("cm.import.columns")),
    form, status, apply, out,
    h("p", {}, h("a", { href: "#/clients" }, t("cm.import.back")))));

  // The file that was checked: "Import" sends exactly it, and a new choice needs a new check.
  let checked = null;
  input.addEventListener("change", () => { checked = null; apply.hidden = true; });

  async function send(file, doApply) {
    const path = `/api/clients/import${doApply ? "?apply=true" : ""}`;
    return api(path, { method: "POST", file: { type: "text/csv", data: file } });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    apply.hidden = true;
    out.replaceChildren();
    status.textContent = "";
    const file = input.files?.[0];
    if (!file) return showErrors(form, [{ id: "import-file", message: t("cm.import.noFile") }]);
    check.disabled = true;
    try {
      const result = await send(file, false);
      showErrors(form, []);
      checked = file;
      status.textContent = t("cm.import.checked", counts(result));
      out.replaceChildren(rows(result));
      apply.hidden = !(result.clients_created || result.clients_linked || result.decisions_created);
      if (apply.hidden) status.textContent += ` ${t("cm.import.nothingNew")}`;
    } catch (err) {
      failed(err);
    } finally {
      check.disabled = false;
    }
  });

  apply.addEventListener("click", async () => {
    if (!checked || apply.disabled) return;
    apply.disabled = true;
    try {
      const result = await send(checked, true);
      apply.hidden = true;
      checked = null;
      status.textContent = t("cm.import.done", counts(result));
      out.replaceChildren(rows(result));
      announce(status.textContent);
    } catch (err) {
      apply.hidden = true;
      failed(err);
    } finally {
      apply.disabled = false;
    }
  });

  function failed(err) {
    const refused = err instanceof ApiError ? err.problem.refused : null;
    showErrors(form, [{ id: "import-file", message: refused ? tn("cm.import.refused", refused.length) : err instanceof ApiError ? err.title : t("charge.err.offline") }]);
    if (refused) {
      out.replaceChildren(h("section", { "aria-labelledby": "refused-title" },
        h("h2", { id: "refused-title" }, t("cm.import.refusedTitle")),
        h("ul", { class: "list card", id: "refused-rows" },
          (err.problem.refused_rows ?? refused.map((text) => ({ text }))).map((row) => h("li", {}, reason(row))))));
    }
  }
}

// A refused row in the case manager's words: "cm.import.why.<code>" filled from its params,
// after "Rivi N:" (a reason about the whole file has no line). The server's English line when
// the app has no text for the code (a newer server than this app).
function reason(row) {
  const key = `cm.import.why.${row.code}`;
  const params = row.params || {};
  const vars = {};
  for (const [name, value] of Object.entries(params)) {
    if (typeof value !== "number") vars[name] = value;
    else vars[name] = name.endsWith("_cents") ? money(value) : intl(Intl.NumberFormat).format(value);
  }
  let why;
  if (typeof params.count === "number" && has(`${key}.other`)) {
    why = tn(key, params.count, vars);
  } else if (row.code && has(key)) {
    // The header's problems, each a sentence of its own (only the kinds the file has).
    const problems = ["unknown", "missing", "twice"].filter((p) => params[p])
      .map((p) => t(`cm.import.why.header-invalid.${p}`, { columns: params[p] })).join(" ");
    why = t(key, { ...vars, problems });
  } else {
    return row.text;
  }
  if (row.line == null) return why.charAt(0).toUpperCase() + why.slice(1);
  return t("cm.import.why.line", { line: row.line, why });
}

function counts(r) {
  return {
    clients: r.clients_created,
    linked: r.clients_linked,
    decisions: r.decisions_created,
    unchanged: r.clients_unchanged,
  };
}

function rows(result) {
  const outcome = (what) => (what ? t(`cm.import.outcome.${what}`) : "–");
  return h("div", { class: "table-wrap", role: "region", "aria-labelledby": "import-caption", tabindex: "0" },
    h("table", { class: "table" },
      h("caption", { id: "import-caption" }, t("cm.import.rowsTitle")),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("cm.import.line")),
        h("th", { scope: "col" }, t("cm.import.client")),
        h("th", { scope: "col" }, t("cm.import.decision")))),
      h("tbody", {}, result.rows.map((r) => h("tr", {},
        h("td", {}, r.line.replace(/^line /, "")),
        h("td", {}, `${r.client_ref}: ${outcome(r.client)}`),
        h("td", {}, r.decision_ref ? `${r.decision_ref}: ${outcome(r.decision)}` : "–"))))));
}
