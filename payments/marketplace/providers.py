"""Provider onboarding: apply, and a case manager's decisions (approve, reject, suspend,
reinstate), each recorded in the audit trail in the same transaction as the change.

Everything an application says is validated before anything is written: the Finnish business id
(Y-tunnus, python-stdnum), the IBAN and BIC (schwifty; the BIC must belong to the IBAN's bank when
the bank is known), the contact, languages, service area and the prices (known categories, whole
cents, within the county's cap). An applied provider gets its payable account, its principal and
its prices with ``approved=False``; only an approval makes it (and the approved categories) able
to charge, which ``payments.checkout.charges`` enforces by ``providers.status`` and
``provider_prices.approved``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fi import ytunnus

from payments.budgets import catalogue
from payments.budgets.catalogue import MAX_CENTS
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    AlreadyApplied,
    Conflict,
    InvalidBic,
    InvalidBusinessId,
    InvalidIban,
    InvalidInput,
    NotFound,
    PriceAboveCap,
    ProviderStatusConflict,
    UnknownCategory,
)
from payments.marketplace.prices import (
    add_first_versions,
    helsinki_day,
    in_force_on,
    upcoming_changes,
)
from payments.models import (
    APPLIED,
    APPROVED,
    REJECTED,
    SUSPENDED,
    Account,
    AuditEvent,
    Organizer,
    Principal,
    Provider,
    ProviderOwner,
    ProviderPrice,
    ProviderPriceVersion,
    ProviderProfile,
    ServiceCategory,
)
from payments.people.passkeys import NewCredential, add_first_passkey
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, Role

MAX_MUNICIPALITIES = 60
MAX_CATEGORIES = 40
_LANG = re.compile(r"^[a-z]{2}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,185}\.[^@\s]{2,}$")


# ---------------------------------------------------------------------------------------------
# Validation (no database)


def valid_business_id(raw: str) -> str:
    """A Finnish business id in its standard form ``1234567-8``; refuses bad check digits and
    formats with ``invalid-business-id``."""
    if not isinstance(raw, str) or len(raw) > 20:
        raise InvalidBusinessId("The business id must look like 1234567-8")
    try:
        return str(ytunnus.format(ytunnus.validate(raw)))
    except InvalidChecksum as exc:
        raise InvalidBusinessId("The business id's check digit is wrong") from exc
    except ValidationError as exc:
        raise InvalidBusinessId("The business id must look like 1234567-8") from exc


def valid_iban(raw: str) -> str:
    """An IBAN in its compact form; refuses bad check digits, lengths and structures."""
    if not isinstance(raw, str) or len(raw) > 50:
        raise InvalidIban("Not a valid IBAN")
    try:
        return str(IBAN(raw).compact)
    except SchwiftyException as exc:
        raise InvalidIban(f"Not a valid IBAN: {exc}") from exc


def valid_bic(raw: str, iban: str) -> str:
    """A BIC in its compact form. When the IBAN's bank is known, the BIC must be that bank's."""
    if not isinstance(raw, str) or len(raw) > 20:
        raise InvalidBic("Not a valid BIC")
    try:
        bic = BIC(raw)
    except SchwiftyException as exc:
        raise InvalidBic(f"Not a valid BIC: {exc}") from exc
    try:
        expected = IBAN(iban).bic
    except SchwiftyException:  # pragma: no cover - iban was validated first
        expected = None
    if expected is not None and expected.bank_code != bic.bank_code:
        raise InvalidBic(f"The BIC does not belong to the IBAN's bank ({expected.compact})")
    return str(bic.compact)


def _text(value: str, field: str, max_len: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > max_len or not value.isprintable():
        raise InvalidInput(f"{field} is required (at most {max_len} characters)")
    return value


@dataclass(frozen=True)
class Application:
    """What a provider sends when it applies. Prices: category code -> cents per unit."""

    company_name: str
    business_id: str
    iban: str
    bic: str
    contact_name: str
    contact_email: str
    contact_phone: str
    languages: list[str]
    municipalities: list[str]
    prices: dict[str, int]
    # The applicant saw the ``possible-duplicate`` warning and sends it anyway.
    confirm_duplicate: bool = False


@dataclass(frozen=True)
class CleanApplication:
    company_name: str
    business_id: str
    iban: str
    bic: str
    contact_name: str
    contact_email: str
    contact_phone: str
    languages: list[str]
    municipalities: list[str]
    prices: dict[str, int]
    confirm_duplicate: bool = False


def validate_application(a: Application) -> CleanApplication:
    """Check every field; raise a ``DomainError`` (4xx) naming the first bad one."""
    business_id = valid_business_id(a.business_id)
    iban = valid_iban(a.iban)
    bic = valid_bic(a.bic, iban)
    email = _text(a.contact_email, "contact_email", 254)
    if not _EMAIL.match(email):
        raise InvalidInput("contact_email is not an e-mail address")
    languages = list(dict.fromkeys(str(x).strip().lower() for x in a.languages))
    if not languages or len(languages) > 10 or not all(_LANG.match(x) for x in languages):
        raise InvalidInput("languages: one to ten two-letter codes such as fi, sv, en")
    municipalities = list(dict.fromkeys(_text(m, "municipality", 100) for m in a.municipalities))
    if not municipalities or len(municipalities) > MAX_MUNICIPALITIES:
        raise InvalidInput(f"municipalities: one to {MAX_MUNICIPALITIES} names")
    if not a.prices or len(a.prices) > MAX_CATEGORIES:
        raise InvalidInput(f"prices: one to {MAX_CATEGORIES} services with a price")
    for code, cents in a.prices.items():
        if not isinstance(cents, int) or isinstance(cents, bool) or not 0 < cents <= MAX_CENTS:
            raise InvalidInput(f"price for {code}: a positive whole number of cents")
    return CleanApplication(
        company_name=_text(a.company_name, "company_name", 200),
        business_id=business_id,
        iban=iban,
        bic=bic,
        contact_name=_text(a.contact_name, "contact_name", 200),
        contact_email=email,
        contact_phone=to_e164(a.contact_phone),
        languages=languages,
        municipalities=municipalities,
        prices=dict(a.prices),
        confirm_duplicate=bool(a.confirm_duplicate),
    )


# ---------------------------------------------------------------------------------------------
# Use cases


async def _categories(
    s: AsyncSession, organizer_id: uuid.UUID, prices: dict[str, int]
) -> dict[str, uuid.UUID]:
    rows = (
        await s.execute(
            select(ServiceCategory.code, ServiceCategory.id, ServiceCategory.price_cap_cents).where(
                ServiceCategory.organizer_id == organizer_id
            )
        )
    ).all()
    known = {code: (cid, cap) for code, cid, cap in rows}
    out: dict[str, uuid.UUID] = {}
    for code, cents in prices.items():
        if code not in known:
            raise UnknownCategory(f"Unknown service category: {code}")
        cid, cap = known[code]
        if cap is not None and cents > cap:
            raise PriceAboveCap(
                f"The price for {code} is above the county's cap ({cap} cents)",
                category=code,
                price_cap_cents=int(cap),
            )
        out[code] = cid
    return out


@dataclass(frozen=True)
class Applied:
    provider_id: uuid.UUID
    principal_id: uuid.UUID
    status: str
    # What it shares with an earlier application of the county (``duplicates_of``): a warning
    # for whoever applied through the API, which records it anyway.
    possible_duplicates: tuple[str, ...] = ()


async def organizer_by_slug(db: Database, slug: str) -> uuid.UUID:
    """The organizer with this slug, or ``not-found``."""
    async with UnitOfWork(db, readonly=True) as uow:
        found = (
            await uow.session.execute(select(Organizer.id).where(Organizer.slug == slug))
        ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such organizer")
    return found


@dataclass(frozen=True)
class County:
    slug: str
    name: str


async def counties(db: Database) -> list[County]:
    """Every organizer a provider may apply to, by name (public: a county is no secret)."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Organizer.slug, Organizer.name).order_by(Organizer.name, Organizer.slug)
            )
        ).all()
    return [County(slug, name) for slug, name in rows]


