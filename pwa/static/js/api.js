// The API client: JSON in and out, problem+json errors as ApiError, the chosen language for
// problem titles. People sign in with a session cookie (+ CSRF token on writes); a developer may
// instead paste an API key, kept only in this tab's sessionStorage.
import { currentLang } from "./i18n.js";

const DEV_KEY = "wallet.devApiKey";
const CSRF = "wallet.csrf";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type || "";
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.problem = problem;
  }
  get slug() { return this.type.split("/").pop(); }
}

export class Offline extends Error {}

export const devKey = {
  get: () => sessionStorage.getItem(DEV_KEY),
  set: (key) => sessionStorage.setItem(DEV_KEY, key.trim()),
  clear: () => sessionStorage.removeItem(DEV_KEY),
};

export function setCsrf(token) {
  if (token) sessionStorage.setItem(CSRF, token); else sessionStorage.removeItem(CSRF);
}

// The early start's answers (index.html): each used once, by the first GET of the same address,
// and only after /api/me has named the person they were asked for (confirmEarly): the person
// this device saw last, or, when it had seen no one, whoever the /api/me asked beside them
// names (the same request wave, the same credentials). Whatever the first screen did not use
// is dropped (dropEarly).
const early = window.walletEarly || { who: null, answers: {} };
let confirmed = false;
let meWasEarly = false;

export function confirmEarly(principalId) {
  confirmed = Boolean(principalId) && (early.who ? principalId === early.who : meWasEarly);
  if (!confirmed) dropEarly();
}

export function dropEarly() {
  early.answers = {};
  early.mine = null;
  confirmed = false;
}

function takeEarly(path) {
  const answer = early.answers[path];
  if (!answer || (path !== "/api/me" && !confirmed)) return null;
  delete early.answers[path];
  if (path === "/api/me") meWasEarly = true;
  return answer;
}

// A device that had seen no one asked for GET /api/me/wallet instead (no id was known): its
// parts stand in for the three addresses by id the balances ask for, each once, when its wallet
// is the one asked for; otherwise (null) the address is fetched as usual.
const MINE = { "": "wallet", "/transactions?limit=100": "transactions", "/payment-requests": "payment_requests" };

function takeMine(path) {
  const m = /^\/api\/wallets\/([0-9a-f-]+)(.*)$/.exec(path);
  const part = m && confirmed && early.mine && MINE[m[2]];
  if (!part) return null;
  return early.mine.then((body) => {
    if (!body || body.wallet_id !== m[1] || !(part in body)) return null;
    const data = body[part];
    delete body[part];
    return new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } });
  });
}

export function headers(extra = {}) {
  const h = { Accept: "application/json", "Accept-Language": currentLang(), ...extra };
  const key = devKey.get();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// ``file``: a body sent as it is ({ type: "text/csv", data: a File or text }) instead of JSON.
export async function api(path, { method = "GET", body, file, idempotencyKey, signal } = {}) {
  const extra = {};
  if (body !== undefined) extra["Content-Type"] = "application/json";
  if (file) extra["Content-Type"] = file.type;
  if (idempotencyKey) extra["Idempotency-Key"] = idempotencyKey;
  const csrf = sessionStorage.getItem(CSRF);
  if (method !== "GET" && csrf && !devKey.get()) extra["X-CSRF-Token"] = csrf;
  let res;
  try {
    const ready = method === "GET" && !signal && (takeEarly(path) || takeMine(path));
    res = (ready && await ready) || await fetch(path, {
      method, signal, credentials: "same-origin", headers: headers(extra),
      body: file ? file.data : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Offline(String(err));
  }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : null;
  if (!res.ok) throw new ApiError(res.status, data || {});
  return data;
}

export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
