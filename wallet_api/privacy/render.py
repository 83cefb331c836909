"""The right-of-access export as a printable page: one section per kind of data, each a table
with a caption and header cells, in the reader's language, every value escaped, no script.

The page shares the statement's print stylesheet (and so its Content-Security-Policy hash).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from payments.ledger.periods import HELSINKI
from wallet_api.reporting.render import PRINT_CSS, eur

# The sections in the order a person reads them: who, what was decided, the money, who else
# may act, devices, notifications, and who looked.
ORDER = (
    "person",
    "people",
    "decisions",
    "wallet",
    "statements",
    "transfers",
    "charges",
    "holds",
    "payment_requests",
    "payment_codes",
    "trusted_providers",
    "carers",
    "qr_cards",
    "invites",
    "passkeys",
    "sessions",
    "api_keys",
    "push_devices",
    "notification_settings",
    "low_balance_alerts",
    "sms_numbers",
    "sms_texts",
    "notifications",
    "audit",
    "not_included",
)

# (title, what it is) per section and language.
SECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "fi": {
        "person": ("Henkilötiedot", "Nimi, puhelinnumero ja kieli, kuten ne on tallennettu."),
        "people": ("Käyttäjätunnukset", "Tunnukset, joilla kirjaudut palveluun."),
        "decisions": ("Budjettipäätökset", "Hyvinvointialueen päätökset ja niiden rivit."),
        "wallet": ("Budjetti", "Budjetin tilit ja niiden saldot nyt."),
        "statements": (
            "Kuukausiotteet",
            "Jokaisen kuukauden summat, kuten kuukausiote ne näyttää.",
        ),
        "transfers": ("Kaikki rahansiirrot", "Jokainen siirto budjetin tileille ja niiltä."),
        "charges": ("Maksut", "Palveluyritysten maksut riveineen, palautukset ja korjaukset."),
        "holds": ("Varaukset ja käynnit", "Käyntien ja maksupyyntöjen varaamat rahat."),
        "payment_requests": ("Maksupyynnöt", "Pyynnöt, jotka odottivat hyväksyntää."),
        "payment_codes": ("Maksukoodit", "QR-koodit ja lyhyet koodit, joilla maksettiin."),
        "trusted_providers": ("Luotetut palveluyritykset", "Yritykset ja niiden enimmäissummat."),
        "carers": ("Omaiset ja luvat", "Kuka saa hoitaa asioitasi ja mitä."),
        "qr_cards": ("Maksukortit", "Tulostetut maksukortit. PIN-koodia ei tallenneta luettavana."),
        "invites": ("Kutsut", "Kutsut luoda tunnus tai uusi kirjautumisavain."),
        "passkeys": ("Laitteet (kirjautumisavaimet)", "Laitteet, joilla kirjaudut."),
        "sessions": ("Kirjautumiset", "Milloin olet kirjautunut ja milloin kirjautuminen päättyi."),
        "api_keys": ("Ohjelmointiavaimet", "Avaimet järjestelmien väliseen käyttöön."),
        "push_devices": ("Ilmoituslaitteet", "Laitteet, joihin ilmoitukset lähetetään."),
        "notification_settings": ("Ilmoitusasetukset", "Mistä haluat ilmoituksen ja miten."),
        "low_balance_alerts": ("Vähäisen saldon ilmoitukset", "Milloin saldo oli vähissä."),
        "sms_numbers": (
            "Tekstiviestinumerot",
            "Numerot, joihin budjetin tekstiviestit lähetetään.",
        ),
        "sms_texts": (
            "Tekstiviestit",
            "Lähetetyt tekstiviestit. Koodeja ei tallenneta luettavana.",
        ),
        "notifications": ("Tapahtumat", "Budjetin tapahtumat, joista lähti ilmoitus."),
        "audit": ("Kuka katsoi tai muutti tietojasi", "Jokainen katselu ja muutos, vanhin ensin."),
        "not_included": ("Mitä tässä ei ole", "Tekniset tiedot, jotka eivät kerro sinusta."),
    },
    "sv": {
        "person": ("Personuppgifter", "Namn, telefonnummer och språk, så som de sparats."),
        "people": ("Användarkonton", "Kontona som du loggar in med."),
        "decisions": ("Budgetbeslut", "Välfärdsområdets beslut och deras rader."),
        "wallet": ("Budgeten", "Budgetens konton och deras saldon nu."),
        "statements": ("Månadsutdrag", "Varje månads summor, så som månadsutdraget visar dem."),
        "transfers": ("Alla överföringar", "Varje överföring till och från budgetens konton."),
        "charges": ("Betalningar", "Tjänsteföretagens betalningar, återbetalningar, rättelser."),
        "holds": ("Reservationer och besök", "Pengar som besök och betalningsbegäran reserverat."),
        "payment_requests": ("Betalningsbegäran", "Begäran som väntade på godkännande."),
        "payment_codes": (
            "Betalningskoder",
            "QR-koder och korta koder som användes för att betala.",
        ),
        "trusted_providers": ("Betrodda tjänsteföretag", "Företagen och deras gränser."),
        "carers": ("Anhöriga och fullmakter", "Vem som får sköta dina ärenden och vad."),
        "qr_cards": ("Betalkort", "Utskrivna betalkort. PIN-koden sparas inte läsbar."),
        "invites": ("Inbjudningar", "Inbjudningar att skapa ett konto eller en ny nyckel."),
        "passkeys": ("Enheter (nycklar)", "Enheterna som du loggar in med."),
        "sessions": ("Inloggningar", "När du loggat in och när inloggningen tog slut."),
        "api_keys": ("API-nycklar", "Nycklar för system som använder tjänsten."),
        "push_devices": ("Enheter för aviseringar", "Enheterna som aviseringarna skickas till."),
        "notification_settings": ("Aviseringsinställningar", "Vad du vill aviseras om och hur."),
        "low_balance_alerts": ("Aviseringar om lågt saldo", "När saldot var lågt."),
        "sms_numbers": ("Nummer för sms", "Numren som budgetens sms skickas till."),
        "sms_texts": ("Sms", "Skickade sms. Koder sparas inte läsbara."),
        "notifications": ("Händelser", "Händelser i budgeten som det kom en avisering om."),
        "audit": ("Vem som tittat på eller ändrat dina uppgifter", "Varje gång, äldst först."),
        "not_included": ("Vad som inte finns här", "Tekniska uppgifter som inte gäller dig."),
    },
    "en": {
        "person": ("Personal details", "Name, phone number and language, as stored."),
        "people": ("Accounts", "The accounts you sign in with."),
        "decisions": ("Budget decisions", "The county's decisions and their lines."),
        "wallet": ("Budget", "The budget's accounts and their balances now."),
        "statements": ("Monthly statements", "Each month's totals, as the statement shows them."),
        "transfers": ("Every money transfer", "Every transfer to and from the budget's accounts."),
        "charges": (
            "Payments",
            "Service providers' charges with their lines, refunds, corrections.",
        ),
        "holds": ("Holds and visits", "Money reserved by visits and payment requests."),
        "payment_requests": ("Payment requests", "Requests that waited for approval."),
        "payment_codes": ("Pay codes", "QR codes and short codes used to pay."),
        "trusted_providers": ("Trusted service providers", "The providers and their limits."),
        "carers": ("Carers and permissions", "Who may act for you, and what they may do."),
        "qr_cards": ("Payment cards", "Printed payment cards. The PIN is not stored readably."),
        "invites": ("Invitations", "Invitations to make an account or a new passkey."),
        "passkeys": ("Devices (passkeys)", "The devices you sign in with."),
        "sessions": ("Sign-ins", "When you signed in and when each sign-in ended."),
        "api_keys": ("API keys", "Keys for systems that use the service."),
        "push_devices": ("Notification devices", "The devices notifications are sent to."),
        "notification_settings": ("Notification settings", "What you hear about, and how."),
        "low_balance_alerts": ("Low balance alerts", "When a balance ran low."),
        "sms_numbers": ("Text message numbers", "The numbers the budget's text messages go to."),
        "sms_texts": ("Text messages", "The text messages sent. Codes are not stored readable."),
        "notifications": ("Events", "Events in the budget that were notified."),
        "audit": ("Who looked at or changed your data", "Every view and change, oldest first."),
        "not_included": ("What is not here", "Technical records that say nothing about you."),
    },
}

TEXT: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Kaikki tietosi",
        "for": "Tiedot henkilöstä",
        "made": "Koottu",
        "by": "Kokoaja",
        "county": "Hyvinvointialue",
        "none": "Ei tietoja.",
        "yes": "kyllä",
        "no": "ei",
    },
    "sv": {
        "title": "Alla dina uppgifter",
        "for": "Uppgifter om",
        "made": "Sammanställt",
        "by": "Sammanställt av",
        "county": "Välfärdsområde",
        "none": "Inga uppgifter.",
        "yes": "ja",
        "no": "nej",
    },
    "en": {
        "title": "All your data",
        "for": "Data about",
        "made": "Made",
        "by": "Made by",
        "county": "County",
        "none": "No data.",
        "yes": "yes",
        "no": "no",
    },
}

# Column names people read; a field without one is shown by its own name.
LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "id": "Tunniste",
        "first_name": "Etunimi",
        "last_name": "Sukunimi",
        "phone": "Puhelin",
        "language": "Kieli",
        "external_ref": "Viite alueen järjestelmässä",
        "created_at": "Luotu",
        "role": "Rooli",
        "display_name": "Nimi",
        "removed_at": "Poistettu",
        "valid_from": "Alkaen",
        "valid_to": "Asti",
        "carry_over": "Siirto seuraavaan kuuhun",
        "carry_over_cap_cents": "Siirron enimmäismäärä",
        "decided_by": "Päättäjä",
        "lines": "Rivit",
        "label": "Nimi",
        "services": "Palvelut",
        "service": "Palvelu",
        "monthly_amount_cents": "Kuukaudessa",
        "voucher_value_cents": "Palvelusetelin arvo",
        "hours_per_week": "Tuntia viikossa",
        "envelope_id": "Tili",
        "accounts": "Tilit",
        "kind": "Laji",
        "balance_cents": "Saldo",
        "funded_period": "Viimeksi rahoitettu kuukausi",
        "expired_period": "Viimeksi päättynyt kuukausi",
        "period": "Kuukausi",
        "closed": "Päättynyt",
        "opening_cents": "Alkusaldo",
        "funded_cents": "Myönnetty",
        "spent_cents": "Käytetty",
        "refunded_cents": "Palautettu",
        "expired_cents": "Palautunut",
        "other_cents": "Muut",
        "closing_cents": "Loppusaldo",
        "notice_sent_at": "Ilmoitettu",
        "amount_cents": "Summa",
        "from_account": "Tililtä",
        "to_account": "Tilille",
        "charge_id": "Maksu",
        "provider": "Palveluyritys",
        "status": "Tila",
        "total_cents": "Yhteensä",
        "client_share_cents": "Omavastuu",
        "quantity": "Määrä",
        "unit_price_cents": "Yksikköhinta",
        "refunds": "Palautukset",
        "to_envelope": "Takaisin budjettiin",
        "reason": "Syy",
        "corrections": "Korjaukset",
        "requested_at": "Pyydetty",
        "requested_by": "Pyytäjä",
        "decided_at": "Päätetty",
        "decision_note": "Perustelu",
        "purpose": "Tarkoitus",
        "captured_cents": "Veloitettu",
        "expires_at": "Vanhenee",
        "closed_at": "Suljettu",
        "pseudonymised_at": "Tunnistetiedot poistettu",
        "created_by": "Tekijä",
        "used_at": "Käytetty",
        "per_charge_cap_cents": "Enintään maksua kohden",
        "monthly_cap_cents": "Enintään kuukaudessa",
        "month": "Kuukausi",
        "month_spent_cents": "Veloitettu kuussa",
        "added_by": "Lisääjä",
        "direction": "Suunta",
        "carer": "Omainen",
        "scopes": "Luvat",
        "valid_until": "Voimassa asti",
        "accepted_at": "Hyväksytty",
        "declined_at": "Hylätty",
        "revoked_at": "Peruttu",
        "card_number": "Kortin numero",
        "failed_pin_attempts": "Väärät PIN-yritykset",
        "issued_by": "Myöntäjä",
        "locked_at": "Lukittu",
        "name": "Nimi",
        "credential_id": "Avaimen tunniste",
        "backed_up": "Varmuuskopioitu",
        "last_used_at": "Viimeksi käytetty",
        "last_seen_at": "Viimeksi käytössä",
        "ended_at": "Päättynyt",
        "push_service": "Ilmoituspalvelu",
        "last_success_at": "Viimeksi perillä",
        "types": "Ilmoitukset",
        "hide_amounts": "Summat piilossa lukitusnäytöllä",
        "low_balance_cents": "Vähäisen saldon raja",
        "updated_at": "Muutettu",
        "threshold_cents": "Raja",
        "type": "Tapahtuma",
        "detail": "Tiedot",
        "delivered_at": "Välitetty",
        "action": "Toiminto",
        "actor": "Kuka",
        "actor_role": "Rooli",
        "by_client": "Itse",
        "table": "Taulu",
    },
    "sv": {
        "id": "Identifierare",
        "first_name": "Förnamn",
        "last_name": "Efternamn",
        "phone": "Telefon",
        "language": "Språk",
        "external_ref": "Referens i områdets system",
        "created_at": "Skapad",
        "role": "Roll",
        "display_name": "Namn",
        "removed_at": "Borttagen",
        "valid_from": "Från",
        "valid_to": "Till",
        "carry_over": "Överföring till nästa månad",
        "carry_over_cap_cents": "Högst överfört",
        "decided_by": "Beslutad av",
        "lines": "Rader",
        "label": "Namn",
        "services": "Tjänster",
        "service": "Tjänst",
        "monthly_amount_cents": "Per månad",
        "voucher_value_cents": "Servicesedelns värde",
        "hours_per_week": "Timmar per vecka",
        "envelope_id": "Konto",
        "accounts": "Konton",
        "kind": "Typ",
        "balance_cents": "Saldo",
        "funded_period": "Senast finansierade månad",
        "expired_period": "Senast avslutade månad",
        "period": "Månad",
        "closed": "Avslutad",
        "opening_cents": "Ingående saldo",
        "funded_cents": "Beviljat",
        "spent_cents": "Använt",
        "refunded_cents": "Återbetalt",
        "expired_cents": "Återfört",
        "other_cents": "Övrigt",
        "closing_cents": "Utgående saldo",
        "notice_sent_at": "Aviserat",
        "amount_cents": "Belopp",
        "from_account": "Från konto",
        "to_account": "Till konto",
        "charge_id": "Betalning",
        "provider": "Tjänsteföretag",
        "status": "Status",
        "total_cents": "Totalt",
        "client_share_cents": "Självrisk",
        "quantity": "Mängd",
        "unit_price_cents": "Enhetspris",
        "refunds": "Återbetalningar",
        "to_envelope": "Tillbaka till budgeten",
        "reason": "Orsak",
        "corrections": "Rättelser",
        "requested_at": "Begärd",
        "requested_by": "Begärd av",
        "decided_at": "Beslutad",
        "decision_note": "Motivering",
        "purpose": "Syfte",
        "captured_cents": "Debiterat",
        "expires_at": "Går ut",
        "closed_at": "Stängd",
        "pseudonymised_at": "Identitetsuppgifter borttagna",
        "created_by": "Gjord av",
        "used_at": "Använd",
        "per_charge_cap_cents": "Högst per betalning",
        "monthly_cap_cents": "Högst per månad",
        "month": "Månad",
        "month_spent_cents": "Debiterat under månaden",
        "added_by": "Tillagd av",
        "direction": "Riktning",
        "carer": "Anhörig",
        "scopes": "Rättigheter",
        "valid_until": "Giltig till",
        "accepted_at": "Godkänd",
        "declined_at": "Avböjd",
        "revoked_at": "Återkallad",
        "card_number": "Kortnummer",
        "failed_pin_attempts": "Felaktiga PIN-försök",
        "issued_by": "Utfärdad av",
        "locked_at": "Låst",
        "name": "Namn",
        "credential_id": "Nyckelns identifierare",
        "backed_up": "Säkerhetskopierad",
        "last_used_at": "Senast använd",
        "last_seen_at": "Senast aktiv",
        "ended_at": "Avslutad",
        "push_service": "Aviseringstjänst",
        "last_success_at": "Senast levererad",
        "types": "Aviseringar",
        "hide_amounts": "Belopp dolda på låsskärmen",
        "low_balance_cents": "Gräns för lågt saldo",
        "updated_at": "Ändrad",
        "threshold_cents": "Gräns",
        "type": "Händelse",
        "detail": "Uppgifter",
        "delivered_at": "Förmedlad",
        "action": "Åtgärd",
        "actor": "Vem",
        "actor_role": "Roll",
        "by_client": "Själv",
        "table": "Tabell",
    },
    "en": {
        "id": "Id",
        "first_name": "First name",
        "last_name": "Last name",
        "phone": "Phone",
        "language": "Language",
        "external_ref": "Reference in the county's system",
        "created_at": "Created",
        "role": "Role",
        "display_name": "Name",
        "removed_at": "Removed",
        "valid_from": "From",
        "valid_to": "To",
        "carry_over": "Carried to next month",
        "carry_over_cap_cents": "Most carried over",
        "decided_by": "Decided by",
        "lines": "Lines",
        "label": "Name",
        "services": "Services",
        "service": "Service",
        "monthly_amount_cents": "Per month",
        "voucher_value_cents": "Voucher value",
        "hours_per_week": "Hours a week",
        "envelope_id": "Account",
        "accounts": "Accounts",
        "kind": "Kind",
        "balance_cents": "Balance",
        "funded_period": "Last month funded",
        "expired_period": "Last month closed",
        "period": "Month",
        "closed": "Over",
        "opening_cents": "Opening balance",
        "funded_cents": "Granted",
        "spent_cents": "Spent",
        "refunded_cents": "Refunded",
        "expired_cents": "Returned",
        "other_cents": "Other",
        "closing_cents": "Closing balance",
        "notice_sent_at": "Notice sent",
        "amount_cents": "Amount",
        "from_account": "From account",
        "to_account": "To account",
        "charge_id": "Payment",
        "provider": "Service provider",
        "status": "Status",
        "total_cents": "Total",
        "client_share_cents": "Own share",
        "quantity": "Quantity",
        "unit_price_cents": "Unit price",
        "refunds": "Refunds",
        "to_envelope": "Back to the budget",
        "reason": "Reason",
        "corrections": "Corrections",
        "requested_at": "Asked",
        "requested_by": "Asked by",
        "decided_at": "Decided",
        "decision_note": "Note",
        "purpose": "Purpose",
        "captured_cents": "Charged",
        "expires_at": "Expires",
        "closed_at": "Closed",
        "pseudonymised_at": "Identifying details removed",
        "created_by": "Made by",
        "used_at": "Used",
        "per_charge_cap_cents": "At most per payment",
        "monthly_cap_cents": "At most per month",
        "month": "Month",
        "month_spent_cents": "Charged in the month",
        "added_by": "Added by",
        "direction": "Direction",
        "carer": "Carer",
        "scopes": "Permissions",
        "valid_until": "Valid until",
        "accepted_at": "Accepted",
        "declined_at": "Declined",
        "revoked_at": "Revoked",
        "card_number": "Card number",
        "failed_pin_attempts": "Wrong PIN attempts",
        "issued_by": "Issued by",
        "locked_at": "Locked",
        "name": "Name",
        "credential_id": "Key id",
        "backed_up": "Backed up",
        "last_used_at": "Last used",
        "last_seen_at": "Last active",
        "ended_at": "Ended",
        "push_service": "Push service",
        "last_success_at": "Last delivered",
        "types": "Notifications",
        "hide_amounts": "Amounts hidden on the lock screen",
        "low_balance_cents": "Low balance limit",
        "updated_at": "Changed",
        "threshold_cents": "Limit",
        "type": "Event",
        "detail": "Details",
        "delivered_at": "Passed on",
        "action": "Action",
        "actor": "Who",
        "actor_role": "Role",
        "by_client": "Yourself",
        "table": "Table",
    },
}


# Why a kind of record is not in the export, for readers of Finnish and Swedish (the JSON, and
# the English page, say it in ``access_export.EXCLUDED``'s words).
REASONS: dict[str, dict[str, str]] = {
    "fi": {
        "idempotency_keys": "Tallennetut vastaukset uudelleen lähetettyihin pyyntöihin (30 "
        "päivää), ettei mitään tehdä kahdesti; niissä olevat maksut ja palautukset ovat tässä.",
        "rate_counters": "Yrityskerrat osoitetta tai numeroa kohden muutaman minuutin ajalta "
        "arvailun estämiseksi; teknisiä ja lyhytikäisiä.",
        "webauthn_challenges": "Kesken olevan kirjautumisen kertakäyttöiset arvot; ne "
        "poistetaan käytettäessä ja vanhenevat minuuteissa.",
        "provider_owners": "Palveluyrityksen omistajat; ei koskaan asiakas.",
        "provider_profiles": "Palveluyrityksen yritys- ja pankkitiedot ja yhteyshenkilö.",
        "provider_price_versions": "Palveluyrityksen hinnasto ja sen hyväksyjä; ei asiakkaasta.",
        "settlements": "Palveluyritysten tilitykset; niihin kuuluvat maksusi ovat tässä.",
        "settlement_lines": "Tilitysten rivit; niihin kuuluvat maksusi ovat tässä.",
        "sms_reply_codes": "Maksupyyntöjen tekstiviestien kertakäyttökoodien tiivisteet "
        "vastausten tarkistamiseen; koodi on salainen, ja viestit ovat tässä.",
        "webhook_endpoints": "Hyvinvointialueen järjestelmäliittymät; ei koskaan asiakas.",
        "webhook_deliveries": "Liittymiin lähetetyt kopiot tapahtumista; samat tapahtumat ovat "
        "kohdassa Tapahtumat.",
    },
    "sv": {
        "idempotency_keys": "Sparade svar på begäran som skickats på nytt (30 dagar), så att "
        "inget görs två gånger; betalningarna och återbetalningarna i dem finns här.",
        "rate_counters": "Antal försök per adress eller nummer under några minuter, mot "
        "gissning; tekniska och kortlivade.",
        "webauthn_challenges": "Engångsvärden för en pågående inloggning; de raderas när de "
        "används och går ut på några minuter.",
        "provider_owners": "Tjänsteföretagets ägare; aldrig en klient.",
        "provider_profiles": "Tjänsteföretagets företags- och bankuppgifter och kontaktperson.",
        "provider_price_versions": "Tjänsteföretagets prislista och vem som godkände den; "
        "inte om en klient.",
        "settlements": "Tjänsteföretagens utbetalningar; dina betalningar i dem finns här.",
        "settlement_lines": "Utbetalningarnas rader; dina betalningar i dem finns här.",
        "sms_reply_codes": "Hashvärden av engångskoderna i betalningsbegärans sms, för att "
        "kontrollera svar; en kod är hemlig, och meddelandena finns här.",
        "webhook_endpoints": "Välfärdsområdets integrationer; aldrig en klient.",
        "webhook_deliveries": "Kopior av händelser som skickats till integrationerna; samma "
        "händelser finns under Händelser.",
    },
}


def _when(text: str) -> str:
    """An ISO instant as a Helsinki date and time (a date stays a date)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if len(text) <= 10:
        return f"{moment.day}.{moment.month}.{moment.year}"
    local = moment.astimezone(HELSINKI)
    return f"{local.day}.{local.month}.{local.year} {local.hour:02d}:{local.minute:02d}"


