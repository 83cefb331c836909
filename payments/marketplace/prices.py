"""Versioned provider prices (issue 7): a price change takes effect from a date, never rewrites
the past, and never exceeds the county's cap for the service.

A provider's price for a category is a list of versions (``provider_price_versions``). The price
in force on a day (Europe/Helsinki) is the version with the latest ``effective_from`` on or
before that day. Versions are only ever inserted, never updated or deleted; a new one may start
today or later, never in the past. Charges store their own unit price, so a later change cannot
alter them either. Whether the provider may charge a category at all stays on the listing row
(``provider_prices.approved``), one per (provider, category).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    exists,
    insert,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    DomainError,
    InvalidInput,
    NotFound,
    PriceAboveCap,
    ProviderNotApproved,
    Refusal,
    UnknownCategory,
)
from payments.ledger.periods import HELSINKI
from payments.models import (
    AuditEvent,
    CatalogueVersion,
    Provider,
    ProviderPrice,
    ProviderPriceVersion,
    ServiceCategory,
)
from payments.results import Happened, Outcome
from payments.rows import BatchRows, PerEngine
from payments.uow import UnitOfWork

# The first version of a price set up before versioning (or at onboarding) is in force "since
# always": no charge day, however far back a test or an import dates it, is without a price.
PRICE_EPOCH = date(2000, 1, 1)
MAX_DAYS_AHEAD = 731  # a price may be announced up to two years ahead
MAX_PRICE_CENTS = 10_000_000  # same bound as a charge line's unit price (100,000 EUR)


class PriceVersionExists(DomainError):
    """Another price was already published for this service from this date."""

    kind = Refusal.CONFLICT
    slug = "price-version-exists"
    title = "A different price has already been published from this date"


def helsinki_day(moment: datetime) -> date:
    """The calendar day in Finland at an instant: the day whose price is in force."""
    return moment.astimezone(HELSINKI).date()


_V = cast(Table, ProviderPriceVersion.__table__)


def in_force_on(day: date | BindParameter[date]) -> ColumnElement[bool]:
    """Rows of ``ProviderPriceVersion`` that are in force on ``day``: started on or before it,
    with no later-starting version of the same (provider, category) also started by then.
    ``day`` may be a bound parameter, for a statement built once. (Core columns of the same
    table, so ORM selects of ``ProviderPriceVersion`` use it as they are.)"""
    newer = _V.alias()
    return and_(
        _V.c.effective_from <= day,
        ~exists().where(
            newer.c.provider_id == _V.c.provider_id,
            newer.c.category_id == _V.c.category_id,
            newer.c.effective_from <= day,
            newer.c.effective_from > _V.c.effective_from,
        ),
    )


@dataclass(frozen=True)
class Listing:
    """A category as a provider may charge it on a day: the county's cap, whether the provider
    is approved for it, and the provider's price in force that day (None if none is)."""

    category_id: uuid.UUID
    code: str
    cap_cents: int | None
    approved: bool
    price_cents: int | None


async def listings(
    s: AsyncSession,
    *,
    provider_id: uuid.UUID,
    organizer_id: uuid.UUID,
    codes: set[str],
    day: date,
) -> dict[str, Listing]:
    """{category code: :class:`Listing`} for the organizer's categories among ``codes``, with
    the price in force on ``day`` (the rule of :func:`in_force_on`); unknown codes are missing.
    One round trip: the charge path asks this on every charge."""
    rows = await s.execute(
        _LISTINGS,
        {
            "provider_id": provider_id,
            "organizer_id": organizer_id,
            "codes": sorted(codes),
            "day": day,
        },
    )
    return {
        code: Listing(
            cat_id,
            code,
            int(cap) if cap is not None else None,
            bool(approved),
            int(price) if price is not None else None,
        )
        for cat_id, code, cap, approved, price in rows.all()
    }