@dataclass(frozen=True)
class OwnProvider:
    provider_id: uuid.UUID
    name: str
    status: str
    decision_reason: str | None


async def own_provider(db: Database, provider_id: uuid.UUID) -> OwnProvider:
    """A provider's own standing, for its own screens: a provider still ``applied`` waits for
    the county's decision and cannot charge yet."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Provider.name, Provider.status, ProviderProfile.decision_reason)
                .outerjoin(ProviderProfile, ProviderProfile.provider_id == Provider.id)
                .where(Provider.id == provider_id)
            )
        ).first()
    if row is None:
        raise NotFound("No such provider")
    return OwnProvider(provider_id, row[0], row[1], row[2])


@dataclass(frozen=True)
class ApplicationOwner:
    """The person applying in the app: they become the provider's owner, signed in by the
    passkey they created while applying (verified by the web layer)."""

    principal_id: uuid.UUID
    credential: NewCredential


async def _check_application(
    s: AsyncSession, organizer_id: uuid.UUID, a: CleanApplication
) -> dict[str, uuid.UUID]:
    """Every service known and within its cap, and the business id not yet applied."""
    cats = await _categories(s, organizer_id, a.prices)
    taken = (
        await s.execute(
            select(func.count(Provider.id)).where(
                Provider.organizer_id == organizer_id, Provider.business_id == a.business_id
            )
        )
    ).scalar_one()
    if taken:
        raise AlreadyApplied("A provider with this business id has already applied")
    return cats


async def duplicates_of(s: AsyncSession, organizer_id: uuid.UUID, a: CleanApplication) -> list[str]:
    """What this application shares with an earlier one of the county, whatever its status:
    ``iban`` (the same bank account) and ``contact`` (the same contact person, by e-mail or
    phone number). Another business id with the same account or person is most often the same
    provider applying twice, so the applicant is warned (``possible-duplicate``) and may
    confirm; the earlier provider is never named."""
    rows = (
        await s.execute(
            select(
                ProviderProfile.iban, ProviderProfile.contact_email, ProviderProfile.contact_phone
            ).where(
                ProviderProfile.organizer_id == organizer_id,
                or_(
                    ProviderProfile.iban == a.iban,
                    func.lower(ProviderProfile.contact_email) == a.contact_email.lower(),
                    ProviderProfile.contact_phone == a.contact_phone,
                ),
            )
        )
    ).all()
    found: list[str] = []
    if any(iban == a.iban for iban, _, _ in rows):
        found.append("iban")
    if any(
        email.lower() == a.contact_email.lower() or phone == a.contact_phone
        for _, email, phone in rows
    ):
        found.append("contact")
    return found


async def check_application(
    db: Database, *, organizer_id: uuid.UUID, application: Application
) -> CleanApplication:
    """Refuse an application before anything is written or a passkey is made for it: the
    same checks ``apply_provider`` makes (it makes them again, in its own transaction), and a
    warning that stops the applicant once: ``possible-duplicate`` (409, ``matches``: ``iban``
    and/or ``contact``) when an earlier application of the county has the same bank account or
    contact person, until they send it again with ``confirm_duplicate``."""
    a = validate_application(application)
    async with UnitOfWork(db, readonly=True) as uow:
        await _check_application(uow.session, organizer_id, a)
        same = [] if a.confirm_duplicate else await duplicates_of(uow.session, organizer_id, a)
    if same:
        raise Conflict(
            "An application with the same " + " and ".join(same) + " exists in this county;"
            " send it again with confirm_duplicate if this is another provider",
            slug="possible-duplicate",
            matches=same,
        )
    return a


async def apply_provider(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    application: Application,
    actor_id: uuid.UUID | None = None,
    owner: ApplicationOwner | None = None,
) -> Applied:
    """Record a provider's application (status ``applied``); nothing is written if any field
    is invalid. The same business id may apply once per organizer (``already-applied``); the
    same bank account or contact person as an earlier application is recorded, and said in
    ``possible_duplicates``.

    With ``owner`` (applying in the app), the contact person becomes the provider's owner with
    their first passkey, in the same transaction; otherwise (an API or portal application) the
    provider gets a principal without a passkey, to be invited later."""
    a = validate_application(application)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        cats = await _check_application(s, organizer_id, a)
        same = await duplicates_of(s, organizer_id, a)
        provider_id = uuid.uuid4()
        language = next((x for x in a.languages if x in ("fi", "sv", "en")), "fi")
        await s.execute(
            insert(Provider).values(
                id=provider_id,
                organizer_id=organizer_id,
                name=a.company_name,
                business_id=a.business_id,
                status=APPLIED,
                language=language,
                created_at=now,
            )
        )
        await s.execute(
            insert(Account).values(
                organizer_id=organizer_id,
                kind=AccountKind.PROVIDER_PAYABLE,
                provider_id=provider_id,
            )
        )
        await s.execute(
            insert(ProviderPrice),
            [
                {
                    "id": uuid.uuid4(),
                    "provider_id": provider_id,
                    "category_id": cats[code],
                    "approved": False,
                }
                for code in a.prices
            ],
        )
        # The applied price is the first version; later changes go through prices.publish_price.
        await add_first_versions(
            s, provider_id, {cats[code]: cents for code, cents in a.prices.items()}, now
        )
        s.add(
            ProviderProfile(
                provider_id=provider_id,
                organizer_id=organizer_id,
                business_id=a.business_id,
                iban=a.iban,
                bic=a.bic,
                contact_name=a.contact_name,
                contact_email=a.contact_email,
                contact_phone=a.contact_phone,
                languages=a.languages,
                municipalities=a.municipalities,
                created_at=now,
            )
        )
        principal = Principal(
            id=owner.principal_id if owner else uuid.uuid4(),
            organizer_id=organizer_id,
            role=Role.PROVIDER,
            display_name=a.contact_name if owner else a.company_name,
            provider_id=provider_id,
            created_at=now,
        )
        s.add(principal)
        actor = owner.principal_id if owner else actor_id
        _audit(s, organizer_id, actor, "provider.applied", provider_id, a.company_name, now)
        try:
            await s.flush()
        except IntegrityError as exc:
            raise AlreadyApplied("A provider with this business id has already applied") from exc
        if owner is not None:
            s.add(ProviderOwner(provider_id=provider_id, principal_id=principal.id))
            await add_first_passkey(uow, principal.id, owner.credential)
        await uow.commit()
        return Applied(provider_id, principal.id, APPLIED, tuple(same))


def _audit(
    s: AsyncSession,
    organizer_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    provider_id: uuid.UUID,
    detail: str | None,
    now: datetime,
) -> None:
    text = f"provider {provider_id}" + (f": {detail}" if detail else "")
    s.add(
        AuditEvent(
            organizer_id=organizer_id,
            actor_id=actor_id,
            action=action,
            detail=text[:2000],
            created_at=now,
        )
    )


# (from statuses, to status, audit action)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "approve": ((APPLIED,), APPROVED, "provider.approved"),
    "reject": ((APPLIED,), REJECTED, "provider.rejected"),
    "suspend": ((APPROVED,), SUSPENDED, "provider.suspended"),
    "reinstate": ((SUSPENDED,), APPROVED, "provider.reinstated"),
}


async def decide_provider(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    provider_id: uuid.UUID,
    action: str,
    actor_id: uuid.UUID,
    reason: str | None = None,
    categories: list[str] | None = None,
) -> str:
    """A case manager's decision about a provider of their organizer: ``approve`` (with the
    categories approved; default all it applied for), ``reject`` (a reason is required),
    ``suspend`` or ``reinstate``. Recorded in the audit trail in the same transaction.

    The status changes by a conditional UPDATE, so two case managers deciding at once cannot
    both succeed; a decision that does not fit the current status is ``provider-status`` (409).
    Returns the new status.
    """
    if action not in TRANSITIONS:
        raise InvalidInput("action must be approve, reject, suspend or reinstate")
    from_statuses, to_status, audit_action = TRANSITIONS[action]
    if reason is not None:
        reason = reason.strip()[:1000] or None
    if action == "reject" and not reason:
        raise InvalidInput("A rejection needs a reason")
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        provider = (
            await s.execute(
                select(Provider).where(
                    Provider.id == provider_id, Provider.organizer_id == organizer_id
                )
            )
        ).scalar_one_or_none()
        if provider is None:
            raise NotFound("No such provider")
        detail = reason
        if action == "approve":
            detail = await _approve_prices(s, provider_id, categories)
        changed = await s.execute(
            update(Provider)
            .where(Provider.id == provider_id, Provider.status.in_(from_statuses))
            .values(status=to_status)
            .returning(Provider.id)
        )
        if changed.first() is None:
            raise ProviderStatusConflict(
                f"A provider that is {provider.status} cannot be {action}d here",
                current_status=provider.status,
            )
        await s.execute(
            update(ProviderProfile)
            .where(ProviderProfile.provider_id == provider_id)
            .values(decision_reason=reason, decided_by=actor_id, decided_at=now)
        )
        _audit(s, organizer_id, actor_id, audit_action, provider_id, detail, now)
        await uow.commit()
    return to_status


async def _approve_prices(
    s: AsyncSession, provider_id: uuid.UUID, categories: list[str] | None
) -> str:
    rows = (
        await s.execute(
            select(ProviderPrice.id, ServiceCategory.code)
            .join(ServiceCategory, ServiceCategory.id == ProviderPrice.category_id)
            .where(ProviderPrice.provider_id == provider_id)
        )
    ).all()
    applied = {code: pid for pid, code in rows}
    wanted = list(applied) if categories is None else list(dict.fromkeys(categories))
    unknown = [c for c in wanted if c not in applied]
    if unknown:
        raise InvalidInput(f"Not among the services applied for: {', '.join(unknown)}")
    if not wanted:
        raise InvalidInput("Approve at least one service")
    await s.execute(
        update(ProviderPrice)
        .where(ProviderPrice.id.in_([applied[c] for c in wanted]))
        .values(approved=True)
    )
    return "categories " + ",".join(sorted(wanted))


@dataclass(frozen=True)
class ProviderSummary:
    provider_id: uuid.UUID
    name: str
    business_id: str
    status: str
    iban: str | None
    bic: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    languages: list[str]
    municipalities: list[str]
    prices: list[dict[str, Any]]
    decision_reason: str | None
    created_at: datetime


async def list_providers(
    db: Database, *, organizer_id: uuid.UUID, status: str | None = None
) -> list[ProviderSummary]:
    """The organizer's providers (optionally of one status) with profile and prices, for case
    managers reviewing applications."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        stmt = (
            select(Provider, ProviderProfile)
            .outerjoin(ProviderProfile, ProviderProfile.provider_id == Provider.id)
            .where(Provider.organizer_id == organizer_id)
            .order_by(Provider.created_at, Provider.id)
        )
        if status is not None:
            stmt = stmt.where(Provider.status == status)
        rows = (await s.execute(stmt)).all()
        ids = [p.id for p, _ in rows]
        prices: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            today = helsinki_day(utcnow())
            later = await upcoming_changes(s, ids, today)
            for pid, cat_id, code, cents, approved in (
                await s.execute(
                    select(
                        ProviderPrice.provider_id,
                        ServiceCategory.id,
                        ServiceCategory.code,
                        ProviderPriceVersion.unit_price_cents,
                        ProviderPrice.approved,
                    )
                    .join(ServiceCategory, ServiceCategory.id == ProviderPrice.category_id)
                    .join(
                        ProviderPriceVersion,
                        and_(
                            ProviderPriceVersion.provider_id == ProviderPrice.provider_id,
                            ProviderPriceVersion.category_id == ProviderPrice.category_id,
                            in_force_on(today),
                        ),
                    )
                    .where(ProviderPrice.provider_id.in_(ids))
                    .order_by(ServiceCategory.code)
                )
            ).all():
                prices[pid].append(
                    {
                        "category": code,
                        "unit_price_cents": int(cents),
                        "approved": bool(approved),
                        "upcoming": [
                            {"effective_from": eff.isoformat(), "unit_price_cents": c}
                            for eff, c in later.get((pid, cat_id), [])
                        ],
                    }
                )
    return [
        ProviderSummary(
            provider_id=p.id,
            name=p.name,
            business_id=p.business_id,
            status=p.status,
            iban=prof.iban if prof else None,
            bic=prof.bic if prof else None,
            contact_name=prof.contact_name if prof else None,
            contact_email=prof.contact_email if prof else None,
            contact_phone=prof.contact_phone if prof else None,
            languages=list(prof.languages) if prof else [p.language],
            municipalities=list(prof.municipalities) if prof else [],
            prices=prices[p.id],
            decision_reason=prof.decision_reason if prof else None,
            created_at=p.created_at,
        )
        for p, prof in rows
    ]