def _value(key: str, value: Any, lang: str) -> str:
    """One cell, escaped: money as euros, instants in Helsinki time, lists and objects spelled
    out, nested rows as a small table."""
    t = TEXT[lang]
    esc = html.escape
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return esc(t["yes"] if value else t["no"])
    if key.endswith("_cents") and isinstance(value, int):
        return eur(value, lang)
    if (key.endswith("_at") or key in ("valid_from", "valid_to", "valid_until")) and isinstance(
        value, str
    ):
        return esc(_when(value))
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return _table(key, value, lang, nested=True)
        return esc(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return esc("; ".join(f"{k}: {v}" for k, v in value.items()))
    return esc(str(value))


def _label(key: str, lang: str) -> str:
    return html.escape(LABELS[lang].get(key, key.replace("_", " ")))


def _table(caption: str, rows: list[dict[str, Any]], lang: str, *, nested: bool = False) -> str:
    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    head = "".join(f'<th scope="col">{_label(k, lang)}</th>' for k in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_value(k, row.get(k), lang)}</td>" for k in columns) + "</tr>"
        for row in rows
    )
    cap = "" if nested else f"<caption>{html.escape(caption)}</caption>"
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(caption: str, row: dict[str, Any], lang: str) -> str:
    body = "".join(
        f'<tr><th scope="row">{_label(k, lang)}</th><td>{_value(k, v, lang)}</td></tr>'
        for k, v in row.items()
    )
    return f"<table><caption>{html.escape(caption)}</caption><tbody>{body}</tbody></table>"


