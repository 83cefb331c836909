// Money is integer cents in logic; it becomes text only here, through Intl.
import { locale } from "./i18n.js";

const EUR = new Intl.NumberFormat("fi-FI", { style: "currency", currency: "EUR" });

export function money(cents) {
  return EUR.format(cents / 100);
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

export function time(iso) {
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", timeZone: HELSINKI }).format(instant(iso));
}

export function date(iso) {
  return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "numeric", year: "numeric", timeZone: HELSINKI }).format(instant(iso));
}

// The last day something can be used when it ends at `iso` (an end at midnight -> the day before).
export function lastDay(iso) {
  return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "numeric", year: "numeric", timeZone: HELSINKI })
    .format(new Date(instant(iso).getTime() - 1));
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(locale(), {
    day: "numeric", month: "numeric", hour: "2-digit", minute: "2-digit", timeZone: HELSINKI,
  }).format(instant(iso));
}

export function monthName(period) {
  const [y, m] = period.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric" }).format(new Date(y, m - 1, 15));
}
