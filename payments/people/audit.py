"""The audit trail: who did or looked at what, and when."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.models import AuditEvent
from payments.uow import UnitOfWork


async def record(
    db: Database,
    *,
    action: str,
    actor_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    subject_client_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    """Append one audit event in its own transaction."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            insert(AuditEvent).values(
                action=action,
                actor_id=actor_id,
                organizer_id=organizer_id,
                subject_client_id=subject_client_id,
                detail=detail,
                created_at=utcnow(),
            )
        )
        await uow.commit()


def add(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    subject_client_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    """Append one audit event to the caller's transaction (it commits with the change)."""
    session.add(
        AuditEvent(
            action=action,
            actor_id=actor_id,
            organizer_id=organizer_id,
            subject_client_id=subject_client_id,
            detail=detail,
            created_at=utcnow(),
        )
    )
