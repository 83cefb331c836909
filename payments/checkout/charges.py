"""Charges and refunds: a provider takes money from a client's envelope, or gives it back.

Each call is one transaction that (1) claims the idempotency key, (2) checks everything that
does not depend on who the customer is, (3) finds the customer's envelopes, (4) debits them with
conditional updates, (5) writes the charge, its transfers and its outbox event, and (6) stores
the response under the key. Any refusal raises before commit, so nothing is written.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import Table, Uuid, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from payments import idempotency
from payments.checkout import tokens, trust
from payments.checkout.lookups import Looker
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    ConsentRequired,
    DomainError,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    NotInBudget,
    PriceAboveList,
    ProviderNotApproved,
    RefundTooLarge,
    UnknownCategory,
)
from payments.ledger import transfers
from payments.ledger.periods import HELSINKI
from payments.marketplace.prices import Listing, Seller, helsinki_day, listings
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Provider,
    Refund,
    Transfer,
    TrustedProvider,
    Wallet,
)
from payments.outbox import CHARGE_CAPTURED, INSERT_EVENT, REFUND_CREATED, emit, event_row
from payments.results import Happened, Outcome
from payments.rows import BatchRows, PerEngine
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, ChargeStatus, TransferKind

MAX_LINES = 20
MAX_QUANTITY = Decimal(1000)
MAX_UNIT_PRICE_CENTS = 10_000_000  # 100,000 EUR

# A quantity's text: ASCII digits, at most one "." and three decimals. Nothing else, because
# Decimal reads much more: Decimal("٣") is 3, Decimal(" 1e3 ") and Decimal("1_000") are 1000.
# "." only, no ",": "1,500" would be 1.5 to a Finn and 1500 to an integrator (the PWA turns the
# comma people type into "."). The API schema shows this pattern; parse_quantity is the rule.
QUANTITY_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,3})?$"
_QUANTITY_TEXT = re.compile(QUANTITY_PATTERN)
QUANTITY_RULE = (
    f'ASCII digits with at most one "." and three decimals, more than 0 and at most '
    f'{MAX_QUANTITY}, e.g. "1.5"'
)


def parse_quantity(value: object) -> Decimal:
    """The quantity a caller gave, as a Decimal, or ``invalid-input``.

    Text must match :data:`QUANTITY_PATTERN`; a whole number (``int``) or a ``Decimal`` must
    read as such text in plain notation (``Decimal("1E+3")`` comes back as ``1000``, so no
    exponent is ever stored). Floats, booleans, NaN and infinities are refused. The result is
    more than 0 and at most :data:`MAX_QUANTITY`.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, Decimal) and value.is_finite():
        text = format(value, "f")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidInput(f"quantity: {QUANTITY_RULE}")
    # fullmatch: "$" alone would let a trailing newline through.
    if not _QUANTITY_TEXT.fullmatch(text):
        raise InvalidInput(f"quantity: {QUANTITY_RULE}")
    q = Decimal(text)
    if not 0 < q <= MAX_QUANTITY:
        raise InvalidInput(f"quantity: {QUANTITY_RULE}")
    return q


@dataclass(frozen=True)
class ChargeLineInput:
    """A line as the caller sent it. ``quantity`` is read by :func:`parse_quantity` (text such
    as ``"1.5"``, a whole number or a Decimal), never trusted as it comes."""

    category: str
    quantity: Decimal | str | int
    unit_price_cents: int


@dataclass(frozen=True)
class Customer:
    """How the provider identified the customer: a phone number, a wallet id, or the client's
    single-use payment token (QR) or its short code, which is consumed with the charge."""

    phone_e164: str | None = None
    wallet_id: uuid.UUID | None = None
    token: str | None = None
    token_code: str | None = None
    # Set only after the client typed their card's PIN (checkout.cards verified it): consent.
    card_verified: bool = False

    @property
    def consented(self) -> bool:
        """Presenting a payment code or a card with its PIN is consent to this charge."""
        return self.token is not None or self.token_code is not None or self.card_verified