def export_html(data: dict[str, Any], lang: str) -> str:
    """A printable, accessible page of the export: a heading and a table per section."""
    lang = lang if lang in TEXT else "fi"
    t, sections, esc = TEXT[lang], SECTIONS[lang], html.escape
    person = data.get("person") or {}
    name = f"{person.get('first_name', '')} {person.get('last_name', '')}".strip()
    meta = data.get("export") or {}
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(t['title'])} – {esc(name)}</title>",
        f"<style>{PRINT_CSS}</style></head><body><main>",
        f"<header><h1>{esc(t['title'])}</h1>",
        f"<p>{esc(t['for'])}: {esc(name)}</p>",
        f"<p>{esc(t['county'])}: {esc(str((meta.get('organizer') or {}).get('name') or ''))}</p>",
        f"<p>{esc(t['made'])}: {esc(_when(str(meta.get('generated_at', ''))))} · "
        f"{esc(t['by'])}: {esc(str((meta.get('requested_by') or {}).get('name') or ''))}</p>",
        "</header>",
    ]
    for key in ORDER:
        title, intro = sections[key]
        value = data.get(key)
        hid = f"s-{key.replace('_', '-')}"
        parts.append(f'<section aria-labelledby="{hid}"><h2 id="{hid}">{esc(title)}</h2>')
        parts.append(f"<p>{esc(intro)}</p>")
        if key == "wallet" and isinstance(value, dict):
            value = value.get("accounts") or []
        if key == "not_included" and isinstance(value, list):
            said = REASONS.get(lang, {})
            value = [{**row, "reason": said.get(row["table"], row["reason"])} for row in value]
        if isinstance(value, dict):
            parts.append(_facts(title, value, lang))
        elif value:
            parts.append(_table(title, value, lang))
        else:
            parts.append(f"<p>{esc(t['none'])}</p>")
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "".join(parts)
