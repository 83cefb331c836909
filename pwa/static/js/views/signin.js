// Sign in with a passkey, or register one from an invite code or link (#/signin/join/CODE).
// The developer setting (an API key for this tab only) is loaded from ../dev-key.js when the
// server offers it (development, tests and the demo).
import { api, ApiError, devKey, setCsrf } from "../api.js";
import { go } from "../router.js";
import { loadMe } from "../session.js";
import { h } from "../dom.js";
import { field, showErrors } from "../forms.js";
import { t } from "../i18n.js";
import { startLive } from "../live.js";

let webauthn;
export function loadWebAuthn() {
  webauthn ??= new Promise((resolve, reject) => {
    const s = h("script", { src: "/vendor/simplewebauthn-browser.umd.min.js" });
    s.onload = () => resolve(window.SimpleWebAuthnBrowser);
    s.onerror = reject;
    document.head.append(s);
  });
  return webauthn;
}

async function signedIn(result) {
  devKey.clear();
  setCsrf(result.csrf_token);
  await loadMe();
  startLive();
  go("#/");
}

export function failure(err) {
  if (err instanceof ApiError) return err.title;
  if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) return t("signin.cancelled");
  return t("signin.failed");
}

export async function render(main, params) {
  if (params[0] === "join") return renderJoin(main, params[1] ? decodeURIComponent(params[1]) : "");
  const status = h("div", { role: "alert" });
  const button = h("button", { class: "button button--wide", type: "button" }, t("signin.passkey"));
  button.addEventListener("click", async () => {
    status.replaceChildren();
    button.disabled = true;
    try {
      const lib = await loadWebAuthn();
      const { publicKey } = await api("/api/signin/options", { method: "POST", body: {} });
      const credential = await lib.startAuthentication({ optionsJSON: publicKey });
      await signedIn(await api("/api/signin/verify", { method: "POST", body: { credential } }));
    } catch (err) {
      status.replaceChildren(h("div", { class: "notice notice--error" }, h("p", {}, failure(err))));
    } finally {
      button.disabled = false;
    }
  });
  main.append(
    h("h1", {}, t("signin.title")),
    h("p", {}, t("signin.intro")),
    status, button,
    h("h2", {}, t("signin.inviteTitle")),
    h("p", {}, t("signin.inviteText")),
    h("p", {}, h("a", { class: "button button--secondary", href: "#/signin/join" }, t("signin.haveCode"))),
    h("p", {}, h("a", { href: "#/apply" }, t("apply.link"))));
  const dev = await devKeyForm(async () => { await loadMe(); startLive(); go("#/"); });
  if (dev) main.append(dev);
}

function renderJoin(main, code) {
  const form = h("form", { novalidate: true });
  const input = h("input", { id: "code", name: "code", type: "text", autocomplete: "one-time-code", autocapitalize: "characters", spellcheck: "false", value: code });
  const next = h("div", {});
  form.append(h("h1", {}, t("join.title")),
    field({ id: "code", label: t("join.code"), hint: t("join.codeHint"), input }),
    h("button", { class: "button", type: "submit" }, t("join.check")), next);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    next.replaceChildren();
    if (input.value.trim().length < 4) return showErrors(form, [{ id: "code", message: t("join.err.code") }]);
    try {
      const { invite, publicKey } = await api("/api/invites/redeem/options", { method: "POST", body: { code: input.value.trim() } });
      const create = h("button", { class: "button button--wide", type: "button" }, t("join.create"));
      const status = h("div", { role: "alert" });
      create.addEventListener("click", async () => {
        create.disabled = true;
        try {
          const lib = await loadWebAuthn();
          const credential = await lib.startRegistration({ optionsJSON: publicKey });
          await signedIn(await api("/api/invites/redeem/verify", { method: "POST", body: { credential, passkey_name: t("join.passkeyName") } }));
        } catch (err) {
          create.disabled = false;
          status.replaceChildren(h("div", { class: "notice notice--error" }, h("p", {}, failure(err))));
        }
      });
      next.append(h("div", { class: "notice notice--ok" },
        h("h2", {}, t("join.for", { name: invite.display_name })),
        h("p", {}, t("join.from", { organizer: invite.organizer_name, role: t(`role.${invite.role}`) })),
        h("p", {}, t("join.explain"))), status, create);
      create.focus();
    } catch (err) {
      showErrors(form, [{ id: "code", message: failure(err) }]);
    }
  });
  main.append(form);
  if (code) form.requestSubmit();
}

// The developer setting (an API key for this tab) exists only where the server delivers its
// module (WALLET_DEV_API_KEY_FORM, on in `wallet demo` and the tests); elsewhere the module is
// a stub and nothing is shown. Offline, the import fails and nothing is shown either.
export async function devKeyForm(done) {
  try {
    const module = await import("../dev-key.js");
    return module.devKeyForm ? module.devKeyForm(done) : null;
  } catch {
    return null;
  }
}