def line_amount(quantity: Decimal, unit_price_cents: int) -> int:
    """Quantity x unit price in whole cents, rounded half up (1.25 h x 32.50 EUR = 40.63 EUR)."""
    return int((quantity * unit_price_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _is_cents(value: object) -> bool:
    """Cents are whole numbers: an int, never a float, Decimal or bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def validate_lines(lines: list[ChargeLineInput]) -> None:
    if not lines:
        raise InvalidInput("A charge needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"A charge has at most {MAX_LINES} lines")
    for line in lines:
        q = parse_quantity(line.quantity)
        if not _is_cents(line.unit_price_cents) or not (
            0 < line.unit_price_cents <= MAX_UNIT_PRICE_CENTS
        ):
            raise InvalidInput("unit_price_cents must be a positive whole number of cents")
        if line_amount(q, line.unit_price_cents) <= 0:
            raise InvalidInput("a line must come to at least one cent")


@dataclass(frozen=True)
class Item:
    """One charge line, priced, with the month its money belongs to.

    ``amount_cents`` is the wallet's part; ``client_share_cents`` the client's own share above a
    voucher's value (information only: it never moves in the ledger)."""

    category_id: uuid.UUID
    category: str
    quantity: str
    unit_price_cents: int
    amount_cents: int
    envelope_id: int
    period: str
    client_share_cents: int = 0


@dataclass(frozen=True)
class Listed:
    """A line checked against the provider's price list: its full price, before any voucher."""

    category_id: uuid.UUID
    category: str
    quantity: str
    unit_price_cents: int
    full_cents: int


@dataclass(frozen=True)
class Priced:
    """A line priced for one envelope: what the wallet pays and the client's own share."""

    category_id: uuid.UUID
    category: str
    quantity: str
    unit_price_cents: int
    amount_cents: int
    client_share_cents: int
    envelope_id: int
    voucher_value_cents: int | None

    def item(self, period: str) -> Item:
        return Item(
            self.category_id,
            self.category,
            self.quantity,
            self.unit_price_cents,
            self.amount_cents,
            self.envelope_id,
            period,
            self.client_share_cents,
        )


def voucher_split(
    quantity: Decimal, unit_price_cents: int, voucher_value_cents: int | None
) -> tuple[int, int]:
    """(wallet part, client's own share) of a line. With a voucher the wallet pays at most the
    voucher's value per unit, rounded like :func:`line_amount`; the rest of the full price is
    the client's own share. Without one (or when the price is within it) the wallet pays all."""
    full = line_amount(quantity, unit_price_cents)
    if voucher_value_cents is None or unit_price_cents <= voucher_value_cents:
        return full, 0
    wallet = line_amount(quantity, voucher_value_cents)
    return wallet, full - wallet


class Pricing:
    """THE pricing step every capture path shares (direct charge, phone and token checkout,
    visit hold and its capture, payment requests): price the lines against the provider's list,
    find each line's envelope, split each line at the envelope's voucher value.

    Phase one (:meth:`check`) needs no customer and runs before one is looked up, so a refused
    price never consumes a payment code. Phase two is :meth:`for_wallet` (find the envelopes of
    a wallet) or :meth:`for_envelopes` (a hold already chose them).
    """

    def __init__(self, listed: list[Listed]) -> None:
        self.listed = listed

    @classmethod
    async def check(
        cls, s: AsyncSession, provider: Provider, lines: list[ChargeLineInput], now: datetime
    ) -> Pricing:
        """Known category, provider approved for it, unit price within the price in force on
        the charge's day (Helsinki) and within the county's cap."""
        return cls(await _check_prices(s, provider, lines, now))

    @classmethod
    def stored(cls, lines: list[dict[str, Any]]) -> Pricing:
        """Lines already checked when a payment request was created (its stored JSON)."""
        return cls(
            [
                Listed(
                    uuid.UUID(x["category_id"]),
                    x["category"],
                    x["quantity"],
                    int(x["unit_price_cents"]),
                    int(x["amount_cents"]) + int(x.get("client_share_cents", 0)),
                )
                for x in lines
            ]
        )

    @property
    def category_ids(self) -> set[uuid.UUID]:
        return {x.category_id for x in self.listed}

    async def for_wallet(self, s: AsyncSession, wallet: Wallet, now: datetime) -> list[Priced]:
        """Each line on the envelope of a decision valid today that covers it (envelopes and
        their vouchers in one query)."""
        envelopes, vouchers = await _envelopes_for(s, wallet, self.category_ids, now)
        return self.split(envelopes, vouchers)

    async def for_envelopes(self, s: AsyncSession, envelopes: dict[uuid.UUID, int]) -> list[Priced]:
        """Each line on the given envelope (category id -> envelope), split at its voucher."""
        return self.split(envelopes, await _vouchers(s, set(envelopes.values())))

    def split(
        self, envelopes: dict[uuid.UUID, int], vouchers: dict[int, int | None]
    ) -> list[Priced]:
        out: list[Priced] = []
        for x in self.listed:
            env = envelopes[x.category_id]
            wallet_part, share = voucher_split(
                Decimal(x.quantity), x.unit_price_cents, vouchers.get(env)
            )
            if wallet_part <= 0:
                raise InvalidInput("a line must come to at least one cent within the voucher")
            out.append(
                Priced(
                    x.category_id,
                    x.category,
                    x.quantity,
                    x.unit_price_cents,
                    wallet_part,
                    share,
                    env,
                    vouchers.get(env),
                )
            )
        return out


def per_envelope(priced: list[Priced]) -> dict[int, int]:
    """The wallet's part of the lines summed per envelope (what is debited or held)."""
    out: dict[int, int] = defaultdict(int)
    for p in priced:
        out[p.envelope_id] += p.amount_cents
    return dict(out)


async def _vouchers(s: AsyncSession, envelope_ids: set[int]) -> dict[int, int | None]:
    """{envelope: voucher value per unit, or None} from the decision line each one funds."""
    if not envelope_ids:
        return {}
    rows = (
        await s.execute(
            select(Account.id, DecisionLine.voucher_value_cents)
            .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
            .where(Account.id.in_(envelope_ids))
        )
    ).all()
    return {int(acc): (int(v) if v is not None else None) for acc, v in rows}


async def charge_envelopes(
    s: AsyncSession,
    *,
    provider: Provider,
    charge_id: uuid.UUID,
    per_envelope: dict[int, int],
    now: datetime,
) -> dict[int, tuple[int, str]]:
    """Move each amount from its envelope to the provider's payable (the charge's transfers),
    in account order so concurrent charges never deadlock: {envelope: (balance, month)}.

    ``insufficient-funds`` when an envelope does not cover its amount."""
    payable = await transfers.provider_payable_account(s, provider.id)
    out: dict[int, tuple[int, str]] = {}
    for acc_id in sorted(per_envelope):
        moved = await transfers.move(
            s,
            transfers.Envelope(acc_id),
            transfers.Leg(payable, per_envelope[acc_id], TransferKind.CHARGE, charge_id=charge_id),
            organizer_id=provider.organizer_id,
            period=None,
            now=now,
        )
        assert moved.balance is not None
        out[acc_id] = (moved.balance, moved.period)
    return out


def charge_record(
    *,
    charge_id: uuid.UUID,
    provider: Provider | Seller,
    wallet_id: uuid.UUID,
    items: list[Item],
    now: datetime,
    balances: dict[int, int] | None = None,
    trust_period: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """What a captured charge writes, as rows: (the charge, its lines, the answer's body, its
    ``charge.captured`` outbox event). One definition for the single path (:func:`write_charge`)
    and the group commit (:mod:`payments.checkout.pipeline`), which inserts many at once."""
    total = sum(i.amount_cents for i in items)
    share = sum(i.client_share_cents for i in items)
    period = min(i.period for i in items)
    charge = {
        "id": charge_id,
        "organizer_id": provider.organizer_id,
        "provider_id": provider.id,
        "wallet_id": wallet_id,
        "status": ChargeStatus.CAPTURED,
        "total_cents": total,
        "refunded_cents": 0,
        "period": period,
        "created_at": now,
        "client_share_cents": share,
        "trust_period": trust_period,
    }
    lines = [
        {
            "id": uuid.uuid4(),
            "charge_id": charge_id,
            "position": pos,
            "category_id": i.category_id,
            "envelope_id": i.envelope_id,
            "quantity": i.quantity,
            "unit_price_cents": i.unit_price_cents,
            "amount_cents": i.amount_cents,
            "refunded_cents": 0,
            "client_share_cents": i.client_share_cents,
        }
        for pos, i in enumerate(items)
    ]
    body: dict[str, Any] = {
        "id": str(charge_id),
        "status": ChargeStatus.CAPTURED,
        "provider_id": str(provider.id),
        "provider_name": provider.name,
        "wallet_id": str(wallet_id),
        "total_cents": total,
        "client_share_cents": share,
        "refunded_cents": 0,
        "period": period,
        "created_at": now.isoformat(),
        "lines": [
            {
                "category": i.category,
                "quantity": i.quantity,
                "unit_price_cents": i.unit_price_cents,
                "amount_cents": i.amount_cents,
                "client_share_cents": i.client_share_cents,
            }
            for i in items
        ],
    }
    event = event_row(
        type=CHARGE_CAPTURED,
        organizer_id=provider.organizer_id,
        wallet_id=wallet_id,
        provider_id=provider.id,
        now=now,
        payload={
            "charge_id": str(charge_id),
            "provider_name": provider.name,
            "total_cents": total,
            "client_share_cents": share,
            "balances": {str(k): v for k, v in (balances or {}).items()},
        },
    )
    return charge, lines, body, event


async def write_charge(
    s: AsyncSession,
    *,
    charge_id: uuid.UUID,
    provider: Provider,
    wallet_id: uuid.UUID,
    items: list[Item],
    now: datetime,
    balances: dict[int, int] | None = None,
    trust_period: str | None = None,
) -> dict[str, Any]:
    """Write a captured charge, its lines and its outbox event. The caller has already moved
    the money to the provider's payable under ``charge_id`` (:func:`charge_envelopes`, or a
    hold's close), and counted it toward a trusted provider's month (``trust_period``, see
    :mod:`payments.checkout.trust`) if it did."""
    charge, lines, body, event = charge_record(
        charge_id=charge_id,
        provider=provider,
        wallet_id=wallet_id,
        items=items,
        now=now,
        balances=balances,
        trust_period=trust_period,
    )
    await s.execute(INSERT_CHARGE, charge)
    await s.execute(INSERT_CHARGE_LINE, lines)
    await s.execute(INSERT_EVENT, event)
    return body


async def capture_charge(
    db: Database,
    *,
    provider_id: uuid.UUID,
    customer: Customer,
    lines: list[ChargeLineInput],
    idempotency_key: str,
    request_hash: str,
    now: datetime | None = None,
    looker: Looker | None = None,
) -> Outcome:
    """Charge a client's budget for delivered services and capture it at once.

    The customer consents by presenting their payment code (``token``) or card and PIN, or in
    advance by trusting the provider (phone number or wallet id within the trusted caps). For
    a trusted provider the charge counts toward its month either way; only the charge without
    consent can be refused by the caps (:mod:`payments.checkout.trust`).

    Refusals: ``provider-not-approved``, ``unknown-category``, ``price-above-list``,
    ``not-in-budget`` (also for an unknown customer), ``consent-required``,
    ``insufficient-funds`` (with ``available_cents`` when the customer consented).

    ``looker``: the phone number was typed at the door by this provider; the charge then goes
    through the lookup gate (:mod:`payments.checkout.lookups`) inside its batch's transaction:
    ``too-many-requests`` past the provider's limit, and a number that finds nobody counts.
    """
    validate_lines(lines)
    if not customer.consented:
        # A phone number or wallet id is not consent: only a provider the client trusts,
        # within the caps they set, may charge without asking (DESIGN: checkout at the door);
        # everyone else sends a payment request or uses the client's payment code. These are
        # the charges that come most, so they go through the group commit, many in one
        # transaction (imported here: the pipeline builds on this module).
        from payments.checkout.pipeline import Request, pipeline_for

        if customer.phone_e164 is None and customer.wallet_id is None:
            raise InvalidInput("Identify the customer by phone number or wallet")
        return await pipeline_for(db).submit(
            Request(provider_id, customer, lines, idempotency_key, request_hash, now, looker)
        )
    now = now or utcnow()
    scope = f"charge:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay

        provider = await s.get(Provider, provider_id)
        if provider is None or provider.status != "approved":
            raise ProviderNotApproved("The provider is not approved to charge")
        pricing = await Pricing.check(s, provider, lines, now)
        wallet = await _find_wallet(s, provider.organizer_id, customer)
        priced = await pricing.for_wallet(s, wallet, now)
        total_asked = sum(p.amount_cents for p in priced)
        # Consent is never refused by a cap, but a trusted provider's month counts it.
        counted = await trust.count_consented(s, wallet.id, provider_id, total_asked, now)

        # Debit each envelope once, in account order so concurrent charges never deadlock.
        charge_id = uuid.uuid4()
        try:
            debited = await charge_envelopes(
                s,
                provider=provider,
                charge_id=charge_id,
                per_envelope=per_envelope(priced),
                now=now,
            )
        except InsufficientFunds as exc:
            await _tell_what_is_left(s, exc, priced)
            raise
        items = [p.item(debited[p.envelope_id][1]) for p in priced]
        body = await write_charge(
            s,
            charge_id=charge_id,
            provider=provider,
            wallet_id=wallet.id,
            items=items,
            now=now,
            balances={acc: balance for acc, (balance, _) in debited.items()},
            trust_period=counted,
        )
        outcome = Outcome(Happened.CREATED, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


async def _tell_what_is_left(s: AsyncSession, exc: InsufficientFunds, priced: list[Priced]) -> None:
    """Add ``available_cents`` to a decline: what the envelope paying these services holds.
    Only for a client who presented their code or card (consent; they can see it themselves),
    never for a phone number, which anyone might type; and only when one envelope pays every
    line (a sum over several would mislead). A read, after the refused debit changed nothing."""
    envelopes = {p.envelope_id for p in priced}
    if len(envelopes) != 1:
        return
    balance = (
        await s.execute(select(Account.balance_cents).where(Account.id == envelopes.pop()))
    ).scalar_one_or_none()
    if balance is not None:
        exc.extra["available_cents"] = int(balance)


async def _check_prices(
    s: AsyncSession, provider: Provider, lines: list[ChargeLineInput], now: datetime
) -> list[Listed]:
    """Client-independent checks: known category, provider approved for it, price within the
    list price in force on the charge's day (Helsinki) and the organizer's cap."""
    listed = await listings(
        s,
        provider_id=provider.id,
        organizer_id=provider.organizer_id,
        codes={line.category for line in lines},
        day=helsinki_day(now),
    )
    return check_listed(lines, listed)


def check_listed(lines: list[ChargeLineInput], listed: dict[str, Listing]) -> list[Listed]:
    """The lines checked against the provider's listings of their day ({code: listing}):
    ``unknown-category``, ``provider-not-approved`` or ``price-above-list`` (list price or the
    county's cap), in the lines' order."""
    priced: list[Listed] = []
    for line in lines:
        if line.category not in listed:
            raise UnknownCategory(f"Unknown service: {line.category}")
        cat = listed[line.category]
        if not cat.approved or cat.price_cents is None:
            raise ProviderNotApproved(
                f"The provider is not approved for this service: {cat.code}", category=cat.code
            )
        if line.unit_price_cents > cat.price_cents:
            raise PriceAboveList(
                f"The price is above the list price ({cat.price_cents} cents)",
                list_price_cents=cat.price_cents,
            )
        if cat.cap_cents is not None and line.unit_price_cents > cat.cap_cents:
            raise PriceAboveList(
                f"The price is above the county's cap ({cat.cap_cents} cents)",
                list_price_cents=cat.cap_cents,
            )
        quantity = parse_quantity(line.quantity)
        priced.append(
            Listed(
                cat.category_id,
                cat.code,
                str(quantity),
                line.unit_price_cents,
                line_amount(quantity, line.unit_price_cents),
            )
        )
    return priced


# One answer for "no such customer" and "no budget for this": who has a budget must not leak.
_NOT_IN_BUDGET = "This service is not in the customer's budget"


# The answer for a phone number or wallet id that finds no client who trusts the provider:
# one answer for "no such client" and "not trusted", so a number tells an untrusted provider
# nothing, and it says what to do instead.
ASK_FIRST = (
    "The client has not let this provider charge without asking: send a payment request "
    "(POST /api/checkout/phone) or charge the client's payment code"
)


async def _find_wallet(
    s: AsyncSession,
    organizer_id: uuid.UUID,
    customer: Customer,
    *,
    trusting: uuid.UUID | None = None,
) -> Wallet:
    """The customer's wallet in the organizer. With ``trusting`` (a provider id), a phone
    number or wallet id finds only a client who trusts that provider, in the same one query
    whether or not the number is a client's (``consent-required`` for both)."""
    if customer.token is not None or customer.token_code is not None:
        # Consumed in the charge's transaction: single-use, and a refused charge gives it back.
        wallet_id = await tokens.consume(
            s,
            organizer_id=organizer_id,
            token=customer.token,
            code=customer.token_code,
            now=utcnow(),
        )
        params: dict[str, object] = {"wallet_id": wallet_id}
        stmt = _WALLET_BY_ID
    elif customer.wallet_id is not None:
        params = {"wallet_id": customer.wallet_id}
        stmt = _WALLET_BY_ID if trusting is None else _TRUSTING_WALLET_BY_ID
    elif customer.phone_e164 is not None:
        params = {"phone": customer.phone_e164}
        stmt = _WALLET_BY_PHONE if trusting is None else _TRUSTING_WALLET_BY_PHONE
    else:
        raise InvalidInput("Identify the customer by phone number or wallet")
    if trusting is not None and stmt is not _WALLET_BY_ID:
        params["provider_id"] = trusting
    wallet = (await s.execute(stmt, {**params, "organizer_id": organizer_id})).scalar_one_or_none()
    if wallet is None:
        if trusting is not None and stmt is not _WALLET_BY_ID:
            raise ConsentRequired(ASK_FIRST)
        raise NotInBudget(_NOT_IN_BUDGET)
    return wallet


# Built once with bound parameters: the charge path runs these on every charge, and building
# a statement per call (construction, cache key, ORM DML path) cost more CPU than running it
# (bench.charge_cpu; see payments.prices.listings for the price check's).
INSERT_CHARGE = insert(cast(Table, Charge.__table__))
INSERT_CHARGE_LINE = insert(cast(Table, ChargeLine.__table__))
# Every checkout finds its wallet here, and never a closed client's (payments.budgets.closing):
# a closed account answers as no client at all.
_WALLET_BY_ID = (
    select(Wallet)
    .join(Client, Client.id == Wallet.client_id)
    .where(
        Wallet.id == bindparam("wallet_id"),
        Wallet.organizer_id == bindparam("organizer_id"),
        Client.closed_at.is_(None),
    )
)
_WALLET_BY_PHONE = (
    select(Wallet)
    .join(Client, Client.id == Wallet.client_id)
    .where(
        Client.organizer_id == bindparam("organizer_id"),
        Client.phone_e164 == bindparam("phone"),
        Client.closed_at.is_(None),
    )
)
_TRUSTED = TrustedProvider.__table__
_TRUSTING_WALLET_BY_ID = _WALLET_BY_ID.join(
    _TRUSTED,
    (_TRUSTED.c.wallet_id == Wallet.id) & (_TRUSTED.c.provider_id == bindparam("provider_id")),
)
_TRUSTING_WALLET_BY_PHONE = _WALLET_BY_PHONE.join(
    _TRUSTED,
    (_TRUSTED.c.wallet_id == Wallet.id) & (_TRUSTED.c.provider_id == bindparam("provider_id")),
)
_LINE_CATS = DecisionLineCategory.__table__
_LINES = DecisionLine.__table__
_DECISIONS = Decision.__table__
_ACCOUNTS = Account.__table__


# For one wallet or many (the group commit asks for a batch's wallets at once); the lists
# travel as one parameter each (payments.rows): one SQL text whatever their length.
def envelopes_for_statement(dialect: Dialect) -> tuple[tuple[BatchRows, BatchRows], Any]:
    """:func:`envelope_rows`' statement: the wallets and the categories as rows, and
    ``today``."""
    wallets = BatchRows(dialect, "wallets", id=Uuid())
    categories = BatchRows(dialect, "categories", id=Uuid())
    return (wallets, categories), (
        select(
            _ACCOUNTS.c.wallet_id,
            _LINE_CATS.c.category_id,
            _ACCOUNTS.c.id,
            _LINES.c.voucher_value_cents,
        )
        .join(_LINES, _LINES.c.id == _LINE_CATS.c.line_id)
        .join(_DECISIONS, _DECISIONS.c.id == _LINES.c.decision_id)
        .join(
            _ACCOUNTS,
            and_(
                _ACCOUNTS.c.decision_line_id == _LINES.c.id,
                _ACCOUNTS.c.kind == AccountKind.ENVELOPE,
            ),
        )
        .where(
            wallets.has(_ACCOUNTS.c.wallet_id),
            categories.has(_LINE_CATS.c.category_id),
            _DECISIONS.c.valid_from <= bindparam("today"),
            or_(_DECISIONS.c.valid_to.is_(None), _DECISIONS.c.valid_to >= bindparam("today")),
            _ACCOUNTS.c.funded_period.is_not(None),
        )
        .order_by(_ACCOUNTS.c.id)
    )


_ENVELOPES_FOR = PerEngine(envelopes_for_statement)


async def envelope_rows(
    s: AsyncSession, wallet_ids: Iterable[uuid.UUID], category_ids: Iterable[uuid.UUID], today: date
) -> list[Any]:
    """(wallet, category, envelope, voucher value) of each funded envelope of a decision valid
    ``today`` that covers one of the categories, for the wallets asked, in envelope order."""
    (wallets, categories), stmt = _ENVELOPES_FOR.of(s)
    params = {
        **wallets.bind_each(sorted(set(wallet_ids))),
        **categories.bind_each(sorted(set(category_ids))),
        "today": today,
    }
    return list((await s.execute(stmt, params)).all())


async def _envelopes_for(
    s: AsyncSession, wallet: Wallet, category_ids: set[uuid.UUID], now: datetime
) -> tuple[dict[uuid.UUID, int], dict[int, int | None]]:
    """For each category, the funded envelope (account id) of a decision valid today that
    covers it (the oldest line wins if several do), and each envelope's voucher value."""
    today = now.astimezone(HELSINKI).date()
    rows = await envelope_rows(s, [wallet.id], category_ids, today)
    return pick_envelopes([(cat, acc, voucher) for _, cat, acc, voucher in rows], category_ids)


def pick_envelopes(
    rows: list[tuple[uuid.UUID, int, int | None]], category_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, int], dict[int, int | None]]:
    """From one wallet's (category, envelope, voucher) rows in envelope order: each category's
    envelope (the oldest wins if several cover it) and each envelope's voucher value;
    ``not-in-budget`` when a category has none."""
    found: dict[uuid.UUID, int] = {}
    vouchers: dict[int, int | None] = {}
    for cat_id, acc_id, voucher in rows:
        found.setdefault(cat_id, int(acc_id))
        vouchers[int(acc_id)] = int(voucher) if voucher is not None else None
    if set(found) != category_ids:
        raise NotInBudget(_NOT_IN_BUDGET)
    return found, vouchers


async def refund_charge(
    db: Database,
    *,
    provider_id: uuid.UUID,
    charge_id: uuid.UUID,
    amount_cents: int | None,
    reason: str | None,
    idempotency_key: str,
    request_hash: str,
    now: datetime | None = None,
) -> Outcome:
    """Give back part or all of a captured charge, never more than is left of it.

    Only the wallet's part is refunded: ``amount_cents`` (default: all that is left) counts in
    wallet money and is bounded by what the wallet paid (``total_cents - refunded_cents``, by a
    conditional update). It is spread over the lines last line first, each line taking at most
    its own unrefunded wallet part, so every line's envelope gets back exactly what left it. The
    client's own share of a voucher line was never in the wallet: the provider returns it
    outside the wallet, and it is unchanged here.

    The money returns to the envelope it came from while that envelope is still in the charge's
    month; after the month has closed it returns to the organizer's budget, and the client's
    current envelope is untouched (it never holds more than one month's budget).

    A charge that counted toward a trusted provider's month gives the refund back to that
    month's total, and to no later month's (:func:`payments.trust.give_back`).
    """
    if amount_cents is not None and (
        not _is_cents(amount_cents) or not 0 < amount_cents <= MAX_UNIT_PRICE_CENTS * MAX_LINES
    ):
        raise InvalidInput("amount_cents must be a positive whole number of cents")
    now = now or utcnow()
    scope = f"refund:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay
        charge = (
            await s.execute(
                select(Charge).where(Charge.id == charge_id, Charge.provider_id == provider_id)
            )
        ).scalar_one_or_none()
        if charge is None:
            raise NotFound("No such charge")
        amount = (
            amount_cents if amount_cents is not None else charge.total_cents - charge.refunded_cents
        )
        if amount <= 0:
            raise RefundTooLarge("This charge has been refunded in full")
        refunded_total, per_envelope = await take_back(s, charge, amount)

        payable = await transfers.provider_payable_account(s, provider_id)
        # The month each envelope's money came from, as the charge's transfers recorded it.
        money_period = {
            int(acc): str(per)
            for acc, per in (
                await s.execute(
                    select(Transfer.debit_account_id, Transfer.period).where(
                        Transfer.charge_id == charge_id, Transfer.kind == TransferKind.CHARGE
                    )
                )
            ).all()
        }
        to_envelope = True
        for env_id in sorted(per_envelope):
            # Back into the envelope only while that month is open (not yet expired), else to
            # the organizer's budget (refund_closed).
            moved = await transfers.move(
                s,
                payable,
                transfers.Leg(
                    transfers.Envelope(env_id),
                    per_envelope[env_id],
                    TransferKind.REFUND,
                    charge_id=charge_id,
                ),
                organizer_id=charge.organizer_id,
                period=money_period.get(env_id, charge.period),
                now=now,
            )
            to_envelope = to_envelope and not moved.to_closed_month
        refund = Refund(
            charge_id=charge_id,
            amount_cents=amount,
            to_envelope=to_envelope,
            reason=reason,
            created_at=now,
        )
        s.add(refund)
        await s.flush()
        body = {
            "id": str(refund.id),
            "charge_id": str(charge_id),
            "amount_cents": amount,
            "charge_refunded_cents": refunded_total,
            "returned_to": "envelope" if to_envelope else "organizer",
            "created_at": now.isoformat(),
        }
        await emit(
            s,
            type=REFUND_CREATED,
            organizer_id=charge.organizer_id,
            wallet_id=charge.wallet_id,
            provider_id=provider_id,
            now=now,
            payload=body,
        )
        outcome = Outcome(Happened.CREATED, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


async def take_back(
    s: AsyncSession,
    charge: Charge,
    amount: int,
    too_large: type[DomainError] = RefundTooLarge,
    verb: str = "refunded",
) -> tuple[int, dict[int, int]]:
    """Mark ``amount`` of ``charge``'s wallet part as given back (a refund or a case manager's
    correction) and say how much each envelope paid of it: (the charge's refunded total now,
    {envelope id: amount}). Moves no money; the caller moves it, in this transaction.

    The conditional update serializes everything given back of one charge and bounds its sum
    by the charge's total (else ``too_large``, nothing changed). The amount is spread over the
    lines last line first, each line taking at most its own unrefunded part, so every line's
    envelope is named for exactly what left it. A charge that counted toward a trusted
    provider's month gives the amount back to that month's total
    (:func:`payments.checkout.trust.give_back`), before any envelope: the lock order of every
    money path.
    """
    updated = await s.execute(
        update(Charge)
        .where(Charge.id == charge.id, Charge.refunded_cents + amount <= Charge.total_cents)
        .values(
            refunded_cents=Charge.refunded_cents + amount,
            status=ChargeStatus.PARTIALLY_REFUNDED,
        )
        .returning(Charge.refunded_cents, Charge.total_cents)
    )
    row = updated.first()
    if row is None:
        left = charge.total_cents - charge.refunded_cents
        raise too_large(f"At most {left} cents can be {verb}")
    refunded_total, total = int(row[0]), int(row[1])
    if refunded_total == total:
        await s.execute(
            update(Charge).where(Charge.id == charge.id).values(status=ChargeStatus.REFUNDED)
        )
    if charge.trust_period is not None:
        await trust.give_back(s, charge.wallet_id, charge.provider_id, amount, charge.trust_period)
    lines = (
        (
            await s.execute(
                select(ChargeLine)
                .where(ChargeLine.charge_id == charge.id)
                .order_by(ChargeLine.position.desc())
            )
        )
        .scalars()
        .all()
    )
    per_envelope: dict[int, int] = defaultdict(int)
    left = amount
    for line in lines:
        take = min(left, line.amount_cents - line.refunded_cents)
        if take <= 0:
            continue
        await s.execute(
            update(ChargeLine)
            .where(ChargeLine.id == line.id)
            .values(refunded_cents=ChargeLine.refunded_cents + take)
        )
        per_envelope[line.envelope_id] += take
        left -= take
        if left == 0:
            break
    assert left == 0, "line refunds must cover the refund"
    return refunded_total, per_envelope
