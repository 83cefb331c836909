// Language, sign-out, and the developer setting (an API key kept only in this tab).
import { api, devKey } from "../api.js";
import { changeLanguage, forget, go, loadMe } from "../app.js";
import { h } from "../dom.js";
import { LANGS, currentLang, t } from "../i18n.js";
import { devKeyForm } from "./signin.js";

const NAMES = { fi: "Suomi", sv: "Svenska", en: "English" };

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
    main.append(h("h2", {}, t("settings.account")),
      h("button", { class: "button button--secondary", type: "button", onclick: async () => {
        if (!devKey.get()) await api("/api/signout", { method: "POST", body: {} }).catch(() => {});
        forget();
        go("#/signin");
      } }, t("settings.signOut")));
  }
  if (devKey.get() || !state.me) {
    main.append(devKeyForm(async () => { await loadMe(); go("#/"); }));
  }
}
