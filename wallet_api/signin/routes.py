"""Controllers: passkey ceremonies, sessions, invites, mandates and the audit trail.

Ceremonies run in two steps, ``options`` then ``verify``. The options step stores a random
challenge bound to this browser (an HttpOnly ceremony cookie, or the session when signed in);
the verify step takes it back exactly once.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import Parameter

from payments.db import Database
from payments.errors import DomainError, InvalidInput
from payments.marketplace import directory, providers
from payments.people import (
    audit,
    audit_views,
    challenges,
    invites,
    mandates,
    passkeys,
    ratelimits,
    sessions,
)
from payments.people.access import Actor
from payments.people.challenges import ChallengeInvalid
from payments.people.passkeys import PasskeyUnknown
from payments.people.sessions import NewSession
from wallet_api.auth import roles, session_of, signed_in
from wallet_api.cookies import (
    ceremony_cookie_name,
    expired_cookie,
    make_cookie,
    session_cookie_name,
)
from wallet_api.deps import MAX_ROW_ID
from wallet_api.edge import client_address
from wallet_api.marketplace import schemas as ms
from wallet_api.problems import language_of
from wallet_api.settings import Settings
from wallet_api.signin import ceremony
from wallet_api.signin import schemas as s
from wallet_api.signin.invite_view import invite_out

PUBLIC = {"public": True}
APPLICATION = {"public": True, "per_address_limit": "rate_applications"}


# Rate limits answer through the app-wide domain-error handler (with Retry-After).
HANDLERS: dict[type[Exception] | int, Any] = {}


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ip(request: Request[Any, Any, Any]) -> str:
    return client_address(request)  # through trusted proxies only (wallet_api.edge)


async def _start_ceremony(
    request: Request[Any, Any, Any],
    db: Database,
    *,
    purpose: str,
    challenge: str,
    **bound: Any,
) -> Any:
    """Store the challenge bound to a fresh ceremony cookie; return that cookie."""
    settings = _settings(request)
    await ratelimits.take_attempt(
        db,
        f"ceremony:{_ip(request)}",
        limit=settings.rate_ceremonies,
        window_s=settings.rate_window_s,
    )
    nonce = secrets.token_urlsafe(32)
    await challenges.save_challenge(
        db,
        binding=nonce,
        purpose=purpose,
        challenge=challenge,
        ttl=timedelta(seconds=settings.challenge_ttl_s),
        **bound,
    )
    return make_cookie(
        settings, ceremony_cookie_name(settings), nonce, settings.challenge_ttl_s + 60
    )


async def _take(
    request: Request[Any, Any, Any], db: Database, purpose: str, credential: dict[str, Any]
) -> challenges.TakenChallenge:
    settings = _settings(request)
    nonce = request.cookies.get(ceremony_cookie_name(settings))
    if not nonce:
        raise ChallengeInvalid("Start again: this browser has no sign-in step under way")
    return await challenges.take_challenge(
        db, binding=nonce, purpose=purpose, challenge=ceremony.challenge_of(credential)
    )


def _signed_in_response(
    settings: Settings, new: NewSession, *, status: int = 200, provider_id: uuid.UUID | None = None
) -> Response[s.SignedIn]:
    body = s.SignedIn(
        principal_id=new.actor.principal_id,
        role=new.actor.role,
        display_name=new.actor.display_name,
        csrf_token=new.info.csrf_token,
        session=s.session_status(new.info),
        provider_id=provider_id or new.actor.provider_id,
    )
    return Response(
        body,
        status_code=status,
        cookies=[
            make_cookie(
                settings, session_cookie_name(settings), new.token, settings.session_max_age_s
            ),
            expired_cookie(settings, ceremony_cookie_name(settings)),
        ],
    )


async def _start_session(
    settings: Settings, db: Database, passkey: passkeys.StoredPasskey, sign_count: int, how: str
) -> NewSession:
    return await sessions.sign_in(
        db,
        passkey=passkey,
        new_sign_count=sign_count,
        idle_timeout=timedelta(seconds=settings.session_idle_timeout_s),
        max_age=timedelta(seconds=settings.session_max_age_s),
        detail=how,
    )


class SignInController(Controller):
    """Sign in with a passkey; see and end the session."""

    tags = ["sign-in"]
    exception_handlers = HANDLERS

    @post("/api/signin/options", opt=PUBLIC, status_code=200)
    async def signin_options(
        self, request: Request[Any, Any, Any], db: Database
    ) -> Response[s.CeremonyOptions]:
        """Start a sign-in: options for ``navigator.credentials.get`` (discoverable passkeys,
        user verification required). The challenge is valid for 5 minutes, once."""
        options, challenge = ceremony.authentication_options(_settings(request))
        cookie = await _start_ceremony(request, db, purpose="authenticate", challenge=challenge)
        return Response(s.CeremonyOptions(publicKey=options), cookies=[cookie])

    @post("/api/signin/verify", opt=PUBLIC, status_code=200)
    async def signin_verify(
        self, request: Request[Any, Any, Any], data: s.CredentialCreate, db: Database
    ) -> Response[s.SignedIn]:
        """Finish a sign-in: the passkey's signed answer starts a session (HttpOnly cookie);
        the response carries the CSRF token to send as ``X-CSRF-Token`` on writes."""
        settings = _settings(request)
        # Counted before the attempt, given back when it succeeds: only failures use it up.
        attempt = await ratelimits.take_attempt(
            db,
            f"signin:{_ip(request)}",
            limit=settings.rate_signin_failures,
            window_s=settings.rate_window_s,
        )
        passkey: passkeys.StoredPasskey | None = None
        try:
            taken = await _take(request, db, "authenticate", data.credential)
            passkey = await passkeys.find_passkey(db, ceremony.credential_id_of(data.credential))
            handle = ceremony.user_handle_of(data.credential)
            if handle is not None and handle != ceremony.user_handle(passkey.principal_id):
                raise PasskeyUnknown("The passkey does not belong to this account")
            verified = ceremony.verify_assertion(
                settings, data.credential, challenge=taken.challenge, public_key=passkey.public_key
            )
        except DomainError as exc:
            await audit.record(
                db,
                action="signin.failed",
                actor_id=passkey.principal_id if passkey else None,
                organizer_id=None,
                detail=f"{exc.slug}: {exc.detail}"[:500],
            )
            raise
        await ratelimits.give_back(db, attempt)
        new = await _start_session(settings, db, passkey, verified.new_sign_count, "passkey")
        return _signed_in_response(settings, new)

    @get("/api/session", guards=[signed_in], opt={"session_touch": False})
    async def session(self, request: Request[Any, Any, Any]) -> s.SessionStatus | None:
        """Time left in this session without extending it (null for API keys). Any other
        request extends it; warn the person ``warn_before_s`` seconds before it ends."""
        info = session_of(request)
        return s.session_status(info) if info else None

    @post("/api/signout", guards=[signed_in], status_code=204)
    async def signout(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> Response[None]:
        """End the session on the server and clear its cookie."""
        settings = _settings(request)
        info = session_of(request)
        if info is not None:
            await sessions.end_session(db, info.session_id, actor)
        return Response(
            None, status_code=204, cookies=[expired_cookie(settings, session_cookie_name(settings))]
        )


class InviteRedeemController(Controller):
    """Redeem an invite: register a first (or, after a lost phone, a new) passkey."""

    tags = ["sign-in"]
    exception_handlers = HANDLERS

    @post("/api/invites/redeem/options", opt=PUBLIC, status_code=200)
    async def redeem_options(
        self, request: Request[Any, Any, Any], data: s.InviteRedemptionCreate, db: Database
    ) -> Response[s.InviteOptions]:
        """Check an invite code and return passkey creation options for its person."""
        settings = _settings(request)
        attempt = await ratelimits.take_attempt(
            db,
            f"invite:{_ip(request)}",
            limit=settings.rate_invite_failures,
            window_s=settings.rate_window_s,
        )
        try:
            info = await invites.lookup_invite(db, data.code)
            actor: Actor | None = request.scope.get("user")
            if actor is not None and actor.principal_id != info.principal_id:
                raise invites.InviteWrongPerson()
        except DomainError as exc:
            await audit.record(
                db,
                action="invite.failed",
                actor_id=actor.principal_id if (actor := request.scope.get("user")) else None,
                organizer_id=None,
                detail=exc.slug,
            )
            raise
        await ratelimits.give_back(db, attempt)
        options, challenge = ceremony.registration_options(
            settings,
            principal_id=info.principal_id,
            user_name=info.display_name,
            display_name=info.display_name,
        )
        cookie = await _start_ceremony(
            request,
            db,
            purpose="register",
            challenge=challenge,
            principal_id=info.principal_id,
            invite_id=info.invite_id,
        )
        body = s.InviteOptions(
            invite=s.InviteFor(
                display_name=info.display_name,
                role=info.role,
                organizer_name=info.organizer_name,
                expires_at=info.expires_at,
            ),
            publicKey=options,
        )
        return Response(body, cookies=[cookie])

    @post("/api/invites/redeem/verify", opt=PUBLIC, status_code=201)
    async def redeem_verify(
        self, request: Request[Any, Any, Any], data: s.CredentialCreate, db: Database
    ) -> Response[s.SignedIn]:
        """Register the passkey, use up the invite and sign the person in."""
        settings = _settings(request)
        taken = await _take(request, db, "register", data.credential)
        assert taken.principal_id is not None and taken.invite_id is not None
        actor: Actor | None = request.scope.get("user")
        if actor is not None and actor.principal_id != taken.principal_id:
            raise invites.InviteWrongPerson()
        cred = ceremony.verify_registration(
            settings,
            data.credential,
            challenge=taken.challenge,
            name=data.passkey_name or "Passkey",
        )
        passkey_id = await passkeys.redeem_invite(
            db, invite_id=taken.invite_id, principal_id=taken.principal_id, credential=cred
        )
        stored = passkeys.StoredPasskey(
            passkey_id, taken.principal_id, cred.public_key, cred.sign_count
        )
        new = await _start_session(settings, db, stored, cred.sign_count, "invite")
        return _signed_in_response(settings, new, status=201)


class ProviderApplyController(Controller):
    """A provider registers itself: business, contact person and first passkey."""

    tags = ["sign-in"]
    exception_handlers = HANDLERS

    @get("/api/providers/apply/county", opt=PUBLIC)
    async def apply_county(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        organizer: Annotated[str, Parameter(min_length=1, max_length=40)],
    ) -> s.CountyForApplicants:
        """The county's name and services (unit, price cap) for the application form."""
        found = await directory.county_for_applicants(db, organizer, language_of(request))
        return msgspec.convert(found, s.CountyForApplicants)

    @post("/api/providers/apply/options", opt=PUBLIC, status_code=200)
    async def apply_options(
        self, request: Request[Any, Any, Any], data: ms.ApplicationCreate, db: Database
    ) -> Response[s.CeremonyOptions]:
        """Check the whole application (business id, IBAN and BIC, services within the
        county's caps, not applied yet) and return passkey creation options for its contact
        person. Nothing is written but the ceremony's challenge."""
        if not data.organizer:
            raise InvalidInput("Name the county: organizer")
        organizer_id = await providers.organizer_by_slug(db, data.organizer)
        clean = await providers.check_application(
            db, organizer_id=organizer_id, application=data.to_domain()
        )
        principal_id = uuid.uuid4()
        options, challenge = ceremony.registration_options(
            _settings(request),
            principal_id=principal_id,
            user_name=clean.contact_name,
            display_name=f"{clean.contact_name} ({clean.company_name})",
        )
        cookie = await _start_ceremony(
            request,
            db,
            purpose="apply",
            challenge=challenge,
            user_handle=str(principal_id),
            payload={"organizer_id": str(organizer_id), "application": msgspec.to_builtins(data)},
        )
        return Response(s.CeremonyOptions(publicKey=options), cookies=[cookie])

    @post("/api/providers/apply/verify", opt=APPLICATION, status_code=201)
    async def apply_verify(
        self, request: Request[Any, Any, Any], data: s.CredentialCreate, db: Database
    ) -> Response[s.SignedIn]:
        """Record the application (status ``applied``, waiting for a case manager's decision)
        with its contact person as the owner and their passkey, and sign the owner in."""
        settings = _settings(request)
        taken = await _take(request, db, "apply", data.credential)
        assert taken.user_handle is not None and taken.payload is not None
        principal_id = uuid.UUID(taken.user_handle)
        cred = ceremony.verify_registration(
            settings, data.credential, challenge=taken.challenge, name=data.passkey_name
        )
        applied = await providers.apply_provider(
            db,
            organizer_id=uuid.UUID(taken.payload["organizer_id"]),
            application=msgspec.convert(
                taken.payload["application"], ms.ApplicationCreate
            ).to_domain(),
            owner=providers.ApplicationOwner(principal_id=principal_id, credential=cred),
        )
        stored = await passkeys.find_passkey(db, cred.credential_id)
        new = await _start_session(settings, db, stored, cred.sign_count, "provider application")
        return _signed_in_response(settings, new, status=201, provider_id=applied.provider_id)


