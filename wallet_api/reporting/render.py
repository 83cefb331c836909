"""What the reporting routes render besides JSON: statements as CSV and printable HTML,
charts as SVG, and the responses that carry them.

The charts are hand-written SVG (a bar per month and series, with <title>, <desc> and text
labels, no script): small enough that a chart library would be more code to configure than
this, and none we know of draws accessible, script-free SVG without a stylesheet.
"""

from __future__ import annotations

import html
from datetime import datetime
from decimal import Decimal

from litestar import Response

from payments.ledger.periods import HELSINKI, parse_period
from payments.reporting import reports
from payments.reporting.csv_export import Cell, csv_document
from payments.reporting.statements import EnvelopeStatement, Statement

MONTHS = {
    "fi": (
        "tammikuu helmikuu maaliskuu huhtikuu toukokuu kesäkuu heinäkuu elokuu syyskuu "
        "lokakuu marraskuu joulukuu"
    ).split(),
    "sv": (
        "januari februari mars april maj juni juli augusti september oktober november december"
    ).split(),
    "en": (
        "January February March April May June July August September October November December"
    ).split(),
}

TEXT: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Kuukausiote",
        "summary": "Yhteenveto",
        "opening": "Alkusaldo",
        "funded": "Myönnetty tälle kuulle",
        "spent": "Käytetty",
        "refunded": "Palautettu",
        "expired": "Vanheni kuun päättyessä",
        "other": "Muut siirrot",
        "closing": "Loppusaldo",
        "held": "Varattu (avoimet varaukset)",
        "client_share": "Omavastuut (maksettu suoraan palveluyritykselle)",
        "charges": "Maksut",
        "refunds": "Palautukset",
        "date": "Päivä",
        "provider": "Palveluyritys",
        "service": "Palvelu",
        "quantity": "Määrä",
        "amount": "Summa",
        "share": "Omavastuu",
        "none": "Ei tapahtumia.",
        "open": "Kuukausi on vielä kesken; luvut voivat muuttua.",
        "services": "Palvelut",
        "wallet_chart": "Myönnetty ja käytetty kuukausittain",
        "months_chart": "Myönnetty ja käytetty kuukausittain, koko alue",
        "chart_desc": "Pylväät kuukausittain: myönnetty ja käytetty (palautukset vähennetty).",
        "no_data": "Ei tietoja.",
        "use_rate": "käyttöaste",
        "spent_net": "Käytetty (palautukset vähennetty)",
        "corrections": "Korjaukset",
        "corrections_note": "Hyvinvointialue korjasi nämä maksut kuukauden päätyttyä. Summa "
        "palautui hyvinvointialueelle palveluntuottajalta, ei budjettiin.",
        "reason": "Syy",
    },
    "sv": {
        "title": "Månadsutdrag",
        "summary": "Sammanfattning",
        "opening": "Ingående saldo",
        "funded": "Beviljat för månaden",
        "spent": "Använt",
        "refunded": "Återbetalt",
        "expired": "Gick ut när månaden tog slut",
        "other": "Övriga överföringar",
        "closing": "Utgående saldo",
        "held": "Reserverat (öppna reservationer)",
        "client_share": "Självrisker (betalade direkt till tjänsteföretaget)",
        "charges": "Betalningar",
        "refunds": "Återbetalningar",
        "date": "Datum",
        "provider": "Tjänsteföretag",
        "service": "Tjänst",
        "quantity": "Mängd",
        "amount": "Belopp",
        "share": "Självrisk",
        "none": "Inga händelser.",
        "open": "Månaden pågår ännu; siffrorna kan ändras.",
        "services": "Tjänster",
        "wallet_chart": "Beviljat och använt per månad",
        "months_chart": "Beviljat och använt per månad, hela området",
        "chart_desc": "Staplar per månad: beviljat och använt (återbetalningar avdragna).",
        "no_data": "Inga uppgifter.",
        "use_rate": "användningsgrad",
        "spent_net": "Använt (återbetalningar avdragna)",
        "corrections": "Rättelser",
        "corrections_note": "Välfärdsområdet rättade dessa betalningar efter att månaden tog "
        "slut. Beloppet gick tillbaka till välfärdsområdet från serviceproducenten, inte till "
        "budgeten.",
        "reason": "Orsak",
    },
    "en": {
        "title": "Monthly statement",
        "summary": "Summary",
        "opening": "Opening balance",
        "funded": "Granted for the month",
        "spent": "Spent",
        "refunded": "Refunded",
        "expired": "Expired when the month ended",
        "other": "Other transfers",
        "closing": "Closing balance",
        "held": "Reserved (open holds)",
        "client_share": "Own shares (paid to the provider directly)",
        "charges": "Payments",
        "refunds": "Refunds",
        "date": "Date",
        "provider": "Provider",
        "service": "Service",
        "quantity": "Quantity",
        "amount": "Amount",
        "share": "Own share",
        "none": "No transactions.",
        "open": "The month is not over yet; the figures may still change.",
        "services": "Services",
        "wallet_chart": "Granted and spent by month",
        "months_chart": "Granted and spent by month, whole county",
        "chart_desc": "Bars per month: granted, and spent (net of refunds).",
        "no_data": "No data.",
        "use_rate": "use rate",
        "spent_net": "Spent (net of refunds)",
        "corrections": "Corrections",
        "corrections_note": "The county corrected these payments after the month had ended. "
        "The amount went back to the county from the provider, not to the budget.",
        "reason": "Reason",
    },
}