# Built once (Core, bound parameters), so a charge spends no CPU building it: building the
# price lookup per charge was a third of the server's time per charge (py-spy on
# bench.charge_cpu). The version in force joins on in_force_on's condition, which admits at
# most one version per (provider, category) and day (effective_from is unique among them).
_CATS = cast(Table, ServiceCategory.__table__)
_LISTED = cast(Table, ProviderPrice.__table__)
_LISTINGS = (
    select(
        _CATS.c.id,
        _CATS.c.code,
        _CATS.c.price_cap_cents,
        _LISTED.c.approved,
        _V.c.unit_price_cents,
    )
    .select_from(_CATS)
    .outerjoin(
        _LISTED,
        and_(
            _LISTED.c.category_id == _CATS.c.id,
            _LISTED.c.provider_id == bindparam("provider_id"),
        ),
    )
    .outerjoin(
        _V,
        and_(
            _V.c.provider_id == bindparam("provider_id"),
            _V.c.category_id == _CATS.c.id,
            in_force_on(bindparam("day", type_=Date)),
        ),
    )
    .where(
        _CATS.c.organizer_id == bindparam("organizer_id"),
        _CATS.c.code.in_(bindparam("codes", expanding=True)),
    )
)


@dataclass(frozen=True)
class Seller:
    """A provider as a charge needs it: who, in which county, and whether approved."""

    id: uuid.UUID
    organizer_id: uuid.UUID
    name: str
    status: str


async def listings_of_providers(
    s: AsyncSession, *, provider_ids: set[uuid.UUID], codes: set[str], day: date
) -> tuple[dict[uuid.UUID, tuple[Seller, dict[str, Listing]]], int | None]:
    """:func:`listings` for several providers at once, with each provider itself: {provider:
    (seller, {code: listing})} for the codes among its organizer's categories; an unknown
    provider is missing. One round trip for a whole batch of charges (the group commit).

    With them, the catalogue's token (:func:`catalogue_token`) read by the same statement, so
    by the same snapshot: None if no provider was found or the database holds no token."""
    (of_providers, of_codes), stmt = _PROVIDER_LISTINGS.of(s)
    params = {
        **of_providers.bind_each(sorted(provider_ids)),
        **of_codes.bind_each(sorted(codes)),
        "day": day,
    }
    rows = await s.execute(stmt, params)
    out: dict[uuid.UUID, tuple[Seller, dict[str, Listing]]] = {}
    tokens: set[int | None] = set()
    for pid, org, name, status, cat_id, code, cap, approved, price, token in rows.all():
        tokens.add(token)
        listed = out.setdefault(pid, (Seller(pid, org, name, status), {}))[1]
        if cat_id is not None:
            listed[code] = Listing(
                cat_id,
                code,
                int(cap) if cap is not None else None,
                bool(approved),
                int(price) if price is not None else None,
            )
    (token,) = tokens or {None}  # one snapshot, one token
    return out, token


_CATALOGUE = cast(Table, CatalogueVersion.__table__)


def catalogue_token() -> ColumnElement[int]:
    """The catalogue's token as a column of any statement: replaced in every transaction that
    changes a provider, a listing, a price or a category (triggers, migration 0025), so two
    reads that saw the same token saw the same catalogue. NULL while the database holds none."""
    # The table's one row (its key is checked to be 1), so no parameter to bind.
    return select(_CATALOGUE.c.token).scalar_subquery().label("catalogue_token")


_PROVIDERS = cast(Table, Provider.__table__)


# _LISTINGS for a set of providers: each provider joined to its own organizer's categories. The
# batch's lists travel as one parameter each (payments.rows): one SQL text whatever their length.
def _provider_listings(dialect: Dialect) -> tuple[tuple[BatchRows, BatchRows], Any]:
    providers = BatchRows(dialect, "providers", id=Uuid())
    codes = BatchRows(dialect, "codes", code=String())
    return (providers, codes), (
        select(
            _PROVIDERS.c.id,
            _PROVIDERS.c.organizer_id,
            _PROVIDERS.c.name,
            _PROVIDERS.c.status,
            _CATS.c.id,
            _CATS.c.code,
            _CATS.c.price_cap_cents,
            _LISTED.c.approved,
            _V.c.unit_price_cents,
            catalogue_token(),
        )
        .select_from(_PROVIDERS)
        .outerjoin(
            _CATS,
            and_(
                _CATS.c.organizer_id == _PROVIDERS.c.organizer_id,
                codes.has(_CATS.c.code),
            ),
        )
        .outerjoin(
            _LISTED,
            and_(_LISTED.c.category_id == _CATS.c.id, _LISTED.c.provider_id == _PROVIDERS.c.id),
        )
        .outerjoin(
            _V,
            and_(
                _V.c.provider_id == _PROVIDERS.c.id,
                _V.c.category_id == _CATS.c.id,
                in_force_on(bindparam("day", type_=Date)),
            ),
        )
        .where(providers.has(_PROVIDERS.c.id))
    )


