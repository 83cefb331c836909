"""Authentication (API keys for integrations, passkey sessions for people; both yield the same
``Actor``) and the guards every route declares.

A session cookie authenticates only when no ``Authorization`` header is sent. Every unsafe
request authenticated by the cookie must carry the session's CSRF token in ``X-CSRF-Token``;
API-key requests carry no cookie and need none.

The middleware never refuses a request itself: it attaches the actor, or None. Each route's
guards decide, so a public route says so explicitly with ``opt={"public": True}`` and a test
checks that every other route has a guard.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from payments.db import Database
from payments.errors import DomainError, Forbidden, NotFound, Refusal
from payments.people import audit
from payments.people.access import Actor, authenticate_api_key
from payments.people.mandates import mandate_scopes
from payments.people.sessions import SessionInfo, authenticate_session, csrf_matches
from payments.reporting.wallet_views import OwnedKind, charge_parties, organizer_of, wallet_owner
from payments.vocabulary import Role
from wallet_api.cookies import CSRF_HEADER, session_cookie_name

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class SessionExpired(DomainError):
    kind = Refusal.UNAUTHENTICATED
    slug = "session-expired"
    title = "Your session has ended; sign in again"


class CsrfInvalid(DomainError):
    kind = Refusal.FORBIDDEN
    slug = "csrf-invalid"
    title = "The request lacks a valid CSRF token; reload the page"


async def _session_result(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> AuthenticationResult:
    settings = connection.app.state.settings
    token = connection.cookies.get(session_cookie_name(settings))
    if not token:
        return AuthenticationResult(user=None, auth=None)
    db: Database = connection.app.state.db
    handler = connection.scope.get("route_handler")
    touch = bool(getattr(handler, "opt", {}).get("session_touch", True))
    found = await authenticate_session(db, token, touch=touch)
    if found.actor is None or found.info is None:
        connection.scope["session_expired"] = True  # type: ignore[typeddict-unknown-key]
        return AuthenticationResult(user=None, auth=None)
    if connection.scope.get("method") not in SAFE_METHODS and not csrf_matches(
        found.info.csrf_token, connection.headers.get(CSRF_HEADER)
    ):
        raise CsrfInvalid()
    return AuthenticationResult(user=found.actor, auth=found.info)


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> SessionInfo | None:
    """The session behind this request, or None (API key or anonymous)."""
    auth = connection.scope.get("auth")
    return auth if isinstance(auth, SessionInfo) else None


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """``Authorization: Bearer wk_...`` -> the key's principal; else a session cookie -> its
    principal; neither -> anonymous (the route's guards decide)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            return await _session_result(connection)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("Use 'Authorization: Bearer <api key>'")
        db: Database = connection.app.state.db
        actor = await authenticate_api_key(db, token.strip())
        if actor is None:
            raise NotAuthorizedException("The API key is not valid or has been revoked")
        return AuthenticationResult(user=actor, auth=token)


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        if connection.scope.get("session_expired"):
            raise SessionExpired()
        raise NotAuthorizedException("Sign in or send an API key")


# Path parameters that name a row of some organizer (``payments.queries.organizer_of``).
# tests/wallet_api/test_authz_matrix.py checks that every other path parameter is not an id.
PATH_IDS: dict[str, OwnedKind] = {
    "wallet_id": "wallet",
    "client_id": "client",
    "provider_id": "provider",
    "charge_id": "charge",
    "hold_id": "hold",
    "request_id": "payment_request",
    "card_id": "card",
    "settlement_id": "settlement",
    "principal_id": "principal",
    "correction_id": "correction",
    "endpoint_id": "webhook_endpoint",
    "delivery_id": "webhook_delivery",
    "optin_id": "sms_optin",
}


async def hide_other_organizers(
    connection: ASGIConnection[Any, Any, Any, Any], actor: Actor
) -> None:
    """404 if the path names a row that is not in the actor's organizer (or nowhere): to
    another organizer's people, its ids do not exist, so a refusal must not tell them that
    they do. Ownership checks do the same for the roles a route admits."""
    db: Database = connection.app.state.db
    for name, value in connection.path_params.items():
        kind = PATH_IDS.get(name)
        if kind is None:
            continue
        try:
            row_id = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError as exc:
            raise NotFound("Not found") from exc
        if await organizer_of(db, kind, row_id) != actor.organizer_id:
            raise NotFound("Not found")


async def admins_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A case manager with the admin right (the use cases check it again from the row): staff
    management and webhooks."""
    signed_in(connection, handler)
    actor: Actor = connection.scope["user"]
    if actor.role != "case_manager" or not actor.admin:
        await hide_other_organizers(connection, actor)
        raise PermissionDeniedException("This needs a case manager's admin right")


def roles(*allowed: str) -> Guard:
    """A guard that admits only the given roles (and refuses anonymous callers with 401).

    A role it refuses gets 403, unless the path names a row of another organizer (or none):
    then 404, the answer an id that does not exist gets."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        signed_in(connection, handler)
        actor: Actor = connection.scope["user"]
        if actor.role not in allowed:
            await hide_other_organizers(connection, actor)
            raise PermissionDeniedException(
                f"This needs the role {' or '.join(allowed)}; you are {actor.role}"
            )

    guard.__name__ = f"roles_{'_'.join(allowed)}"
    return guard


async def wallet_in_organizer(
    db: Database, actor: Actor, wallet_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """(organizer, client) of a wallet of the actor's organizer; any other wallet, like one
    that does not exist, is ``not-found``. Every wallet ownership check starts here, so
    another organizer's people never learn which wallet ids exist."""
    owner = await wallet_owner(db, wallet_id)
    if owner is None or owner[0] != actor.organizer_id:
        raise NotFound("No such wallet")
    return owner


async def ensure_wallet_visible(
    db: Database, actor: Actor, wallet_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """A client sees their own wallet, a carer one they hold ``view`` for, a case manager
    those of their organizer. Providers see no wallets. Returns (organizer, client).
    Another organizer's wallet is ``not-found``; one's own organizer's, ``forbidden``."""
    owner = await wallet_in_organizer(db, actor, wallet_id)
    _organizer_id, client_id = owner
    if actor.role == Role.CLIENT and actor.client_id == client_id:
        return owner
    if actor.role == Role.CASE_MANAGER:
        return owner
    if actor.role == Role.CARER and "view" in await mandate_scopes(
        db, actor.principal_id, wallet_id
    ):
        return owner
    raise Forbidden("You may not see this wallet")


async def read_wallet(
    db: Database, actor: Actor, wallet_id: uuid.UUID, action: str, *more: str
) -> None:
    """``ensure_wallet_visible``, and a read by anyone but the client themselves (a case
    manager, a carer) recorded in the audit trail as ``action`` and each of ``more`` (one answer
    may show several things, checked once): which services a person uses is health-related, so every
    such view is audited (and shown to the client under "who looked at my data")."""
    _organizer_id, client_id = await ensure_wallet_visible(db, actor, wallet_id)
    if not (actor.role == Role.CLIENT and actor.client_id == client_id):
        for each in (action, *more):
            await audit.record(
                db,
                action=each,
                actor_id=actor.principal_id,
                organizer_id=actor.organizer_id,
                subject_client_id=client_id,
                detail=str(wallet_id),
            )


async def ensure_charge_visible(db: Database, actor: Actor, charge_id: uuid.UUID) -> None:
    parties = await charge_parties(db, charge_id)
    if parties is None or parties[0] != actor.organizer_id:
        raise NotFound("No such charge")
    _organizer_id, provider_id, wallet_id = parties
    if actor.role == Role.PROVIDER:
        if actor.provider_id != provider_id:
            raise NotFound("No such charge")
        return
    await ensure_wallet_visible(db, actor, wallet_id)