def eur(cents: int, lang: str) -> str:
    """Euros as people read them: ``1 234,50 €`` (fi, sv) or ``€1,234.50`` (en)."""
    sign = "−" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    if lang == "en":
        return f"{sign}€{whole:,}.{part:02d}"
    return sign + f"{whole:,}".replace(",", "\u00a0") + f",{part:02d}\u00a0€"


def percent(rate: str, lang: str) -> str:
    """A use rate ("20.6", a percentage as text) as the UI's Intl.NumberFormat writes it:
    ``20,6 %`` (fi, sv; a no-break space) or ``20.6%`` (en)."""
    if lang == "en":
        return f"{rate}%"
    return rate.replace(".", ",").replace("-", "−") + "\u00a0%"


def month_name(period: str, lang: str) -> str:
    y, m = parse_period(period)
    return f"{MONTHS[lang][m - 1]} {y}"


def local_date(iso: str) -> str:
    d = datetime.fromisoformat(iso).astimezone(HELSINKI).date()
    return f"{d.day}.{d.month}.{d.year}"


# --- CSV and HTML ---------------------------------------------------------------------------

CSV_FIELDS = (
    "period",
    "envelope_id",
    "envelope",
    "row",
    "date",
    "provider",
    "service",
    "quantity",
    "amount_cents",
    "client_share_cents",
)


def statement_csv(st: Statement) -> bytes:
    """One row per movement, signed as it moved the envelope: per envelope, ``opening`` plus
    every other row's ``amount_cents`` equals ``closing``. Amounts and quantities are numbers;
    provider names and other text go through ``csv_export``'s formula neutralisation."""
    rows: list[list[Cell]] = []
    for e in st.envelopes:

        def row(kind: str, amount: int, e: EnvelopeStatement = e, **kw: Cell) -> None:
            rows.append(
                [
                    st.period,
                    e.envelope_id,
                    e.label,
                    kind,
                    kw.get("date"),
                    kw.get("provider"),
                    kw.get("service"),
                    kw.get("quantity"),
                    amount,
                    kw.get("share"),
                ]
            )

        row("opening", e.opening_cents)
        if e.funded_cents:
            row("funded", e.funded_cents)
        for c in e.charges:
            row(
                "charge",
                -c.amount_cents,
                date=c.date,
                provider=c.provider,
                service=c.service,
                quantity=Decimal(c.quantity),
                share=c.client_share_cents,
            )
        for r in e.refunds:
            row("refund", r.amount_cents, date=r.date, provider=r.provider, service=r.services)
        if e.expired_cents:
            row("expired", -e.expired_cents)
        if e.other_cents:
            row("other", e.other_cents)
        row("closing", e.closing_cents)
    # A correction moved no envelope's money (the county took it back from the provider), so
    # its rows name no envelope: per envelope, the sum above still holds.
    for fix in st.corrections:
        rows.append(
            [
                *(st.period, None, None, "correction", fix.date, fix.provider, fix.reason),
                *(None, fix.amount_cents, None),
            ]
        )
    return csv_document(CSV_FIELDS, rows)


