// Money is integer cents in logic; it becomes text only here, through Intl.
import { intl } from "./i18n.js";

export function money(cents) {
  return intl(Intl.NumberFormat, { style: "currency", currency: "EUR" }, "fi-FI").format(cents / 100);
}

// "12,50" / "12.5" / "12" -> 1250; anything else -> null. No floats: the digits are read as text.
export function parseMoney(text) {
  const m = String(text).trim().replace(/\s|€/g, "").match(/^(\d{1,7})(?:[.,](\d{1,2}))?$/);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

// A quantity as the API's decimal string ("1.5"), at most three decimals; null if not valid.
export function parseQuantity(text) {
  const m = String(text).trim().match(/^(\d{1,4})(?:[.,](\d{1,3}))?$/);
  if (!m) return null;
  const thousandths = Number(m[1]) * 1000 + Number((m[2] || "").padEnd(3, "0"));
  if (thousandths <= 0) return null;
  return { text: m[2] ? `${m[1]}.${m[2]}` : m[1], thousandths };
}

// Quantity x unit price in whole cents, rounded half up, exactly as the server does.
export function lineCents(thousandths, unitCents) {
  return Math.floor((thousandths * unitCents + 500) / 1000);
}

// Server times are UTC; some arrive without an offset, so read those as UTC too.
export function instant(iso) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return new Date(`${iso}T12:00:00`);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}

const HELSINKI = "Europe/Helsinki";
const DAY = { day: "numeric", month: "numeric", year: "numeric", timeZone: HELSINKI };

export function time(iso) {
  return intl(Intl.DateTimeFormat, { hour: "2-digit", minute: "2-digit", timeZone: HELSINKI }).format(instant(iso));
}

export function date(iso) {
  return intl(Intl.DateTimeFormat, DAY).format(instant(iso));
}

// The last day something can be used when it ends at `iso` (an end at midnight -> the day before).
export function lastDay(iso) {
  return intl(Intl.DateTimeFormat, DAY).format(new Date(instant(iso).getTime() - 1));
}

export function dateTime(iso) {
  return intl(Intl.DateTimeFormat, {
    day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit", timeZone: HELSINKI,
  }).format(instant(iso));
}

export function monthName(period) {
  const [y, m] = period.split("-").map(Number);
  return intl(Intl.DateTimeFormat, { month: "long", year: "numeric" }).format(new Date(y, m - 1, 15));
}

// A use rate from the API ("20.6", a percentage as text) in the UI locale: "20,6 %" (fi, sv),
// "20.6%" (en). The float is for display only.
export function percent(text) {
  return intl(Intl.NumberFormat, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 })
    .format(Number(text) / 100);
}

// A phone number as people read it: "+358401234567" -> "+358 40 123 4567" (a Finnish mobile
// prefix 4x/50 or a two-digit area code 1x, else a one-digit area code, then groups of three
// and the rest). Other countries' numbers are shown as stored.
export function phone(e164) {
  const m = /^\+358(\d{5,12})$/.exec(e164 || "");
  if (!m) return e164 || "";
  const digits = m[1];
  const head = /^(4\d|50|1\d)/.test(digits) ? 2 : 1;
  const rest = digits.slice(head);
  return `+358 ${digits.slice(0, head)} ${rest.slice(0, 3)} ${rest.slice(3)}`.trim();
}
