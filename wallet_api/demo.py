"""``wallet demo``: a realistic demo county built from the pilots in shared/seeds.

The services and amounts follow the Kainuu, Eksote and Keusote pilots: carer's leave up to
300 EUR a month, home help and cleaning by the hour, transport by trip, day activity by day.
Seeding runs once per database; every run prints fresh API keys (keys are shown only once).
The providers have bank accounts, so ``wallet settle`` writes a pain.001 file; the Web Push
(VAPID) keys are made once and kept beside the database (:func:`prepare_environment`), so a
phone's push subscription still works after the demo is started again. Unless a real SMS
gateway is configured, the demo starts the fake 46elks gateway on loopback
(:func:`start_fake_sms_gateway`, docs/sms.md): Eino gets his payment requests by SMS and approves
them by a reply sent through the fake.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.engine import make_url

from notifications.models import SMS_EVENTS, SmsOptIn
from notifications.sms_gateway import FakeGateway
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.trust import set_trusted
from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import HELSINKI, current_period, first_day
from payments.marketplace import providers
from payments.models import Client, Organizer, Principal, Provider, ProviderProfile, Wallet
from payments.people.access import create_api_key
from payments.people.invites import format_code, issue_invite_for
from payments.people.mandates import grant_mandate
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from wallet_api.migrate import schema_state, upgrade

DEMO_SLUG = "demo-kainuu"

CATEGORIES = (
    # code, fi, sv, en, unit, cap in cents
    ("kotiapu", "Kotiapu", "Hemhjälp", "Home help", "hour", 4500),
    ("siivous", "Siivous", "Städning", "Cleaning", "hour", 4000),
    ("ateriapalvelu", "Ateriapalvelu", "Måltidsservice", "Meals", "meal", 1200),
    ("kuljetus", "Kuljetus", "Transport", "Transport", "trip", 4000),
    ("paivatoiminta", "Päivätoiminta", "Dagverksamhet", "Day activity", "day", 9000),
    (
        "omaishoidon-vapaa",
        "Omaishoidon vapaa",
        "Ledighet för närståendevård",
        "Carer's leave",
        "day",
        12000,
    ),
)

PROVIDERS = (
    ("Siivouspalvelu Kuura Oy", "2345678-1", {"siivous": 3400, "kotiapu": 3800}),
    ("Taksi Hiltunen", "1572860-0", {"kuljetus": 2500}),
    ("Päiväkeskus Kompassi ry", "0116297-6", {"paivatoiminta": 7500, "ateriapalvelu": 850}),
    ("Hoivakoti Ukkohalla Oy", "2780431-8", {"omaishoidon-vapaa": 10000}),
)

# Each provider's bank account (made-up accounts with valid check digits, each BIC its bank's),
# so a settlement pays every one of them in the pain.001 file.
BANK_ACCOUNTS = {
    "Siivouspalvelu Kuura Oy": ("FI8212345600001239", "NDEAFIHH"),
    "Taksi Hiltunen": ("FI5350001200005673", "OKOYFIHH"),
    "Päiväkeskus Kompassi ry": ("FI3980001400009016", "DABAFIHH"),
    "Hoivakoti Ukkohalla Oy": ("FI5239390000003459", "SBANFIHH"),
}
# The county's paying account: the demo server's WALLET_SETTLEMENT_DEBTOR_* unless set.
DEBTOR = ("Kainuun hyvinvointialue (demo)", "FI8840550000007894", "HELSFIHH")
# The demo's Web Push keys, beside its database (or in the working directory).
VAPID_FILE = "wallet-demo-vapid.json"

CLIENTS = (
    # first, last, phone, lines
    (
        "Aino",
        "Virtanen",
        "040 123 4567",
        (
            ("Omaishoidon vapaat", 30000, ("omaishoidon-vapaa",)),
            ("Kotiapu ja siivous", 40000, ("kotiapu", "siivous")),
        ),
    ),
    (
        "Eino",
        "Korhonen",
        "040 765 4321",
        (
            ("Kuljetus", 15000, ("kuljetus",)),
            ("Päivätoiminta ja ateriat", 60000, ("paivatoiminta", "ateriapalvelu")),
        ),
    ),
    (
        "Helmi",
        "Nieminen",
        "050 555 1234",
        (
            ("Siivous", 5000, ("siivous",)),
            # A service voucher: the wallet pays at most 32 EUR an hour, 2 hours a week (the
            # monthly amount is worked out from the hours); above that is Helmi's own share.
            ("Kotiapu, palveluseteli 32 €/h", None, ("kotiapu",), 3200, "2"),
        ),
    ),
)


# Who gets a passkey invite, by role: everyone the printed guide mentions. A provider's person
# is its owner (named after the business in the demo).
DEMO_PEOPLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Case manager", ("Liisa Asiakasohjaaja",)),
    ("Providers", tuple(name for name, _, _ in PROVIDERS)),
    ("Carers", ("Matti Virtanen",)),
    ("Clients", ("Aino Virtanen", "Eino Korhonen", "Helmi Nieminen")),
)


@dataclass(frozen=True)
class DemoInvite:
    group: str
    name: str
    code: str


@dataclass
class DemoGuide:
    period: str
    keys: dict[str, str] = field(default_factory=dict)
    invites: list[DemoInvite] = field(default_factory=list)
    wallets: dict[str, uuid.UUID] = field(default_factory=dict)
    seeded_now: bool = False
    # Where the demo's Web Push keys are kept (None: they came from WALLET_VAPID_*).
    push_keys: Path | None = None
    # The fake SMS gateway's address (None: a real gateway is configured, or SMS is off).
    sms_gateway: str | None = None


async def seed_demo(db: Database) -> DemoGuide:
    """Create the demo county if it is not there, fund this month, and mint API keys."""
    current, head = await schema_state(db)
    if current != head:
        await upgrade(db)
    period = current_period()
    guide = DemoGuide(period=period)
    async with UnitOfWork(db, readonly=True) as uow:
        org_id = (
            await uow.session.execute(select(Organizer.id).where(Organizer.slug == DEMO_SLUG))
        ).scalar_one_or_none()
    if org_id is None:
        await _create(db, period)
        guide.seeded_now = True
    await _bank_accounts(db)
    await fund_period(db, period)
    async with UnitOfWork(db, readonly=True) as uow:
        org_id = (
            await uow.session.execute(select(Organizer.id).where(Organizer.slug == DEMO_SLUG))
        ).scalar_one()
        principals = (
            (await uow.session.execute(select(Principal).where(Principal.organizer_id == org_id)))
            .scalars()
            .all()
        )
        wallets = (
            await uow.session.execute(
                select(Client.first_name, Wallet.id)
                .join(Wallet, Wallet.client_id == Client.id)
                .where(Client.organizer_id == org_id)
            )
        ).all()
    guide.wallets = {name: wid for name, wid in wallets}
    by_name = {p.display_name: p for p in principals}
    await _sms_optin(db, org_id, guide.wallets["Eino"], by_name["Eino Korhonen"].id)
    for label, name in (
        ("case manager", "Liisa Asiakasohjaaja"),
        ("provider (cleaning)", "Siivouspalvelu Kuura Oy"),
        ("provider (taxi)", "Taksi Hiltunen"),
        ("client Aino", "Aino Virtanen"),
        ("carer of Aino", "Matti Virtanen"),
    ):
        guide.keys[label] = await create_api_key(db, by_name[name].id, name="demo")
    # One-time passkey invites for every person the guide names, so a newcomer can try the
    # app in each role. Issued by no one (the command line's path), like `wallet` commands.
    validity = timedelta(days=7)
    for group, names in DEMO_PEOPLE:
        for name in names:
            issued = await issue_invite_for(db, by_name[name].id, validity)
            guide.invites.append(DemoInvite(group, name, format_code(issued.code)))
    return guide


# Eino has a basic phone: every text, in Finnish, his number confirmed.
SMS_CLIENT = ("Eino", "040 765 4321")


async def _sms_optin(
    db: Database, organizer_id: uuid.UUID, wallet_id: uuid.UUID, principal_id: uuid.UUID
) -> None:
    """Eino's number receives every text (once per database; confirmed, as if he had told the
    case manager his code)."""
    phone = to_e164(SMS_CLIENT[1])
    async with UnitOfWork(db) as uow:
        s = uow.session
        found = (
            await s.execute(
                select(SmsOptIn.id).where(
                    SmsOptIn.wallet_id == wallet_id, SmsOptIn.phone_e164 == phone
                )
            )
        ).first()
        if found is None:
            now = utcnow()
            s.add(
                SmsOptIn(
                    organizer_id=organizer_id,
                    wallet_id=wallet_id,
                    principal_id=principal_id,
                    phone_e164=phone,
                    language="fi",
                    events=list(SMS_EVENTS),
                    confirmed_at=now,
                    code_attempts=0,
                    created_at=now,
                )
            )
            await uow.commit()


def start_fake_sms_gateway(port: int) -> FakeGateway | None:
    """Unless ``WALLET_SMS_GATEWAY_TOKEN`` names a real gateway: start the fake 46elks gateway
    on 127.0.0.1 (its own event loop, in a daemon thread, for the life of the demo), and point
    the demo server at it (loopback allowed for outbound requests, demo only). Its replies go
    to the demo's inbound webhook with the shared secret."""
    if os.environ.get("WALLET_SMS_GATEWAY_TOKEN"):
        return None
    secret = os.environ.setdefault("WALLET_SMS_INBOUND_SECRET", secrets.token_urlsafe(24))
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="fake-sms-gateway", daemon=True).start()
    fake = FakeGateway(
        inbound_url=f"http://127.0.0.1:{port}/api/sms/inbound", inbound_secret=secret
    )
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    os.environ["WALLET_SMS_GATEWAY_URL"] = fake.base_url
    os.environ["WALLET_SMS_GATEWAY_TOKEN"] = fake.token
    os.environ["WALLET_OUTBOUND_ALLOW_LOOPBACK"] = "1"
    return fake