PRINT_CSS = """
body{font:16px/1.5 system-ui,sans-serif;color:#111;margin:0 auto;max-width:52rem;padding:1rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.5rem 0 .4rem}
h3{font-size:1.05rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem}
th,td{border-bottom:1px solid #888;padding:.3rem .4rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
caption{text-align:left;font-weight:600;padding:.2rem 0}
.note{border-left:4px solid #555;padding:.2rem .6rem}
@media print{body{font-size:11pt;max-width:none;padding:0}section{break-inside:avoid}
tr{break-inside:avoid}a{color:inherit;text-decoration:none}@page{margin:15mm}}
"""


def _money_rows(e: EnvelopeStatement | Statement, t: dict[str, str], lang: str) -> str:
    items = [
        ("opening", e.opening_cents),
        ("funded", e.funded_cents),
        ("spent", -e.spent_cents),
        ("refunded", e.refunded_cents),
        ("expired", -e.expired_cents),
    ]
    if e.other_cents:
        items.append(("other", e.other_cents))
    items.append(("closing", e.closing_cents))
    if e.held_cents:
        items.append(("held", e.held_cents))
    return "".join(
        f'<tr><th scope="row">{html.escape(t[k])}</th><td class="num">{eur(v, lang)}</td></tr>'
        for k, v in items
    )


