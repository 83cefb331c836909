"""``wallet demo``: a realistic demo county built from the pilots in shared/seeds.

The services and amounts follow the Kainuu, Eksote and Keusote pilots: carer's leave up to
300 EUR a month, home help and cleaning by the hour, transport by trip, day activity by day.
Seeding runs once per database; every run prints fresh API keys (keys are shown only once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from rich.console import Console
from sqlalchemy import select

from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.trust import set_trusted
from payments.db import Database
from payments.ledger.periods import current_period, first_day
from payments.marketplace import providers
from payments.models import Client, Organizer, Principal, Provider, Wallet
from payments.people.access import create_api_key
from payments.people.invites import format_code, issue_invite_for
from payments.people.mandates import grant_mandate
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
  curl -s -X POST {base}/api/charges -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-charge-1" \\
       -d '{{"phone": "040 123 4567", "lines": [{{"category": "siivous", "quantity": "2", "unit_price_cents": 3400}}]}}'

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

  # 4. Refund half an hour of the first charge (use the id it returned)
  curl -s -X POST {base}/api/charges/<charge id>/refunds -H "Authorization: Bearer $PROVIDER" \\
       -H "Content-Type: application/json" -H "Idempotency-Key: demo-refund-1" \\
       -d '{{"amount_cents": 1700}}'

  # 5. Aino's history, and the books
  curl -s -H "Authorization: Bearer $CLIENT" {base}/api/wallets/{aino}/transactions
  wallet check

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
