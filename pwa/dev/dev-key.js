// The developer setting: paste an API key; it lives only in this tab (sessionStorage).
// For development, tests and the demo only: the server delivers this module at /js/dev-key.js
// only with WALLET_DEV_API_KEY_FORM on (`wallet demo` turns it on); otherwise that URL is a
// stub whose devKeyForm is null, and no page shows the form. It lives outside static/ so that
// no other URL serves it.
import { api, ApiError, devKey } from "./api.js";
import { h } from "./dom.js";
import { field, showErrors } from "./forms.js";
import { t } from "./i18n.js";

export function devKeyForm(done) {
  const input = h("input", { id: "devkey", name: "devkey", type: "password", autocomplete: "off", spellcheck: "false" });
  const form = h("form", { novalidate: true });
  form.append(
    h("p", { class: "notice notice--dev" }, t("dev.warning")),
    field({ id: "devkey", label: t("dev.key"), hint: t("dev.hint"), input }),
    h("button", { class: "button button--secondary", type: "submit" }, t("dev.use")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!/^wk_\S+$/.test(key)) return showErrors(form, [{ id: "devkey", message: t("dev.err.format") }]);
    devKey.set(key);
    try {
      await api("/api/me");
    } catch (err) {
      devKey.clear();
      return showErrors(form, [{ id: "devkey", message: err instanceof ApiError ? err.title : t("signin.failed") }]);
    }
    await done();
  });
  return h("details", { class: "card", open: devKey.get() ? true : null },
    h("summary", {}, h("strong", {}, t("dev.title"))), form);
}