SIGNED_IN = [signed_in]


class PasskeyController(Controller):
    """A person's own passkeys: list, add another, remove."""

    tags = ["me"]
    exception_handlers = HANDLERS

    @get("/api/me/passkeys", guards=SIGNED_IN)
    async def list_passkeys(self, db: Database, actor: Actor) -> list[s.Passkey]:
        """Your passkeys, by name."""
        return [
            s.Passkey(
                id=p.id,
                name=p.name,
                created_at=p.created_at,
                last_used_at=p.last_used_at,
                backed_up=p.backed_up,
            )
            for p in await passkeys.list_passkeys(db, actor.principal_id)
        ]

    @post("/api/me/passkeys/options", guards=SIGNED_IN, status_code=200)
    async def add_options(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> s.CeremonyOptions:
        """Options to add another passkey; needs a passkey session (not an API key)."""
        info = session_of(request)
        if info is None:
            raise InvalidInput("Adding a passkey needs a signed-in session", slug="session-needed")
        settings = _settings(request)
        options, challenge = ceremony.registration_options(
            settings,
            principal_id=actor.principal_id,
            user_name=actor.display_name,
            display_name=actor.display_name,
        )
        await challenges.save_challenge(
            db,
            binding=f"session:{info.session_id}",
            purpose="add",
            challenge=challenge,
            ttl=timedelta(seconds=settings.challenge_ttl_s),
            principal_id=actor.principal_id,
        )
        return s.CeremonyOptions(publicKey=options)

    @post("/api/me/passkeys", guards=SIGNED_IN, status_code=201)
    async def add_passkey(
        self, request: Request[Any, Any, Any], data: s.CredentialCreate, db: Database, actor: Actor
    ) -> s.Passkey:
        """Register the new passkey under the given name."""
        info = session_of(request)
        if info is None:
            raise InvalidInput("Adding a passkey needs a signed-in session", slug="session-needed")
        taken = await challenges.take_challenge(
            db,
            binding=f"session:{info.session_id}",
            purpose="add",
            challenge=ceremony.challenge_of(data.credential),
        )
        cred = ceremony.verify_registration(
            _settings(request),
            data.credential,
            challenge=taken.challenge,
            name=data.passkey_name or "Passkey",
        )
        passkey_id = await passkeys.add_passkey(db, actor, cred)
        mine = {p.id: p for p in await passkeys.list_passkeys(db, actor.principal_id)}
        p = mine[passkey_id]
        return s.Passkey(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            last_used_at=p.last_used_at,
            backed_up=p.backed_up,
        )

    @delete("/api/me/passkeys/{passkey_id:str}", guards=SIGNED_IN, status_code=204)
    async def remove_passkey(self, passkey_id: str, db: Database, actor: Actor) -> None:
        """Remove one of your passkeys (not the last one); its sessions end."""
        try:
            key_id = uuid.UUID(passkey_id)
        except ValueError as exc:
            raise InvalidInput("Not a passkey id") from exc
        await passkeys.remove_passkey(db, actor, key_id)


class SessionListController(Controller):
    """A person's own sessions: where they are signed in, and ending one."""

    tags = ["me"]
    exception_handlers = HANDLERS

    @get("/api/me/sessions", guards=SIGNED_IN)
    async def list_sessions(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> list[s.DeviceSession]:
        """Your live sessions (browsers where you are signed in), most recently used first;
        ``current`` marks this one."""
        info = session_of(request)
        this = info.session_id if info else None
        return [
            s.DeviceSession(
                id=x.session_id,
                created_at=x.created_at,
                last_seen_at=x.last_seen_at,
                expires_at=x.expires_at,
                current=x.session_id == this,
                passkey_name=x.passkey_name,
            )
            for x in await sessions.list_sessions(db, actor.principal_id)
        ]

    @delete("/api/me/sessions/{session_id:uuid}", guards=SIGNED_IN, status_code=204)
    async def end_session(
        self, request: Request[Any, Any, Any], session_id: uuid.UUID, db: Database, actor: Actor
    ) -> Response[None]:
        """End one of your sessions: that browser is signed out at its next request. Another
        person's session is 404. Ending this one also clears its cookie."""
        await sessions.end_own_session(db, actor, session_id)
        info = session_of(request)
        cookies = []
        if info is not None and info.session_id == session_id:
            settings = _settings(request)
            cookies.append(expired_cookie(settings, session_cookie_name(settings)))
        return Response(None, status_code=204, cookies=cookies)


def _mandate_out(v: mandates.MandateView) -> s.Mandate:
    return s.Mandate(
        carer_id=v.carer_id,
        carer_name=v.carer_name,
        client_id=v.client_id,
        client_name=v.client_name,
        wallet_id=v.wallet_id,
        scopes=list(v.scopes),
        valid_until=v.valid_until,
        active=v.active,
        status=v.status,
    )


def _validity(request: Request[Any, Any, Any]) -> timedelta:
    return timedelta(seconds=_settings(request).invite_validity_s)


# Re-issuing for an existing person is for staff; a client invites only new carers (below).
STAFF_INVITERS = roles("case_manager", "provider")
CLIENT_OR_CM = roles("client", "case_manager")
CARER = roles("carer")


class PeopleController(Controller):
    """Invites issued by people, carers' mandates, and who looked at a client's data."""

    tags = ["invites and mandates"]

    @post("/api/invites", guards=[STAFF_INVITERS], status_code=201)
    async def create_invite(
        self, request: Request[Any, Any, Any], data: s.InviteCreate, db: Database, actor: Actor
    ) -> s.Invite:
        """Staff issue a one-time invite (7 days) for an existing person: a case manager for a
        client or carer, a provider's owner for their staff. Audited. With
        ``revoke_passkeys`` (lost phone) the old passkeys, sessions, API keys and push
        subscriptions stop at once."""
        issued = await invites.create_invite(
            db,
            actor,
            principal_id=data.principal_id,
            client_id=data.client_id,
            validity=_validity(request),
            revoke_passkeys=data.revoke_passkeys,
        )
        return invite_out(_settings(request), issued)

    @post("/api/clients/{client_id:uuid}/carers", guards=[CLIENT_OR_CM], status_code=201)
    async def invite_carer(
        self,
        request: Request[Any, Any, Any],
        client_id: uuid.UUID,
        data: s.CarerInviteCreate,
        db: Database,
        actor: Actor,
    ) -> s.Invite:
        """Add a new carer with a mandate (scopes, optional end date) and get their invite."""
        issued = await invites.invite_carer(
            db,
            actor,
            client_id=client_id,
            display_name=data.display_name,
            scopes=tuple(data.scopes),
            valid_until=data.valid_until,
            validity=_validity(request),
        )
        return invite_out(_settings(request), issued)

    @get("/api/clients/{client_id:uuid}/mandates", guards=[CLIENT_OR_CM])
    async def list_mandates(
        self, client_id: uuid.UUID, db: Database, actor: Actor
    ) -> list[s.Mandate]:
        """The carers who hold (or held) a mandate over this client."""
        views = await mandates.list_mandates(db, actor, client_id=client_id)
        return [_mandate_out(v) for v in views]

    @put("/api/clients/{client_id:uuid}/mandates", guards=[CLIENT_OR_CM])
    async def set_mandate(
        self, client_id: uuid.UUID, data: s.MandateUpdate, db: Database, actor: Actor
    ) -> list[s.Mandate]:
        """Grant a carer a mandate, or change its scopes and end date. A case manager's grant
        is in force at once; the client's to an existing carer comes back ``pending``: it
        grants nothing until that carer accepts it."""
        await mandates.set_mandate(
            db,
            actor,
            client_id=client_id,
            carer_id=data.carer_id,
            scopes=data.scopes,
            valid_until=data.valid_until,
        )
        views = await mandates.list_mandates(db, actor, client_id=client_id)
        return [_mandate_out(v) for v in views]

    @delete("/api/clients/{client_id:uuid}/mandates", guards=[CLIENT_OR_CM], status_code=204)
    async def revoke_mandate(
        self, client_id: uuid.UUID, carer_id: uuid.UUID, db: Database, actor: Actor
    ) -> None:
        """Revoke a carer's mandate (``?carer_id=``) at once."""
        await mandates.revoke_mandate(db, actor, client_id=client_id, carer_id=carer_id)

    @get("/api/me/mandates", guards=[CARER])
    async def my_mandates(self, db: Database, actor: Actor) -> list[s.Mandate]:
        """A carer's live mandates: the clients they can switch between."""
        views = await mandates.list_mandates(db, actor, include_ended=False)
        return [_mandate_out(v) for v in views]

    @get("/api/me/mandates/pending", guards=[CARER])
    async def pending_mandates(self, db: Database, actor: Actor) -> list[s.Mandate]:
        """Mandates that clients ask this carer to take on: who asks, which scopes, until
        when. They grant nothing until accepted."""
        return [_mandate_out(v) for v in await mandates.pending_mandates(db, actor)]

    @post("/api/me/mandates/{client_id:uuid}/accept", guards=[CARER], status_code=200)
    async def accept_mandate(self, client_id: uuid.UUID, db: Database, actor: Actor) -> s.Mandate:
        """Accept a client's waiting mandate; its scopes apply from now on. Audited."""
        return _mandate_out(await mandates.accept_mandate(db, actor, client_id))

    @post("/api/me/mandates/{client_id:uuid}/decline", guards=[CARER], status_code=204)
    async def decline_mandate(self, client_id: uuid.UUID, db: Database, actor: Actor) -> None:
        """Decline a client's waiting mandate; the client sees it as declined. Audited."""
        await mandates.decline_mandate(db, actor, client_id)

    @get("/api/clients/{client_id:uuid}/views", guards=[roles("client", "carer")])
    async def who_looked(
        self,
        client_id: uuid.UUID,
        db: Database,
        actor: Actor,
        before_id: Annotated[int | None, Parameter(ge=1, le=MAX_ROW_ID)] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
    ) -> list[s.AuditEntry]:
        """Who else looked at this client's data, and when (for the client and carers with
        ``view``)."""
        rows = await audit_views.views_of_client(
            db, actor, client_id, before_id=before_id, limit=limit
        )
        return [_audit_out(e) for e in rows]

    @get("/api/audit", guards=[roles("case_manager")])
    async def organizer_audit(
        self,
        db: Database,
        actor: Actor,
        client_id: uuid.UUID | None = None,
        actor_id: uuid.UUID | None = None,
        action: Annotated[str | None, Parameter(max_length=60)] = None,
        before_id: Annotated[int | None, Parameter(ge=1, le=MAX_ROW_ID)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[s.AuditEntry]:
        """The organizer's audit trail, newest first; filter by client, actor or action
        (``mandate.`` matches every mandate action)."""
        rows = await audit_views.organizer_audit(
            db,
            actor,
            client_id=client_id,
            actor_id=actor_id,
            action=action,
            before_id=before_id,
            limit=limit,
        )
        return [_audit_out(e) for e in rows]


def _audit_out(e: audit_views.AuditEntry) -> s.AuditEntry:
    return s.AuditEntry(
        id=e.id,
        created_at=e.created_at,
        action=e.action,
        actor_id=e.actor_id,
        actor_name=e.actor_name,
        actor_role=e.actor_role,
        subject_client_id=e.subject_client_id,
        detail=e.detail,
        client_name=e.client_name,
        provider_name=e.provider_name,
        person_name=e.person_name,
        person_role=e.person_role,
        card_number=e.card_number,
    )


ROUTES = [
    SignInController,
    InviteRedeemController,
    ProviderApplyController,
    PasskeyController,
    SessionListController,
    PeopleController,
]
