// Who is signed in on this device: /api/me, kept for offline use, the session's idle timer,
// and forgetting it all at sign-out. The shell (app.js) draws the menu when it hears
// "wallet:me"; views read `state` and call loadMe/forget from here, never from app.js.
import { api, ApiError, confirmEarly, devKey, dropEarly, Offline, setCsrf } from "./api.js";
import { h } from "./dom.js";
import { setLang, t, tn } from "./i18n.js";
import { stopLive } from "./live.js";
import { go } from "./router.js";

const ME = "wallet.me";
export const state = { me: null, offline: false };

function changed() {
  window.dispatchEvent(new Event("wallet:me"));
}

export function setOffline(offline) {
  state.offline = offline;
  document.getElementById("status").textContent = offline ? t("offline.banner") : "";
}

export async function loadMe() {
  try {
    const me = await api("/api/me");
    // The early start's answers are this person's only if the device saw this person last.
    confirmEarly(me.principal_id);
    if (me.csrf_token) setCsrf(me.csrf_token);
    const { csrf_token: _secret, session: _s, ...keep } = me;
    state.me = keep;
    localStorage.setItem(ME, JSON.stringify(keep));
    watchSession(me.session);
    setOffline(false);
  } catch (err) {
    dropEarly();
    if (err instanceof Offline) {
      state.me = JSON.parse(localStorage.getItem(ME) || "null");
      setOffline(true);
    } else if (err instanceof ApiError && err.status === 401) {
      forget();
    } else {
      throw err;
    }
  }
  changed();
  return state.me;
}

// Sign-out and expired sessions: drop everything this device knows about the person.
export function forget() {
  state.me = null;
  devKey.clear();
  setCsrf(null);
  stopLive();
  clearTimeout(sessionTimer);
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("wallet.") && key !== "wallet.lang") localStorage.removeItem(key);
  }
  changed();
}

export async function changeLanguage(next) {
  await setLang(next);
  if (state.offline) setOffline(true);
  changed();
}

// Warn before a passkey session times out, with a way to stay signed in.
let sessionTimer = null;
function watchSession(session) {
  clearTimeout(sessionTimer);
  document.getElementById("session-warning")?.remove();
  if (!session) return;
  const warnIn = Math.max(0, session.seconds_left - session.warn_before_s) * 1000;
  sessionTimer = setTimeout(async () => {
    let now;
    try { now = await api("/api/session"); } catch { return; }
    if (!now) return;
    if (now.seconds_left > now.warn_before_s) return watchSession(now);
    const stay = h("button", { class: "button", type: "button", onclick: async () => { await loadMe(); } }, t("session.stay"));
    const box = h("div", { id: "session-warning", class: "notice notice--error", role: "alert" },
      h("p", { class: "outcome" }, tn("session.ending", Math.max(1, Math.round(now.seconds_left / 60)))), stay);
    document.getElementById("main").prepend(box);
    stay.focus();
    sessionTimer = setTimeout(() => { forget(); go("#/signin"); }, now.seconds_left * 1000);
  }, warnIn);
}
