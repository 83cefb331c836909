// A small chart per envelope: what was spent this month and in the months before, drawn as an
// inline SVG with a table of the same numbers for screen readers (the picture itself is hidden
// from them). Amounts stay integer cents until they become text. The sums come from wallet.js
// (monthlySpending), which loads this module only when the person opens the chart.
import { h } from "../dom.js";
import { money, monthName } from "../format.js";
import { intl, t } from "../i18n.js";

const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

// rows: [{period, cents}] oldest first, at most `months` of them, one slot each.
export function spendingChart(env, rows, months) {
  const top = Math.max(env.monthly_amount_cents || 0, ...rows.map((r) => r.cents), 1);
  const width = 300;
  const height = 120;
  const base = 96;
  const slot = width / months;
  const bars = rows.map((r, i) => {
    const hgt = Math.round((r.cents * 70) / top);
    const x = Math.round(i * slot + slot * 0.2);
    const short = intl(Intl.DateTimeFormat, { month: "short" }).format(new Date(`${r.period}-15T12:00:00`));
    return svg("g", {},
      svg("rect", { x, y: base - hgt, width: Math.round(slot * 0.6), height: Math.max(hgt, 1), class: i === rows.length - 1 ? "chart__now" : "chart__bar" }),
      svg("text", { x: Math.round(i * slot + slot / 2), y: base - hgt - 4, "text-anchor": "middle", class: "chart__value" }, money(r.cents)),
      svg("text", { x: Math.round(i * slot + slot / 2), y: base + 18, "text-anchor": "middle", class: "chart__label" }, short));
  });
  // The month's allotment as a dashed line, so a bar can be read against it.
  const line = env.monthly_amount_cents
    ? svg("line", { x1: 0, x2: width, y1: base - Math.round((env.monthly_amount_cents * 70) / top), y2: base - Math.round((env.monthly_amount_cents * 70) / top), class: "chart__allotment" })
    : null;
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", "aria-hidden": "true", focusable: "false" },
    svg("line", { x1: 0, x2: width, y1: base, y2: base, class: "chart__axis" }), ...(line ? [line] : []), ...bars);
  const captionId = `chart-${env.id}`;
  return h("figure", { class: "spending", "aria-labelledby": captionId },
    h("figcaption", { id: captionId, class: "small" }, t("chart.caption")),
    picture,
    // A table ignores a 1px width, so the hiding box is around it.
    h("div", { class: "visually-hidden" }, h("table", {},
      h("caption", {}, t("chart.tableCaption", { label: env.label })),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("chart.month")), h("th", { scope: "col" }, t("chart.spent")))),
      h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, monthName(r.period)), h("td", {}, money(r.cents))))))));
}
