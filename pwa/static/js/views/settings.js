// Language, notifications (Web Push), sign-out, and the developer setting (an API key kept
// only in this tab; only where the server offers it, see signin.js).
import { api, ApiError, devKey, Offline } from "../api.js";
import { go } from "../router.js";
import { changeLanguage, forget, loadMe, state as session } from "../session.js";
import { announce, h } from "../dom.js";
import { LANGS, currentLang, t } from "../i18n.js";
import { devKeyForm } from "./signin.js";

const NAMES = { fi: "Suomi", sv: "Svenska", en: "English" };
// What the notifications are about, said to whoever reads it (a client's own budget by default).
const PUSH_INTRO = { carer: "push.introCarer", provider: "push.introProvider", case_manager: "push.introStaff" };

export async function render(main, _params, { state }) {
  const langs = h("fieldset", {},
    h("legend", {}, t("settings.language")),
    h("div", { class: "choices" }, LANGS.map((code) => h("label", { class: "choice", lang: code },
      h("input", { type: "radio", name: "lang", value: code, id: `lang-${code}`, checked: code === currentLang() }),
      NAMES[code]))));
  langs.addEventListener("change", async (ev) => {
    await changeLanguage(ev.target.value);
    main.replaceChildren();
    await render(main, _params, { state });
    document.getElementById(`lang-${ev.target.value}`)?.focus();
  });
  main.append(h("h1", {}, t("settings.title")));
  if (state.me) main.append(h("p", {}, t("settings.signedInAs", { name: state.me.display_name, role: t(`role.${state.me.role}`) })));
  main.append(langs);
  if (state.me) {
    main.append(pushSection(),
      h("p", {}, h("a", { href: "#/notifications" }, t("settings.notificationsLink"))));
  }
  if (state.me) {
    // The right of access: a client downloads everything held about them (the server records
    // the download). Carers and staff are not the data subject; a case manager downloads a
    // client's data from the client's file.
    if (state.me.role === "client") main.append(myData());
    main.append(h("h2", {}, t("settings.account")),
      h("p", {}, h("a", { href: "#/passkeys" }, t("settings.passkeysLink"))),
      h("button", { class: "button button--secondary", type: "button", onclick: async () => {
        // This device stops getting the person's notifications once they sign out.
        await dropPushSubscription().catch(() => {});
        if (!devKey.get()) await api("/api/signout", { method: "POST", body: {} }).catch(() => {});
        forget();
        go("#/signin");
      } }, t("settings.signOut")));
  }
  if (devKey.get() || !state.me) {
    const dev = await devKeyForm(async () => { await loadMe(); go("#/"); });
    if (dev) main.append(dev);
  }
}

function myData() {
  return h("section", { "aria-labelledby": "my-data-title", id: "my-data" },
    h("h2", { id: "my-data-title" }, t("settings.myData")),
    h("p", {}, t("settings.myDataIntro")),
    h("p", { class: "links-inline" },
      h("a", { class: "button button--secondary", href: "/api/me/export", download: true }, t("settings.myDataDownload")),
      " ",
      h("a", { href: `/api/me/export?format=html&lang=${currentLang()}`, target: "_blank", rel: "noopener" }, t("settings.myDataPrint"))));
}

// --- Notifications (Web Push) ---------------------------------------------------------------
// Permission is asked only from the button. iOS shows push only for apps added to the Home
// Screen, so there the guide comes first.

function isIos() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
}

