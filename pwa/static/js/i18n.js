// Translations live in /i18n/{fi,sv,en}.json. Finnish is the default; <html lang> follows the choice.
export const LANGS = ["fi", "sv", "en"];
const LOCALES = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" };
let lang = "fi";
let strings = {};
// The first screen's texts only (setLang's `first`, the screen's name: /i18n/{lang}.first.{name}.json,
// a tenth of the file), until restOfStrings() has brought the whole file; the keys asked for meanwhile that
// the first file lacks (tests/e2e/test_fast_start.py reads them: none on the first screens).
let partial = false;
let rest = null;
const missed = window.walletMissedTexts = new Set();

export function currentLang() { return lang; }
export function locale() { return LOCALES[lang]; }

// An Intl formatter (Intl.DateTimeFormat, NumberFormat, PluralRules) for the UI language, or
// for `tag` when given: built once for each language and options, then kept. Building one costs
// far more than using it: a wallet's 100 movements, each building its own, took about 0.1 s of
// a slow phone's first screen.
const formatters = new Map();
export function intl(Kind, options = {}, tag = locale()) {
  const key = `${Kind.name} ${tag} ${JSON.stringify(options)}`;
  let made = formatters.get(key);
  if (!made) formatters.set(key, (made = new Kind(tag, options)));
  return made;
}

export async function setLang(next, { first = null } = {}) {
  lang = LANGS.includes(next) ? next : "fi";
  const file = `/i18n/${lang}${first ? `.first.${first}` : ""}.json`;
  // The file index.html's early start asked for, when it is this one (once).
  const early = window.walletEarly;
  const asked = early?.stringsFile === file && early.strings;
  if (early) early.strings = null;
  const res = await (asked || fetch(file));
  strings = await res.json();
  partial = Boolean(first);
  rest = null;
  missed.clear();
  localStorage.setItem("wallet.lang", lang);
  document.documentElement.lang = lang;
  document.title = t("app.name");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

// The whole language file after the first screen's (once; at once when it was whole from the
// start). Resolves to whether a text was asked for that the first file lacked: then the page
// showed a key and is drawn again (app.js).
export function restOfStrings() {
  if (!partial) return Promise.resolve(false);
  const asking = lang;
  rest ||= fetch(`/i18n/${lang}.json`).then((res) => res.json()).then((all) => {
    if (asking !== lang || !partial) return false;
    strings = all;
    partial = false;
    return missed.size > 0;
  }).catch(() => { rest = null; return false; });
  return rest;
}

export function initialLang() {
  const saved = localStorage.getItem("wallet.lang");
  if (LANGS.includes(saved)) return saved;
  const browser = (navigator.language || "fi").slice(0, 2);
  return LANGS.includes(browser) ? browser : "fi";
}

// t("balance.updated", {time: "14.05"}) -> "Päivitetty klo 14.05"
export function t(key, vars = {}) {
  if (partial && !(key in strings)) missed.add(key);
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// Whether the UI language has a text for key (a caller with a fallback of its own asks first).
export function has(key) {
  if (partial && !(key in strings)) missed.add(key);
  return key in strings;
}

// A count in words: tn("cm.clients.count", 1) -> "1 asiakas näkyvissä", from the keys
// "cm.clients.count.one" / ".other", chosen by Intl.PluralRules for the UI language (a category
// the file does not have falls back to ".other"). {count} is the number in the UI locale.
export function tn(key, count, vars = {}) {
  const rule = intl(Intl.PluralRules).select(count);
  const chosen = `${key}.${rule}` in strings ? `${key}.${rule}` : `${key}.other`;
  return t(chosen, { ...vars, count: intl(Intl.NumberFormat).format(count) });
}