# ---------------------------------------------------------------------------------------------
# The directory that clients and carers compare providers in


@dataclass(frozen=True)
class DirectoryEntry:
    provider_id: uuid.UUID
    provider_name: str
    category: str
    category_name: str
    unit: str
    unit_price_cents: int  # in force today (Helsinki)
    municipalities: list[str]
    languages: list[str]
    contact_phone: str | None
    # The next announced price change, if any.
    next_price_from: date | None = None
    next_price_cents: int | None = None


async def provider_directory(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    category: str | None = None,
    municipality: str | None = None,
    language: str | None = None,
    display_language: str = "fi",
    now: datetime | None = None,
) -> list[DirectoryEntry]:
    """Approved providers of an organizer with each approved service's price, unit, area and
    languages, cheapest first. Filters: category code, municipality served (case-insensitive)
    and language served. Suspended, rejected and applying providers are never listed.

    The price is the version in force today (Helsinki); an announced change is shown beside it.
    """
    today = helsinki_day(now or utcnow())
    name_col = {
        "sv": ServiceCategory.name_sv,
        "en": ServiceCategory.name_en,
    }.get(display_language, ServiceCategory.name_fi)
    stmt = (
        select(
            Provider.id,
            Provider.name,
            Provider.language,
            ServiceCategory.code,
            name_col,
            ServiceCategory.unit,
            ProviderPriceVersion.unit_price_cents,
            ProviderProfile.municipalities,
            ProviderProfile.languages,
            ProviderProfile.contact_phone,
            ServiceCategory.id,
        )
        .join(ProviderPrice, ProviderPrice.provider_id == Provider.id)
        .join(ServiceCategory, ServiceCategory.id == ProviderPrice.category_id)
        .join(
            ProviderPriceVersion,
            and_(
                ProviderPriceVersion.provider_id == ProviderPrice.provider_id,
                ProviderPriceVersion.category_id == ProviderPrice.category_id,
                in_force_on(today),
            ),
        )
        .outerjoin(ProviderProfile, ProviderProfile.provider_id == Provider.id)
        .where(
            Provider.organizer_id == organizer_id,
            Provider.status == APPROVED,
            ProviderPrice.approved.is_(True),
        )
        .order_by(ProviderPriceVersion.unit_price_cents, Provider.name, ServiceCategory.code)
    )
    if category:
        stmt = stmt.where(ServiceCategory.code == category)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt)).all()
        later = await upcoming_changes(uow.session, list({r[0] for r in rows}), today)
    want_place = municipality.strip().casefold() if municipality else None
    want_lang = language.strip().lower() if language else None
    out: list[DirectoryEntry] = []
    for pid, name, plang, code, cname, unit, cents, places, langs, phone, cat_id in rows:
        places = list(places or [])
        langs = list(langs or [plang])
        if want_place and want_place not in {p.casefold() for p in places}:
            continue
        if want_lang and want_lang not in langs:
            continue
        upcoming = later.get((pid, cat_id))
        out.append(
            DirectoryEntry(
                pid,
                name,
                code,
                cname,
                unit,
                int(cents),
                places,
                langs,
                phone,
                upcoming[0][0] if upcoming else None,
                upcoming[0][1] if upcoming else None,
            )
        )
    return out