function isStandalone() {
  return navigator.standalone === true || window.matchMedia?.("(display-mode: standalone)").matches;
}

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// base64url (the server's VAPID public key) -> bytes for applicationServerKey.
function keyBytes(b64) {
  const raw = atob((b64 + "=".repeat((4 - (b64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function registration() {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no service worker")), 10000));
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await navigator.serviceWorker.getRegistration();
  return reg ? reg.pushManager.getSubscription() : null;
}

async function dropPushSubscription() {
  const sub = await currentSubscription();
  if (!sub) return;
  const endpoint = sub.endpoint;
  await api(`/api/push/subscriptions?endpoint=${encodeURIComponent(endpoint)}`, { method: "DELETE" }).catch(() => {});
  await sub.unsubscribe();
}

function iosGuide() {
  return h("div", { class: "notice", id: "ios-guide" },
    h("h3", {}, t("push.ios.title")),
    h("p", {}, t("push.ios.intro")),
    h("ol", {}, ["step1", "step2", "step3", "step4"].map((s) => h("li", {}, t(`push.ios.${s}`)))),
    h("p", { class: "small" }, t("push.ios.note")));
}

export function pushSection() {
  // The state is read out through the app's live region (#announce) only after a tap, so
  // opening Settings does not talk over the page.
  const status = h("p", { id: "push-state", class: "outcome", tabindex: "-1" });
  const live = h("div", {}, status);
  const buttons = h("div", {});
  const section = h("section", { "aria-labelledby": "push-title", id: "notifications" },
    h("h2", { id: "push-title" }, t("push.title")),
    h("p", {}, t(PUSH_INTRO[session.me?.role] || "push.intro")));
  const needsGuide = isIos() && !isStandalone();
  if (needsGuide) section.append(iosGuide());
  section.append(live, buttons);

  let busy = false;
  const show = (key, { error = false } = {}) => {
    status.textContent = t(key);
    live.className = error ? "notice notice--error" : "";
  };
  const button = (key, onclick, secondary) =>
    h("button", { class: secondary ? "button button--secondary" : "button", type: "button", onclick }, t(key));

  async function turnOn() {
    if (busy) return;
    busy = true;
    show("push.state.working");
    try {
      const permission = await Notification.requestPermission();
      if (permission === "denied") return draw("push.state.blocked", true);
      if (permission !== "granted") return draw("push.state.dismissed", true);
      let key;
      try {
        key = (await api("/api/push/key")).public_key;
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return draw("push.state.unavailable", true);
        throw err;
      }
      const reg = await registration();
      let sub = await reg.pushManager.getSubscription();
      if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      await api("/api/push/subscriptions", { method: "POST", body: sub.toJSON() });
      await draw("push.state.on");
    } catch (err) {
      console.warn("Web Push could not be turned on:", err);
      await draw(err instanceof Offline ? "push.state.offline" : "push.state.error", true);
    } finally {
      busy = false;
    }
  }

  async function turnOff() {
    if (busy) return;
    busy = true;
    show("push.state.working");
    try {
      const sub = await currentSubscription();
      if (sub) {
        const endpoint = sub.endpoint;
        await sub.unsubscribe();
        await api(`/api/push/subscriptions?endpoint=${encodeURIComponent(endpoint)}`, { method: "DELETE" })
          .catch((err) => { if (!(err instanceof ApiError && err.status === 404)) throw err; });
      }
      await draw("push.state.off");
    } catch (err) {
      await draw(err instanceof Offline ? "push.state.offline" : "push.state.error", true);
    } finally {
      busy = false;
    }
  }

  // The state as it is now, or an outcome to tell (announced, since it follows a tap).
  async function draw(outcome, error = false) {
    let sub = null;
    try { sub = await currentSubscription(); } catch { sub = null; }
    const permission = "Notification" in window ? Notification.permission : "default";
    let state = "push.state.off";
    if (!pushSupported()) state = needsGuide ? "push.state.ios" : "push.state.unsupported";
    else if (permission === "denied") state = "push.state.blocked";
    else if (sub && permission === "granted") state = "push.state.on";
    const key = outcome || state;
    show(key, { error });
    const actions = [];
    if (pushSupported() && permission !== "denied") {
      actions.push(sub ? button("push.turnOff", turnOff, true) : button("push.turnOn", turnOn, false));
    }
    const hadFocus = section.contains(document.activeElement);
    buttons.replaceChildren(...actions);
    if (outcome) {
      announce(t(key));
      if (hadFocus || document.activeElement === document.body) (actions[0] || status).focus();
    }
  }

  draw();
  return section;
}
