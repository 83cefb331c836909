"""The texts an SMS carries, in plain Finnish, Swedish and English.

The words are the app's glossary's (pwa/glossary.json: "kuukausiote", "asiakasohjaaja",
"klienthandledare", ...). A carer's texts start with the client's first name (``Aino: ``), so
a carer of several clients knows whose wallet each is about.

Each fits in one 160-character GSM-7 message with realistic values
(``tests/unit/test_sms_texts.py`` measures every template); money is written ``35,00 €`` in
Finnish and Swedish and ``€35.00`` in English. ``{code}`` stays in the stored text and is filled
in only when it is sent (``notifications.sms``).
"""

from __future__ import annotations

from datetime import datetime

from payments.ledger.periods import HELSINKI

LANGUAGES = ("fi", "sv", "en")

# The GSM 03.38 basic set; the extension set's characters cost two (an escape and the char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")
ONE_SMS = 160

TEXTS: dict[str, dict[str, str]] = {
    "receipt": {
        "fi": "Maksettu {amount}: {provider}. Budjettia jäljellä {balance}.",
        "sv": "Betalt {amount}: {provider}. Kvar i budgeten {balance}.",
        "en": "Paid {amount}: {provider}. Left in your budget {balance}.",
    },
    "refund": {
        "fi": "{amount} palautettiin budjettiisi.",
        "sv": "{amount} betalades tillbaka till din budget.",
        "en": "{amount} was paid back to your budget.",
    },
    "request": {
        "fi": "{provider} pyytää {amount}. Hyväksy: vastaa KYLLÄ {code}. "
        "Hylkää: vastaa EI {code}. Voimassa klo {until} asti.",
        "sv": "{provider} ber om {amount}. Godkänn: svara JA {code}. "
        "Avslå: svara NEJ {code}. Gäller till kl. {until}.",
        "en": "{provider} asks for {amount}. To pay, reply YES {code}. "
        "To refuse, reply NO {code}. Valid until {until}.",
    },
    "low_balance": {
        "fi": "Budjettisi on vähissä. Jäljellä {balance}.",
        "sv": "Din budget börjar ta slut. Kvar {balance}.",
        "en": "Your budget is running low. {balance} left.",
    },
    "statement": {
        "fi": "Kuukausiote {period} on valmis. Asiakasohjaajasi voi tulostaa sen sinulle.",
        "sv": "Månadsutdraget för {period} är klart. "
        "Din klienthandledare kan skriva ut det åt dig.",
        "en": "Your monthly statement for {period} is ready. "
        "Your case manager can print it for you.",
    },
    "funding": {
        "fi": "Budjettiisi tuli {amount}. Nyt käytettävissä {balance}.",
        "sv": "Din budget fick {amount}. Nu finns {balance} att använda.",
        "en": "{amount} was added to your budget. You now have {balance}.",
    },
    "confirm": {
        "fi": "Vahvistuskoodi: {code}. Vastaa tähän viestiin koodilla "
        "tai kerro se asiakasohjaajallesi. Koodi on voimassa 15 minuuttia.",
        "sv": "Bekräftelsekod: {code}. Svara på det här meddelandet med koden eller säg den till "
        "din klienthandledare. Koden gäller 15 minuter.",
        "en": "Confirmation code: {code}. Reply to this text with the code, or tell it to your "
        "case manager. It is valid 15 minutes.",
    },
    "confirmed": {
        "fi": "Kiitos! Numero on vahvistettu. Saat nyt tekstiviestejä budjetistasi.",
        "sv": "Tack! Numret är bekräftat. Nu får du sms om din budget.",
        "en": "Thank you! Your number is confirmed. You will now get texts about your budget.",
    },
    "confirm_wrong": {
        "fi": "Koodi ei täsmää tai ei ole enää voimassa. Pyydä asiakasohjaajaltasi uusi koodi.",
        "sv": "Koden stämmer inte eller gäller inte längre. Be din klienthandledare om en ny kod.",
        "en": "The code does not match or is no longer valid. Ask your case manager for a new one.",
    },
    "balance": {
        "fi": "Budjettia jäljellä {balance}.",
        "sv": "Kvar i budgeten {balance}.",
        "en": "Left in your budget {balance}.",
    },
    "approved": {
        "fi": "Hyväksytty. {provider} saa {amount}.",
        "sv": "Godkänt. {provider} får {amount}.",
        "en": "Approved. {provider} gets {amount}.",
    },
    "declined": {
        "fi": "Hylätty. {provider} ei saa rahaa. Rahat ovat yhä budjetissasi.",
        "sv": "Avslaget. {provider} får inga pengar. Pengarna finns kvar i din budget.",
        "en": "Refused. {provider} gets no money. The money stays in your budget.",
    },
    "wrong_code": {
        "fi": "Koodi ei täsmää. Vastaa KYLLÄ tai EI ja viestin koodi, esim. KYLLÄ 1234.",
        "sv": "Koden stämmer inte. Svara JA eller NEJ och koden i meddelandet, t.ex. JA 1234.",
        "en": "The code does not match. Reply YES or NO and the code in the text, e.g. YES 1234.",
    },
    "expired": {
        "fi": "Pyyntö ei ole enää voimassa. Mitään ei maksettu. Pyydä uusi pyyntö palvelusta.",
        "sv": "Begäran gäller inte längre. Inget betalades. Be tjänsten om en ny begäran.",
        "en": "The request is no longer valid. Nothing was paid. Ask the service for a new one.",
    },
    "used": {
        "fi": "Tämä koodi on jo käytetty. Mitään ei muutettu.",
        "sv": "Den här koden är redan använd. Inget ändrades.",
        "en": "This code was already used. Nothing changed.",
    },
    "not_allowed": {
        "fi": "Sinulla ei ole enää oikeutta hyväksyä tätä maksua. Mitään ei muutettu.",
        "sv": "Du har inte längre rätt att godkänna den här betalningen. Inget ändrades.",
        "en": "You may no longer approve this payment. Nothing changed.",
    },
    "help": {
        "fi": "Vastaa KYLLÄ ja koodi maksaaksesi, EI ja koodi hylätäksesi, tai SALDO.",
        "sv": "Svara JA och koden för att betala, NEJ och koden för att avslå, eller SALDO.",
        "en": "Reply YES and the code to pay, NO and the code to refuse, or SALDO.",
    },
}