def statement_html(st: Statement, lang: str) -> str:
    """A printable, accessible page: headings per envelope, tables with captions and
    header cells, the viewer's language in ``lang``, a print stylesheet, no script."""
    t = TEXT[lang]
    esc = html.escape
    month = month_name(st.period, lang)
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(t['title'])} {esc(month)} – {esc(st.client_name)}</title>",
        f"<style>{PRINT_CSS}</style></head><body><main>",
        f"<header><h1>{esc(t['title'])}: {esc(month)}</h1>",
        f"<p>{esc(st.client_name)} · {esc(st.period)}</p></header>",
    ]
    if not st.closed:
        parts.append(f'<p class="note" role="note">{esc(t["open"])}</p>')
    parts += [
        '<section aria-labelledby="summary">',
        f'<h2 id="summary">{esc(t["summary"])}</h2>',
        f"<table><caption>{esc(t['summary'])}</caption><tbody>",
        _money_rows(st, t, lang),
    ]
    if st.client_share_cents:
        parts.append(
            f'<tr><th scope="row">{esc(t["client_share"])}</th>'
            f'<td class="num">{eur(st.client_share_cents, lang)}</td></tr>'
        )
    parts.append("</tbody></table></section>")
    for i, e in enumerate(st.envelopes):
        hid = f"env-{i}"
        parts += [
            f'<section aria-labelledby="{hid}"><h2 id="{hid}">{esc(e.label)}</h2>',
            f"<p>{esc(t['services'])}: {esc(', '.join(e.services))}</p>",
            f"<table><caption>{esc(t['summary'])}: {esc(e.label)}</caption><tbody>",
            _money_rows(e, t, lang),
            "</tbody></table>",
            f"<h3>{esc(t['charges'])}</h3>",
        ]
        if e.charges:
            parts.append(
                f"<table><caption>{esc(t['charges'])}: {esc(e.label)}</caption><thead><tr>"
                f'<th scope="col">{esc(t["date"])}</th><th scope="col">{esc(t["provider"])}</th>'
                f'<th scope="col">{esc(t["service"])}</th>'
                f'<th scope="col" class="num">{esc(t["quantity"])}</th>'
                f'<th scope="col" class="num">{esc(t["amount"])}</th>'
                f'<th scope="col" class="num">{esc(t["share"])}</th></tr></thead><tbody>'
            )
            for c in e.charges:
                parts.append(
                    f"<tr><td>{local_date(c.date)}</td><td>{esc(c.provider)}</td>"
                    f'<td>{esc(c.service_name)}</td><td class="num">{esc(c.quantity)}</td>'
                    f'<td class="num">{eur(c.amount_cents, lang)}</td>'
                    f'<td class="num">{eur(c.client_share_cents, lang)}</td></tr>'
                )
            parts.append("</tbody></table>")
        else:
            parts.append(f"<p>{esc(t['none'])}</p>")
        if e.refunds:
            parts.append(
                f"<h3>{esc(t['refunds'])}</h3>"
                f"<table><caption>{esc(t['refunds'])}: {esc(e.label)}</caption><thead><tr>"
                f'<th scope="col">{esc(t["date"])}</th><th scope="col">{esc(t["provider"])}</th>'
                f'<th scope="col">{esc(t["service"])}</th>'
                f'<th scope="col" class="num">{esc(t["amount"])}</th></tr></thead><tbody>'
            )
            for r in e.refunds:
                parts.append(
                    f"<tr><td>{local_date(r.date)}</td><td>{esc(r.provider)}</td>"
                    f"<td>{esc(r.services)}</td>"
                    f'<td class="num">{eur(r.amount_cents, lang)}</td></tr>'
                )
            parts.append("</tbody></table>")
        parts.append("</section>")
    if st.corrections:
        parts += [
            '<section aria-labelledby="corrections">',
            f'<h2 id="corrections">{esc(t["corrections"])}</h2>',
            f"<p>{esc(t['corrections_note'])}</p>",
            f"<table><caption>{esc(t['corrections'])}</caption><thead><tr>"
            f'<th scope="col">{esc(t["date"])}</th><th scope="col">{esc(t["provider"])}</th>'
            f'<th scope="col">{esc(t["reason"])}</th>'
            f'<th scope="col" class="num">{esc(t["amount"])}</th></tr></thead><tbody>',
        ]
        for fix in st.corrections:
            parts.append(
                f"<tr><td>{local_date(fix.date)}</td><td>{esc(fix.provider)}</td>"
                f"<td>{esc(fix.reason)}</td>"
                f'<td class="num">{eur(fix.amount_cents, lang)}</td></tr>'
            )
        parts.append("</tbody></table></section>")
    parts.append("</main></body></html>")
    return "".join(parts)


# --- SVG ------------------------------------------------------------------------------------

SERIES_COLOURS = ("#1f5f99", "#b35c00")  # dark blue, dark orange: 4.5:1 on white


