"""Organizers (counties) as an operator sets them up: create one by its slug, list them.

Creating is idempotent: the same slug and name again is "exists", the same slug with another
name is a conflict (a slug names one county for good: links and imports use it).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from payments.budgets.catalogue import add_organizer, clean_text
from payments.db import Database
from payments.errors import Conflict, InvalidInput, NotFound
from payments.models import Organizer, Principal, ServiceCategory
from payments.people import audit
from payments.uow import UnitOfWork
from payments.vocabulary import Role

SLUG_MAX = 40  # organizers.slug
NAME_MAX = 200  # organizers.name
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def check_slug(raw: str) -> str:
    """An organizer's slug: lowercase letters a-z, digits and single inner dashes."""
    slug = raw.strip() if isinstance(raw, str) else ""
    if not slug:
        raise InvalidInput("slug is required")
    if len(slug) > SLUG_MAX:
        raise InvalidInput(f"slug has at most {SLUG_MAX} characters")
    if not _SLUG.fullmatch(slug):
        raise InvalidInput(
            f"slug {slug!r} may have only lowercase letters a-z, digits and dashes "
            "(not at either end), for example kainuu or etela-savo"
        )
    return slug


class Created(StrEnum):
    CREATED = "created"
    EXISTS = "exists"
    WOULD_CREATE = "would-create"  # a dry run


@dataclass(frozen=True)
class EnsuredOrganizer:
    status: Created
    slug: str
    name: str
    organizer_id: uuid.UUID | None  # None: a dry run that would create it


@dataclass(frozen=True)
class OrganizerSummary:
    organizer_id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    categories: int
    case_managers: int
    admins: int


async def ensure_organizer(
    db: Database, *, slug: str, name: str, dry_run: bool = False
) -> EnsuredOrganizer:
    """Create the organizer ``slug`` named ``name`` with its own accounts, unless it exists.

    Refused (``conflict``) when the slug is taken by an organizer of another name. With
    ``dry_run`` nothing is written. Audited as ``organizer.created`` (by no one: an operator).
    """
    slug = check_slug(slug)
    name = clean_text(name, what="name", max_len=NAME_MAX)
    async with UnitOfWork(db) as uow:
        existing = (
            await uow.session.execute(select(Organizer).where(Organizer.slug == slug))
        ).scalar_one_or_none()
        if existing is not None:
            if existing.name != name:
                raise Conflict(
                    f"organizer {slug} exists with another name ({existing.name!r}); "
                    "a slug names one county"
                )
            return EnsuredOrganizer(Created.EXISTS, slug, name, existing.id)
        if dry_run:
            return EnsuredOrganizer(Created.WOULD_CREATE, slug, name, None)
        try:
            org = await add_organizer(uow.session, slug=slug, name=name)
        except IntegrityError as exc:  # created meanwhile by another run
            raise Conflict(f"organizer {slug} was created meanwhile; run this again") from exc
        audit.add(
            uow.session,
            "organizer.created",
            actor_id=None,
            organizer_id=org.id,
            detail=f"{slug}: {name}",
        )
        await uow.commit()
        return EnsuredOrganizer(Created.CREATED, slug, name, org.id)


async def find_organizer(db: Database, slug: str) -> OrganizerSummary:
    """The organizer with this slug, or ``not-found`` naming the slug."""
    for found in await list_organizers(db, slug=slug):
        return found
    raise NotFound(f"no organizer with slug {slug!r} (see: wallet organizer list)")


async def list_organizers(db: Database, *, slug: str | None = None) -> list[OrganizerSummary]:
    """Every organizer (or the one with ``slug``) with its catalogue and staff counts."""
    categories = (
        select(func.count())
        .where(ServiceCategory.organizer_id == Organizer.id)
        .correlate(Organizer)
        .scalar_subquery()
    )
    staff = Principal.organizer_id == Organizer.id, Principal.role == Role.CASE_MANAGER
    active = Principal.removed_at.is_(None)
    managers = select(func.count()).where(*staff, active).correlate(Organizer).scalar_subquery()
    admins = (
        select(func.count())
        .where(*staff, active, Principal.admin.is_(True))
        .correlate(Organizer)
        .scalar_subquery()
    )
    query = select(Organizer, categories, managers, admins).order_by(Organizer.slug)
    if slug is not None:
        query = query.where(Organizer.slug == slug)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(query)).all()
    return [
        OrganizerSummary(
            organizer_id=org.id,
            slug=org.slug,
            name=org.name,
            created_at=org.created_at,
            categories=int(n_categories),
            case_managers=int(n_managers),
            admins=int(n_admins),
        )
        for org, n_categories, n_managers, n_admins in rows
    ]