# Values as long as they get in practice, for measuring (the unit test).
SAMPLES: dict[str, str] = {
    "amount": "1 234,50 €",
    "balance": "12 345,67 €",
    "provider": "Siivouspalvelu Kuura Oy",
    "name": "Aino-Kaarina",
    "code": "4821",
    "until": "14.35",
    "period": "11/2026",
}


def gsm7_length(text: str) -> int | None:
    """Septets ``text`` takes in GSM-7, or None if it needs UCS-2 (70 characters a part)."""
    n = 0
    for ch in text:
        if ch in _GSM7_BASIC:
            n += 1
        elif ch in _GSM7_EXT:
            n += 2
        else:
            return None
    return n


def money(cents: int, language: str) -> str:
    """``1 234,50 €`` (fi, sv) or ``€1,234.50`` (en): plain spaces, which GSM-7 has."""
    euros, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    if language == "en":
        return f"{sign}€{euros:,}.{rest:02d}"
    return f"{sign}{euros:,}".replace(",", " ") + f",{rest:02d} €"


def clock(moment: datetime) -> str:
    """A Helsinki time of day as people write it: ``14.35``."""
    return moment.astimezone(HELSINKI).strftime("%H.%M")


def render(kind: str, language: str, **values: str) -> str:
    """The text of ``kind`` in ``language`` (Finnish if unknown). ``code`` is kept as
    ``{code}`` unless given."""
    template = TEXTS[kind].get(language) or TEXTS[kind]["fi"]
    values.setdefault("code", "{code}")
    return template.format(**values)