def bar_chart(
    title: str,
    desc: str,
    labels: list[str] | list[list[str]],
    series: list[tuple[str, list[int]]],
    lang: str,
    *,
    empty: str,
) -> str:
    """A grouped bar chart: one group per label, one bar per series, each with its value as
    text, and a legend. Accessible by <title>/<desc> (role="img") and readable without
    colour: the legend and the values are text. A label may be several lines (a month's name,
    its year, its use rate), each narrow enough to fit under its group of bars."""
    esc = html.escape
    n, k = len(labels), len(series)
    group_w, bar_w, left, top, height = 24 * k + 28, 24, 10, 56, 220
    width = max(320, left * 2 + n * group_w)
    top_value = max([v for _, vals in series for v in vals] + [1])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="t d" lang="{lang}"'
        f' width="{width}" height="{top + height + 60}"'
        f' viewBox="0 0 {width} {top + height + 60}" font-family="sans-serif" font-size="11">',
        f'<title id="t">{esc(title)}</title><desc id="d">{esc(desc)}</desc>',
        '<rect width="100%" height="100%" fill="#fff"/>',
    ]
    for i, (name, _) in enumerate(series):
        # One legend line per series: two names side by side do not fit a 320 px chart.
        x, y = left, 10 + i * 18
        out.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{SERIES_COLOURS[i % 2]}"/>'
            f'<text x="{x + 16}" y="{y + 10}">{esc(name)}</text>'
        )
    base = top + height
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="#333"/>')
    if not labels:
        out.append(f'<text x="{left}" y="{top + 20}">{esc(empty)}</text>')
    for g, label in enumerate(labels):
        gx = left + g * group_w + 14
        lines = [label] if isinstance(label, str) else label
        for i, (name, vals) in enumerate(series):
            v = max(vals[g], 0)
            # The tallest bar leaves room above it for its value, which reads upwards from
            # the bar's top (below it would run into the month's label).
            h = round((height - 70) * v / top_value)
            x = gx + i * bar_w
            out.append(
                f'<rect x="{x}" y="{base - h}" width="{bar_w - 4}" height="{h}"'
                f' fill="{SERIES_COLOURS[i % 2]}"><title>{esc(name)} {esc(" ".join(lines))}: '
                f"{esc(eur(vals[g], lang))}</title></rect>"
                f'<text x="{x + (bar_w - 4) / 2}" y="{base - h - 4}" text-anchor="start"'
                f' transform="rotate(-90 {x + (bar_w - 4) / 2} {base - h - 4})">'
                f"{esc(eur(vals[g], lang))}</text>"
            )
        mid = gx + (k * bar_w) / 2
        out.append(
            f'<text x="{mid}" y="{base + 16}" text-anchor="middle">'
            + "".join(
                f'<tspan x="{mid}" dy="{0 if j == 0 else 14}">{esc(line)}</tspan>'
                for j, line in enumerate(lines)
            )
            + "</text>"
        )
    out.append("</svg>")
    return "".join(out)


def svg_response(text: str) -> Response[str]:
    return Response(text, media_type="image/svg+xml; charset=utf-8")


def csv_response(body: bytes, name: str) -> Response[bytes]:
    # Litestar adds "; charset=utf-8" to a text/ type itself (naming it here doubled it).
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def wallet_chart(periods: list[str], granted: list[int], spent: list[int], lang: str) -> str:
    """A wallet's months: granted vs spent (net of refunds), one bar pair per month."""
    t = TEXT[lang]
    return bar_chart(
        t["wallet_chart"],
        t["chart_desc"],
        [month_name(p, lang) for p in periods],
        [(t["funded"], granted), (t["spent"], spent)],
        lang,
        empty=t["no_data"],
    )


def months_chart(per: dict[str, list[int]], lang: str) -> str:
    """The monthly report: granted vs spent (net of refunds) per month, from ``per`` (period ->
    [funded, spent, refunded] cents), with the use rate in the month's label."""
    t = TEXT[lang]
    periods = sorted(per)
    labels: list[list[str]] = []
    for p in periods:
        # Three short lines, so no label is wider than its bars: month, year, use rate.
        rate = reports.use_rate(per[p][1], per[p][2], per[p][0])
        month, year = month_name(p, lang).rsplit(" ", 1)
        labels.append([month, year] + ([percent(rate, lang)] if rate is not None else []))
    return bar_chart(
        t["months_chart"],
        t["chart_desc"] + f" {t['use_rate']} = ({t['spent']} − {t['refunded']}) / {t['funded']}.",
        labels,
        [
            (t["funded"], [per[p][0] for p in periods]),
            (t["spent_net"], [per[p][1] - per[p][2] for p in periods]),
        ],
        lang,
        empty=t["no_data"],
    )