async def _bank_accounts(db: Database) -> None:
    """Give each demo provider its bank account, unless it has one (a demo county seeded
    before the providers had accounts gets them on its next start)."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        found = (
            await s.execute(
                select(Provider.id, Provider.organizer_id, Provider.name, Provider.business_id)
                .join(Organizer, Organizer.id == Provider.organizer_id)
                .outerjoin(ProviderProfile, ProviderProfile.provider_id == Provider.id)
                .where(
                    Organizer.slug == DEMO_SLUG,
                    Provider.name.in_(list(BANK_ACCOUNTS)),
                    ProviderProfile.provider_id.is_(None),
                )
            )
        ).all()
        for provider_id, organizer_id, name, business_id in found:
            iban, bic = BANK_ACCOUNTS[name]
            s.add(
                ProviderProfile(
                    provider_id=provider_id,
                    organizer_id=organizer_id,
                    business_id=business_id,
                    iban=iban,
                    bic=bic,
                    contact_name=name,
                    contact_email="demo@example.invalid",
                    contact_phone="+358861560000",
                    languages=["fi"],
                    municipalities=["Kajaani", "Sotkamo", "Kuhmo"],
                    created_at=utcnow(),
                )
            )
        await uow.commit()


def demo_folder(database_url: str) -> Path:
    """The demo's folder: its SQLite file's, or the working directory for another database."""
    url = make_url(database_url)
    name = url.database
    if url.get_backend_name() == "sqlite" and name and name != ":memory:":
        if not name.startswith("file:"):
            return Path(name).resolve().parent
    return Path.cwd()


def demo_vapid_keys(folder: Path) -> tuple[str, str, Path]:
    """(private key, public key, file): read from ``folder``'s VAPID_FILE, or made once and
    written there (readable by its owner only), so the next demo start signs pushes with the
    same keys and the browsers' subscriptions stay valid."""
    from notifications.push import generate_vapid_keys

    path = folder / VAPID_FILE
    if path.exists():
        kept = json.loads(path.read_text())
        return str(kept["private_key"]), str(kept["public_key"]), path
    private, public = generate_vapid_keys()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"private_key": private, "public_key": public}, out)
    return private, public, path


