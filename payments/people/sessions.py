"""Sessions: server-side rows found by the hash of the cookie's token, started after a
verified passkey assertion. They end after an idle timeout, at an absolute limit, or on
sign-out; writes through a session need its CSRF token."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from payments.clock import utcnow
from payments.db import Database
from payments.errors import NotFound
from payments.models import (
    Passkey,
    Principal,
    WebSession,
)
from payments.people import audit
from payments.people.access import Actor, actor_of
from payments.people.passkeys import PasskeyUnknown, StoredPasskey
from payments.people.secrets import hash_secret
from payments.uow import UnitOfWork


@dataclass(frozen=True)
class SessionInfo:
    """What the PWA needs to warn before a session ends."""

    session_id: uuid.UUID
    csrf_token: str
    idle_timeout_s: int
    idle_expires_at: datetime
    expires_at: datetime

    def seconds_left(self, now: datetime) -> int:
        return max(0, int((min(self.idle_expires_at, self.expires_at) - now).total_seconds()))


@dataclass(frozen=True)
class NewSession:
    token: str
    actor: Actor
    info: SessionInfo


@dataclass(frozen=True)
class SessionLookup:
    """A live session's actor, or ``expired`` when the cookie named an ended session."""

    actor: Actor | None
    info: SessionInfo | None
    expired: bool


def _info(row: WebSession) -> SessionInfo:
    last_seen = row.last_seen_at
    return SessionInfo(
        session_id=row.id,
        csrf_token=row.csrf_token,
        idle_timeout_s=row.idle_timeout_s,
        idle_expires_at=last_seen + timedelta(seconds=row.idle_timeout_s),
        expires_at=row.expires_at,
    )


async def sign_in(
    db: Database,
    *,
    passkey: StoredPasskey,
    new_sign_count: int,
    idle_timeout: timedelta,
    max_age: timedelta,
    detail: str | None = None,
) -> NewSession:
    """Start a session after a verified assertion. The sign counter is stored; a decrease is
    audited (it may mean a cloned key) but never refused, since synced passkeys send 0."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    async with UnitOfWork(db) as uow:
        s = uow.session
        principal = await s.get(Principal, passkey.principal_id)
        if principal is None or principal.removed_at is not None:
            raise PasskeyUnknown()
        if new_sign_count < passkey.sign_count and (new_sign_count or passkey.sign_count):
            audit.add(
                uow.session,
                "passkey.counter_decreased",
                actor_id=principal.id,
                organizer_id=principal.organizer_id,
                subject_client_id=principal.client_id,
                detail=f"passkey {passkey.id}: {passkey.sign_count} -> {new_sign_count}",
            )
        await s.execute(
            update(Passkey)
            .where(Passkey.id == passkey.id)
            .values(sign_count=new_sign_count, last_used_at=now)
        )
        row = WebSession(
            token_hash=hash_secret(token),
            principal_id=principal.id,
            passkey_id=passkey.id,
            csrf_token=secrets.token_urlsafe(24),
            idle_timeout_s=int(idle_timeout.total_seconds()),
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
        s.add(row)
        await s.flush()
        audit.add(
            uow.session,
            "signin.succeeded",
            actor_id=principal.id,
            organizer_id=principal.organizer_id,
            subject_client_id=principal.client_id,
            detail=detail or f"passkey {passkey.id}",
        )
        await uow.commit()
        return NewSession(token=token, actor=actor_of(principal), info=_info(row))


async def authenticate_session(
    db: Database, token: str, *, touch: bool = True, touch_every_s: int = 15
) -> SessionLookup:
    """The actor behind a session cookie. Using it (``touch``) restarts the idle clock; the
    row is written at most every ``touch_every_s`` seconds so reads stay cheap."""
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(WebSession, Principal)
                .join(Principal, Principal.id == WebSession.principal_id)
                .where(WebSession.token_hash == hash_secret(token))
            )
        ).first()
    if row is None:
        return SessionLookup(None, None, expired=True)
    session, principal = row
    info = _info(session)
    if session.ended_at is not None or info.seconds_left(now) <= 0:
        return SessionLookup(None, None, expired=True)
    if principal.removed_at is not None:
        return SessionLookup(None, None, expired=True)
    if touch and (now - session.last_seen_at).total_seconds() >= touch_every_s:
        async with UnitOfWork(db) as uow:
            await uow.session.execute(
                update(WebSession)
                .where(WebSession.id == session.id, WebSession.ended_at.is_(None))
                .values(last_seen_at=now)
            )
            await uow.commit()
        session.last_seen_at = now
        info = _info(session)
    return SessionLookup(actor_of(principal), info, expired=False)


async def end_session(db: Database, session_id: uuid.UUID, actor: Actor) -> None:
    """Sign out: the session ends on the server, whatever the browser keeps."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
        audit.add(
            uow.session,
            "signout",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=actor.client_id,
        )
        await uow.commit()


def csrf_matches(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


@dataclass(frozen=True)
class ActiveSession:
    """One of a person's live sessions, as their devices screen shows it."""

    session_id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    passkey_name: str | None


async def list_sessions(db: Database, principal_id: uuid.UUID) -> list[ActiveSession]:
    """This person's sessions that are still live (not ended, not past their idle or absolute
    limit), the most recently seen first, with the name of the passkey each began with."""
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(WebSession, Passkey.name)
                .outerjoin(Passkey, Passkey.id == WebSession.passkey_id)
                .where(
                    WebSession.principal_id == principal_id,
                    WebSession.ended_at.is_(None),
                    WebSession.expires_at > now,
                )
                .order_by(WebSession.last_seen_at.desc(), WebSession.id)
            )
        ).all()
    return [
        ActiveSession(row.id, row.created_at, row.last_seen_at, row.expires_at, name)
        for row, name in rows
        if _info(row).seconds_left(now) > 0
    ]


async def end_own_session(db: Database, actor: Actor, session_id: uuid.UUID) -> None:
    """A person ends one of their own sessions (a device they left signed in). Someone else's
    session, or one already ended, is "not found" (the same answer, so ids reveal nothing).
    Audited as ``session.ended``."""
    async with UnitOfWork(db) as uow:
        ended = await uow.session.execute(
            update(WebSession)
            .where(
                WebSession.id == session_id,
                WebSession.principal_id == actor.principal_id,
                WebSession.ended_at.is_(None),
            )
            .values(ended_at=utcnow())
        )
        if int(ended.rowcount) != 1:  # type: ignore[attr-defined]
            raise NotFound("No such session")
        audit.add(
            uow.session,
            "session.ended",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=actor.client_id,
            detail=f"session {session_id}",
        )
        await uow.commit()
