// Your passkeys: which there are and when each was last used, add another (a second phone or a
// tablet), remove one you no longer have. The server refuses to remove the last one.
import { api, ApiError, devKey } from "../api.js";
import { announce, h } from "../dom.js";
import { dateTime } from "../format.js";
import { field, showErrors } from "../forms.js";
import { t } from "../i18n.js";
import { failure, loadWebAuthn } from "./signin.js";

export async function render(main, _params, ctx) {
  const keys = await api("/api/me/passkeys");
  const status = h("div", { id: "passkey-status" });
  main.append(h("h1", {}, t("passkeys.title")), h("p", {}, t("passkeys.intro")), status);
  if (!keys.length) main.append(h("p", {}, t("passkeys.none")));
  else main.append(h("ul", { class: "list card" }, keys.map((k) => item(k, keys.length, main, ctx, status))));
  main.append(addForm(main, ctx));
}

function again(main, ctx, message) {
  main.replaceChildren();
  return render(main, [], ctx).then(() => {
    const box = h("div", { class: "notice notice--ok", tabindex: "-1" }, h("p", {}, message));
    main.querySelector("#passkey-status").append(box);
    box.focus();
    announce(message);
  });
}

function item(k, count, main, ctx, status) {
  const remove = h("button", { class: "button button--secondary", type: "button", "aria-label": t("passkeys.removeName", { name: k.name }) }, t("passkeys.remove"));
  const row = h("li", { "data-passkey": k.id },
    h("span", {},
      h("strong", { class: "person" }, k.name),
      h("span", { class: "small block" }, t("passkeys.created", { when: dateTime(k.created_at) })),
      h("span", { class: "small block" }, k.last_used_at ? t("passkeys.used", { when: dateTime(k.last_used_at) }) : t("passkeys.neverUsed")),
      k.backed_up ? h("span", { class: "small block" }, t("passkeys.synced")) : null),
    h("span", { class: "actions" }, count > 1 ? remove : h("span", { class: "small" }, t("passkeys.onlyOne"))));
  // Two steps: a removed passkey cannot be used to sign in again.
  remove.addEventListener("click", () => {
    const confirm = h("button", { class: "button button--warning", type: "button" }, t("passkeys.confirm", { name: k.name }));
    const cancel = h("button", { class: "button button--secondary", type: "button" }, t("passkeys.keep"));
    const actions = row.querySelector(".actions");
    actions.replaceChildren(confirm, cancel);
    confirm.focus();
    cancel.addEventListener("click", () => { actions.replaceChildren(remove); remove.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api(`/api/me/passkeys/${k.id}`, { method: "DELETE" });
        await again(main, ctx, t("passkeys.removed", { name: k.name }));
      } catch (err) {
        confirm.disabled = false;
        status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, failure(err))));
      }
    });
  });
  return row;
}

function addForm(main, ctx) {
  const input = h("input", { id: "passkey-name", name: "passkey-name", type: "text", autocomplete: "off", maxlength: "60", value: t("passkeys.defaultName") });
  const form = h("form", { novalidate: true, class: "card" },
    h("h2", {}, t("passkeys.addTitle")),
    h("p", {}, t("passkeys.addIntro")),
    field({ id: "passkey-name", label: t("passkeys.name"), hint: t("passkeys.nameHint"), input }),
    h("button", { class: "button", type: "submit" }, t("passkeys.add")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = input.value.trim();
    if (!name) return showErrors(form, [{ id: "passkey-name", message: t("passkeys.err.name") }]);
    // An API key is not a person on a device: adding a passkey needs a passkey session.
    if (devKey.get()) return showErrors(form, [{ id: "passkey-name", message: t("passkeys.err.session") }]);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const lib = await loadWebAuthn();
      const { publicKey } = await api("/api/me/passkeys/options", { method: "POST", body: {} });
      const credential = await lib.startRegistration({ optionsJSON: publicKey });
      await api("/api/me/passkeys", { method: "POST", body: { credential, passkey_name: name } });
      await again(main, ctx, t("passkeys.added", { name }));
    } catch (err) {
      button.disabled = false;
      showErrors(form, [{ id: "passkey-name", message: err instanceof ApiError || err?.name ? failure(err) : t("signin.failed") }]);
    }
  });
  return form;
}