def prepare_environment(database_url: str) -> Path | None:
    """The demo server's settings that ``wallet demo`` fills in unless they are set: Web Push
    keys (kept in the demo's folder; returns that file) and the county's paying account for
    settlement files."""
    name, iban, bic = DEBTOR
    os.environ.setdefault("WALLET_SETTLEMENT_DEBTOR_NAME", name)
    os.environ.setdefault("WALLET_SETTLEMENT_DEBTOR_IBAN", iban)
    os.environ.setdefault("WALLET_SETTLEMENT_DEBTOR_BIC", bic)
    if os.environ.get("WALLET_VAPID_PRIVATE_KEY") and os.environ.get("WALLET_VAPID_PUBLIC_KEY"):
        return None
    private, public, path = demo_vapid_keys(demo_folder(database_url))
    os.environ["WALLET_VAPID_PRIVATE_KEY"] = private
    os.environ["WALLET_VAPID_PUBLIC_KEY"] = public
    return path


async def _create(db: Database, period: str) -> None:
    org = await catalogue.create_organizer(
        db, slug=DEMO_SLUG, name="Kainuun hyvinvointialue (demo)", help_phone="+358 8 6156 0000"
    )
    for code, fi, sv, en, unit, cap in CATEGORIES:
        await catalogue.add_category(
            db,
            organizer_id=org,
            code=code,
            names={"fi": fi, "sv": sv, "en": en},
            unit=unit,
            price_cap_cents=cap,
        )
    for name, business_id, prices in PROVIDERS:
        # Each demo provider's person is its owner, so the guide can show the Staff screen.
        await providers.create_provider(
            db,
            organizer_id=org,
            name=name,
            business_id=business_id,
            prices=dict(prices),
            owner=True,
        )
    # The demo's case manager is also its admin, so the guide reaches the Staff screen.
    cm = await catalogue.create_principal(
        db,
        organizer_id=org,
        role="case_manager",
        display_name="Liisa Asiakasohjaaja",
        admin=True,
    )
    start: date = first_day(period)
    aino: uuid.UUID | None = None
    for first, last, phone, lines in CLIENTS:
        new = await catalogue.create_client(
            db, organizer_id=org, first_name=first, last_name=last, phone=phone, actor_id=cm
        )
        aino = aino or new.client_id
        await catalogue.create_decision(
            db,
            organizer_id=org,
            client_id=new.client_id,
            valid_from=start,
            valid_to=None,
            lines=[DecisionLineInput(*line) for line in lines],
            actor_id=cm,
        )
    carer = await catalogue.create_principal(
        db, organizer_id=org, role="carer", display_name="Matti Virtanen"
    )
    assert aino is not None
    await grant_mandate(db, carer_id=carer, client_id=aino, scopes=("view", "approve"))
    # Aino and Helmi have put their cleaner on their trusted list, so it charges at the door
    # without asking; Eino has not trusted the taxi, so its charges wait for his approval.
    async with UnitOfWork(db, readonly=True) as uow:
        cleaner = (
            await uow.session.execute(
                select(Provider.id).where(
                    Provider.organizer_id == org, Provider.name == "Siivouspalvelu Kuura Oy"
                )
            )
        ).scalar_one()
        wallets = (
            await uow.session.execute(
                select(Client.first_name, Wallet.id)
                .join(Wallet, Wallet.client_id == Client.id)
                .where(Client.organizer_id == org)
            )
        ).all()
    by_name = {name: wid for name, wid in wallets}
    for name, cap in (("Aino", 20000), ("Helmi", 10000)):
        await set_trusted(
            db, actor_id=cm, wallet_id=by_name[name], provider_id=cleaner, per_charge_cap_cents=cap
        )


