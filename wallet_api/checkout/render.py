"""What checkout renders besides JSON: a QR card's print-ready page."""

from __future__ import annotations

import html

from payments.checkout.cards import CardView
from wallet_api import qr

CARD_CSS = (
    "@page{size:85.6mm 54mm;margin:0}body{font:14pt sans-serif;margin:4mm}"
    ".qr svg{width:30mm;height:30mm}"
)


def card_page(view: CardView) -> str:
    """The card's QR, the client's first name, the help number: one page, card-sized."""
    e = html.escape
    return (
        "<!doctype html><html lang='fi'><meta charset='utf-8'><title>Maksukortti</title>"
        f"<style>{CARD_CSS}</style>"
        f"<div class='qr'>{qr.svg(view.card_number)}</div>"
        f"<p><strong>{e(view.first_name)}</strong><br>{e(view.card_number)}</p>"
        f"<p>{e(view.organizer_name)}: {e(view.help_phone or '')}</p></html>"
    )