async def create_provider(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    name: str,
    business_id: str,
    prices: dict[str, int],
    language: str = "fi",
    owner: bool = False,
) -> tuple[uuid.UUID, uuid.UUID]:
    """Create an approved provider with list prices (category code -> cents per unit).

    Returns (provider id, principal id of its first person), who is the provider's owner (may
    invite and remove staff) with ``owner``. Providers that apply go through the application
    instead; this is the set-up path of the demo, the benchmarks and the tests.
    """
    async with UnitOfWork(db) as uow:
        s = uow.session
        now = utcnow()
        provider = Provider(
            organizer_id=organizer_id,
            name=name,
            business_id=business_id,
            status="approved",
            language=language,
            created_at=now,
        )
        s.add(provider)
        await s.flush()
        s.add(
            Account(
                organizer_id=organizer_id,
                kind=AccountKind.PROVIDER_PAYABLE,
                provider_id=provider.id,
            )
        )
        cats = await catalogue.categories_by_code(uow, organizer_id, prices)
        # No cap check here (set-up and demo path; a cap may also be lowered later): charges
        # check the cap, and providers' own paths (application, new price) refuse above it.
        for code, cents in prices.items():
            if not 0 < cents <= MAX_CENTS:
                raise InvalidInput("a price must be a positive number of cents")
            s.add(ProviderPrice(provider_id=provider.id, category_id=cats[code], approved=True))
        await add_first_versions(
            s, provider.id, {cats[code]: cents for code, cents in prices.items()}, now
        )
        principal = Principal(
            organizer_id=organizer_id,
            role=Role.PROVIDER,
            display_name=name,
            provider_id=provider.id,
            created_at=now,
        )
        s.add(principal)
        if owner:
            await s.flush()
            s.add(ProviderOwner(provider_id=provider.id, principal_id=principal.id))
        await uow.commit()
        return provider.id, principal.id