def invite_lines(guide: DemoGuide, origin: str) -> str:
    """The invite links grouped by role, names aligned, one person a line."""
    width = max((len(i.name) for i in guide.invites), default=0) + 1
    lines: list[str] = []
    for group, _ in DEMO_PEOPLE:
        mine = [i for i in guide.invites if i.group == group]
        if not mine:
            continue
        lines.append(f"  {group}:")
        for i in mine:
            lines.append(f"    {i.name + ':':{width}} {origin}/join#{i.code}")
    return "\n".join(lines)


def print_guide(
    console: Console, guide: DemoGuide, host: str, port: int, origin: str | None = None
) -> None:
    """Print what to try. ``origin`` is the app's address (the demo's WALLET_ORIGIN, by default
    http://localhost:PORT): the invite links point there, since passkeys are bound to it."""
    origin = origin or f"http://localhost:{port}"
    console = Console(soft_wrap=True)  # commands must stay copyable, never wrapped
    base = f"http://{host}:{port}"
    prov, client = guide.keys["provider (cleaning)"], guide.keys["client Aino"]
    taxi = guide.keys["provider (taxi)"]
    aino, helmi = guide.wallets["Aino"], guide.wallets["Helmi"]
    _, debtor_iban, debtor_bic = DEBTOR
    today = utcnow().astimezone(HELSINKI).date().isoformat()
    console.rule("[bold]Personal-budget wallet: demo")
    console.print(
        f"Demo county funded for {guide.period}. "
        + ("Created just now." if guide.seeded_now else "It already existed; new keys below.")
    )
    console.print("\n[bold]API keys[/bold] (shown only now):")
    for label, key in guide.keys.items():
        console.print(f"  {label:22} {key}")
    console.print(
        f"""
[bold]Try it[/bold] (in another terminal):

  PROVIDER={prov}
  TAXI={taxi}
  CLIENT={client}

  # 1. Aino's balances (funded this month)
  curl -s -H "Authorization: Bearer $CLIENT" {base}/api/wallets/{aino}

  # 2. The cleaner charges Aino 2 hours at 34.00 EUR, at the door, by phone number
  #    (the answer, the receipt, is kept in CHARGE for step 4)
  CHARGE=$(curl -s -X POST {base}/api/charges -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-charge-1" \\
       -d '{{"phone": "040 123 4567", "lines": [{{"category": "siivous", "quantity": "2", "unit_price_cents": 3400}}]}}')
  echo "$CHARGE"

  # 3. Helmi has 50.00 EUR for cleaning: 2 hours is an overspend, declined
  curl -s -X POST {base}/api/charges -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-charge-2" \\
       -d '{{"wallet_id": "{helmi}", "lines": [{{"category": "siivous", "quantity": "2", "unit_price_cents": 3400}}]}}'

  # 3c. Helmi's home help is a service voucher worth 32.00 EUR an hour; the cleaner's price is
  #     38.00: the wallet pays 32.00 and the receipt shows Helmi's own share, 6.00
  curl -s -X POST {base}/api/charges -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-voucher-1" \\
       -d '{{"wallet_id": "{helmi}", "lines": [{{"category": "kotiapu", "quantity": "1", "unit_price_cents": 3800}}]}}'

  # 3b. Eino has not put the taxi on his trusted list: by phone number the trip becomes a
  #     payment request (202) with the money held until Eino approves it in the app
  curl -s -X POST {base}/api/checkout/phone -H "Authorization: Bearer $TAXI" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-trip-1" \\
       -d '{{"phone": "040 765 4321", "lines": [{{"category": "kuljetus", "quantity": "1", "unit_price_cents": 2500}}]}}'

  # 4. The cleaner refunds half an hour of that charge: its id is in step 2's answer
  CHARGE_ID=$(echo "$CHARGE" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  curl -s -X POST {base}/api/charges/$CHARGE_ID/refunds -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-refund-1" \\
       -d '{{"amount_cents": 1700}}'

  # 5. Aino's history, and the books
  curl -s -H "Authorization: Bearer $CLIENT" {base}/api/wallets/{aino}/transactions
  wallet check

  # 6. Pay the providers for what they charged up to today: RF references, a CSV, and a
  #    SEPA pain.001 bank file (the providers' bank accounts, the demo county's paying one)
  WALLET_SETTLEMENT_DEBTOR_IBAN={debtor_iban} WALLET_SETTLEMENT_DEBTOR_BIC={debtor_bic} \\
       wallet settle --until {today} --out demo-settlements

The app: {origin}/
(Passkeys are bound to this address; the app opened on another, such as {base}, moves here.)
Try any role: open its invite link on this machine and create a passkey
(one-time, valid 7 days; a new demo run issues new ones):
{invite_lines(guide, origin)}
Or paste one of the API keys above under "Developer settings".
A provider applies here (passkey; a case manager approves it):
  {origin}/#/apply/{DEMO_SLUG}
API docs: {base}/schema  (OpenAPI JSON: {base}/schema/openapi.json)
"""
    )
    if guide.sms_gateway is not None:
        gw = guide.sms_gateway
        eino = to_e164(SMS_CLIENT[1])
        console.print(
            f"""[bold]SMS[/bold] goes to a fake gateway on this machine: {gw}/messages lists every
text. Eino has a basic phone; step 3b's payment request was texted to him. Reply as he would
(the four digits are in that text), and the taxi's screen updates as for an approval in the app:

  curl -s {gw}/messages?to=%2B{eino[1:]}
  curl -s -X POST {gw}/reply -H "Content-Type: application/json" \\
       -d '{{"from": "{eino}", "message": "KYLLÄ 1234"}}'
  curl -s -X POST {gw}/reply -H "Content-Type: application/json" \\
       -d '{{"from": "{eino}", "message": "SALDO"}}'
"""
        )
    if guide.push_keys is not None:
        console.print(
            f"Web Push is on: its keys are kept in {guide.push_keys} and used again by the "
            "next demo, so a phone's notifications keep working after a restart."
        )