_PROVIDER_LISTINGS = PerEngine(_provider_listings)


async def upcoming_changes(
    s: AsyncSession, provider_ids: list[uuid.UUID], day: date
) -> dict[tuple[uuid.UUID, uuid.UUID], list[tuple[date, int]]]:
    """{(provider, category): [(effective_from, cents), ...]} for versions starting after
    ``day``, earliest first."""
    out: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[date, int]]] = {}
    if not provider_ids:
        return out
    rows = (
        await s.execute(
            select(
                ProviderPriceVersion.provider_id,
                ProviderPriceVersion.category_id,
                ProviderPriceVersion.effective_from,
                ProviderPriceVersion.unit_price_cents,
            )
            .where(
                ProviderPriceVersion.provider_id.in_(provider_ids),
                ProviderPriceVersion.effective_from > day,
            )
            .order_by(ProviderPriceVersion.effective_from)
        )
    ).all()
    for pid, cat, eff, cents in rows:
        out.setdefault((pid, cat), []).append((eff, int(cents)))
    return out


def first_versions(
    provider_id: uuid.UUID, prices: dict[uuid.UUID, int], now: datetime
) -> list[dict[str, Any]]:
    """Rows for the first price of each listed category, in force since ``PRICE_EPOCH``."""
    return [
        {
            "id": uuid.uuid4(),
            "provider_id": provider_id,
            "category_id": cat,
            "unit_price_cents": cents,
            "effective_from": PRICE_EPOCH,
            "created_at": now,
        }
        for cat, cents in prices.items()
    ]


async def add_first_versions(
    s: AsyncSession, provider_id: uuid.UUID, prices: dict[uuid.UUID, int], now: datetime
) -> None:
    if prices:
        await s.execute(insert(ProviderPriceVersion), first_versions(provider_id, prices, now))


@dataclass(frozen=True)
class PriceListEntry:
    """One service in a provider's own price list."""

    category: str
    category_name: str
    unit: str
    price_cap_cents: int | None
    approved: bool
    unit_price_cents: int | None  # in force today; None before the first version starts
    in_force_since: date | None
    upcoming: list[dict[str, Any]]  # [{"effective_from": "YYYY-MM-DD", "unit_price_cents"}]


async def price_list(
    db: Database, *, provider_id: uuid.UUID, language: str = "fi", now: datetime | None = None
) -> list[PriceListEntry]:
    """A provider's own price list: per listed service the price in force today (Helsinki),
    the versions announced for later, and whether the county has approved the service."""
    today = helsinki_day(now or utcnow())
    name_col = {"sv": ServiceCategory.name_sv, "en": ServiceCategory.name_en}.get(
        language, ServiceCategory.name_fi
    )
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        listings = (
            await s.execute(
                select(
                    ServiceCategory.id,
                    ServiceCategory.code,
                    name_col,
                    ServiceCategory.unit,
                    ServiceCategory.price_cap_cents,
                    ProviderPrice.approved,
                )
                .join(ProviderPrice, ProviderPrice.category_id == ServiceCategory.id)
                .where(ProviderPrice.provider_id == provider_id)
                .order_by(ServiceCategory.code)
            )
        ).all()
        current = {
            cat: (eff, int(cents))
            for cat, eff, cents in (
                await s.execute(
                    select(
                        ProviderPriceVersion.category_id,
                        ProviderPriceVersion.effective_from,
                        ProviderPriceVersion.unit_price_cents,
                    ).where(ProviderPriceVersion.provider_id == provider_id, in_force_on(today))
                )
            ).all()
        }
        later = await upcoming_changes(s, [provider_id], today)
    out = []
    for cat_id, code, name, unit, cap, approved in listings:
        now_price = current.get(cat_id)
        out.append(
            PriceListEntry(
                category=code,
                category_name=name,
                unit=unit,
                price_cap_cents=int(cap) if cap is not None else None,
                approved=bool(approved),
                unit_price_cents=now_price[1] if now_price else None,
                in_force_since=now_price[0] if now_price else None,
                upcoming=[
                    {"effective_from": eff.isoformat(), "unit_price_cents": cents}
                    for eff, cents in later.get((provider_id, cat_id), [])
                ],
            )
        )
    return out


