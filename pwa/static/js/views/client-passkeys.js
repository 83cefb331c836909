// Your devices: your passkeys (which there are and when each was last used, add another for a
// second phone or a tablet, remove one you no longer have; the server refuses to remove the
// last one) and the browsers where you are signed in (end one you left signed in).
import { api, ApiError, devKey } from "../api.js";
import { announce, h } from "../dom.js";
import { dateTime } from "../format.js";
import { field, showErrors } from "../forms.js";
import { t } from "../i18n.js";
import { failure, loadWebAuthn } from "./signin.js";

export async function render(main, _params, ctx) {
  const [keys, sessions] = await Promise.all([api("/api/me/passkeys"), api("/api/me/sessions")]);
  const status = h("div", { id: "passkey-status" });
  main.append(h("h1", {}, t("passkeys.title")), h("p", {}, t("passkeys.intro")), status,
    h("h2", { id: "passkeys-title" }, t("devices.passkeys")));
  if (!keys.length) main.append(h("p", {}, t("passkeys.none")));
  else main.append(h("ul", { class: "list card", "aria-labelledby": "passkeys-title" }, keys.map((k) => item(k, keys.length, main, ctx, status))));
  main.append(addForm(main, ctx), sessionsSection(sessions, main, ctx, status));
}

// Where you are signed in: this browser first-class, the others with an "end" button. No
// browser details are stored, so a session shows when it began, when it was last used and the
// passkey it began with.
function sessionsSection(sessions, main, ctx, status) {
  const section = h("section", { "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, t("devices.sessions")),
    h("p", {}, t("devices.sessionsIntro")));
  if (!sessions.length) section.append(h("p", {}, t("devices.noSessions")));
  else section.append(h("ul", { class: "list card", "aria-labelledby": "sessions-title" }, sessions.map((x) => sessionItem(x, main, ctx, status))));
  return section;
}

function sessionItem(x, main, ctx, status) {
  const label = x.current ? t("devices.thisOne") : t("devices.other", { when: dateTime(x.created_at) });
  const end = h("button", { class: "button button--secondary", type: "button", "aria-label": t("devices.endName", { name: label }) }, t("devices.end"));
  const row = h("li", { "data-session": x.id },
    h("span", {},
      h("strong", { class: "person" }, label),
      h("span", { class: "small block" }, t("devices.since", { when: dateTime(x.created_at) })),
      h("span", { class: "small block" }, t("devices.lastSeen", { when: dateTime(x.last_seen_at) })),
      x.passkey_name ? h("span", { class: "small block" }, t("devices.withPasskey", { name: x.passkey_name })) : null),
    h("span", { class: "actions" }, x.current ? h("span", { class: "small" }, t("devices.useSignOut")) : end));
  end.addEventListener("click", () => {
    const confirm = h("button", { class: "button button--warning", type: "button" }, t("devices.confirm"));
    const cancel = h("button", { class: "button button--secondary", type: "button" }, t("devices.keep"));
    const actions = row.querySelector(".actions");
    actions.replaceChildren(h("span", { class: "small block" }, t("devices.confirmText")), confirm, cancel);
    confirm.focus();
    cancel.addEventListener("click", () => { actions.replaceChildren(end); end.focus(); });
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      try {
        await api(`/api/me/sessions/${x.id}`, { method: "DELETE" });
        await again(main, ctx, t("devices.ended"));
      } catch (err) {
        confirm.disabled = false;
        status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, err instanceof ApiError ? err.title : t("charge.err.offline"))));
      }
    });
  });
  return row;
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
        status.replaceChildren(h("div", { class: "notice notice--error", role: "alert" }, h("p", {}, failure(err, "add"))));
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
    let rpId = "";
    try {
      const lib = await loadWebAuthn();
      const { publicKey } = await api("/api/me/passkeys/options", { method: "POST", body: {} });
      rpId = publicKey.rp?.id || "";
      const credential = await lib.startRegistration({ optionsJSON: publicKey });
      await api("/api/me/passkeys", { method: "POST", body: { credential, passkey_name: name } });
      await again(main, ctx, t("passkeys.added", { name }));
    } catch (err) {
      button.disabled = false;
      showErrors(form, [{ id: "passkey-name", message: err instanceof ApiError || err?.name ? failure(err, "add", rpId) : t("signin.failed") }]);
    }
  });
  return form;
}
