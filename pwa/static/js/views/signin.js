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

// What went wrong in a passkey step, in plain words with what to do next. `step` is "signin"
// (navigator.credentials.get), "join" (an invite's passkey) or "add" (another passkey);
// `rpId` is the host the passkey belongs to (from the server's options), for a wrong address.
const INVITE_SLUGS = ["invite-invalid", "invite-expired", "invite-used", "invite-wrong-person"];
const STALE_PASSKEY = ["passkey-unknown", "passkey-revoked"];
// The server's title, then what to do next: two sentences, so the title ends with a full stop.
function sentence(text) { return /[.!?]$/.test(text) ? text : `${text}.`; }

export function failure(err, step = "signin", rpId = "") {
  if (err instanceof ApiError) {
    const title = sentence(err.title || t("signin.failed"));
    if (INVITE_SLUGS.includes(err.slug)) return `${title} ${t("signin.err.askInvite")}`;
    if (STALE_PASSKEY.includes(err.slug)) return `${title} ${t("signin.err.passkeyGone")}`;
    if (err.slug === "challenge-invalid" || err.slug === "challenge-expired") return `${title} ${t("signin.err.again")}`;
    if (err.slug === "passkey-exists") return `${title} ${t("signin.err.useIt")}`;
    if (err.status === 429) return `${title} ${t("signin.err.wait")}`;
    if (err.status >= 500) return t("signin.err.server");
    return title;
  }
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "AbortError") {
    return step === "signin" ? t("signin.err.notAllowed") : t("signin.err.notCreated");
  }
  if (name === "SecurityError") {
    return t("signin.err.security", { here: location.host, host: rpId || location.hostname });
  }
  if (name === "InvalidStateError") return t("signin.err.exists");
  if (name === "NotSupportedError") return t("signin.err.unsupported");
  if (err instanceof TypeError) return t("signin.err.offline");
  return t("signin.failed");
}

export async function render(main, params) {
  if (params[0] === "join") return renderJoin(main, params[1] ? decodeURIComponent(params[1]) : "");
  const status = h("div", { role: "alert" });
  const button = h("button", { class: "button button--wide", type: "button" }, t("signin.passkey"));
  button.addEventListener("click", async () => {
    status.replaceChildren();
    button.disabled = true;
    let rpId = "";
    try {
      const lib = await loadWebAuthn();
      const { publicKey } = await api("/api/signin/options", { method: "POST", body: {} });
      rpId = publicKey.rpId || "";
      const credential = await lib.startAuthentication({ optionsJSON: publicKey });
      await signedIn(await api("/api/signin/verify", { method: "POST", body: { credential } }));
    } catch (err) {
      status.replaceChildren(h("div", { class: "notice notice--error" }, h("p", {}, failure(err, "signin", rpId))));
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
          status.replaceChildren(h("div", { class: "notice notice--error" }, h("p", {}, failure(err, "join", publicKey.rp?.id)),
            err?.name === "InvalidStateError" ? h("p", {}, h("a", { href: "#/signin" }, t("signin.passkey"))) : null));
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