def _valid_cents(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PRICE_CENTS


async def publish_price(
    db: Database,
    *,
    provider_id: uuid.UUID,
    category: str,
    unit_price_cents: int,
    effective_from: date,
    actor_id: uuid.UUID | None,
    now: datetime | None = None,
) -> Outcome:
    """Publish a new price for one of the provider's services, in force from
    ``effective_from`` (today or later, Helsinki time): ``CREATED`` with the version.

    Sending the same version again (same service, date and price) answers it ``ALREADY_DONE`` and
    writes nothing, so a retry is safe; a *different* price for a date that already has one is
    ``price-version-exists`` (409): past and announced prices are never rewritten. A price
    above the county's cap is ``price-above-cap`` (422). Nothing is written on any refusal.
    """
    if not _valid_cents(unit_price_cents):
        raise InvalidInput("unit_price_cents must be a positive whole number of cents")
    now = now or utcnow()
    today = helsinki_day(now)
    if effective_from < today:
        raise InvalidInput(
            "effective_from is in the past: a price change takes effect today or later",
            today=today.isoformat(),
        )
    if effective_from > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput("effective_from is more than two years ahead")
    async with UnitOfWork(db) as uow:
        s = uow.session
        provider = await s.get(Provider, provider_id)
        if provider is None:
            raise NotFound("No such provider")
        cat = (
            await s.execute(
                select(ServiceCategory).where(
                    ServiceCategory.organizer_id == provider.organizer_id,
                    ServiceCategory.code == category,
                )
            )
        ).scalar_one_or_none()
        if cat is None:
            raise UnknownCategory(f"Unknown service category: {category}")
        listed = (
            await s.execute(
                select(ProviderPrice.approved).where(
                    ProviderPrice.provider_id == provider_id, ProviderPrice.category_id == cat.id
                )
            )
        ).scalar_one_or_none()
        if listed is None:
            raise ProviderNotApproved(
                f"The provider does not offer this service: {category}", category=category
            )
        if cat.price_cap_cents is not None and unit_price_cents > cat.price_cap_cents:
            raise PriceAboveCap(
                f"The price for {category} is above the county's cap ({cat.price_cap_cents} cents)",
                category=category,
                price_cap_cents=int(cat.price_cap_cents),
            )
        body = {
            "category": category,
            "unit_price_cents": unit_price_cents,
            "effective_from": effective_from.isoformat(),
            "approved": bool(listed),
        }
        same_day = (
            await s.execute(
                select(ProviderPriceVersion.unit_price_cents).where(
                    ProviderPriceVersion.provider_id == provider_id,
                    ProviderPriceVersion.category_id == cat.id,
                    ProviderPriceVersion.effective_from == effective_from,
                )
            )
        ).scalar_one_or_none()
        if same_day is not None:
            if int(same_day) == unit_price_cents:
                return Outcome(Happened.ALREADY_DONE, body)
            raise PriceVersionExists(
                f"{category} already has the price {same_day} cents from "
                f"{effective_from.isoformat()}",
                unit_price_cents=int(same_day),
            )
        s.add(
            ProviderPriceVersion(
                provider_id=provider_id,
                category_id=cat.id,
                unit_price_cents=unit_price_cents,
                effective_from=effective_from,
                created_by=actor_id,
                created_at=now,
            )
        )
        s.add(
            AuditEvent(
                organizer_id=provider.organizer_id,
                actor_id=actor_id,
                action="price.published",
                detail=(
                    f"provider {provider_id}: {category} {unit_price_cents} cents from "
                    f"{effective_from.isoformat()}"
                ),
                created_at=now,
            )
        )
        try:
            await s.flush()
        except IntegrityError as exc:
            # Two publications for one date at once: the unique index lets one win.
            raise PriceVersionExists(
                f"{category} already has a price from {effective_from.isoformat()}"
            ) from exc
        await uow.commit()
    return Outcome(Happened.CREATED, body)
