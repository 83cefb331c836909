"""Corrections: a case manager corrects a wrong charge of a closed month (issue 18).

Case managers of the charge's organizer only; ``payments.checkout.corrections`` checks the
organizer again on every row, and a second case manager's approval above the organizer's limit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import Parameter

from payments.checkout import corrections
from payments.db import Database
from payments.idempotency import validate_key
from payments.people.access import Actor
from payments.vocabulary import CorrectionStatus
from wallet_api.auth import admins_only, roles
from wallet_api.corrections import schemas
from wallet_api.deps import STATUS, IdempotencyKey, fingerprint

CASE_MANAGER = roles("case_manager")


def _out(body: dict[str, Any], actor: Actor) -> schemas.Correction:
    out = msgspec.convert(body, schemas.Correction)
    pending = out.status == CorrectionStatus.PENDING
    out.may_decide = pending and out.requested_by != actor.principal_id
    return out


@post(
    "/api/charges/{charge_id:uuid}/corrections",
    guards=[CASE_MANAGER],
    tags=["corrections"],
    status_code=201,
)
async def correct_charge(
    request: Request[Any, Any, Any],
    charge_id: uuid.UUID,
    data: schemas.CorrectionCreate,
    db: Database,
    actor: Actor,
    idempotency_key: IdempotencyKey = None,
) -> Response[schemas.Correction]:
    """Correct a charge whose month has closed: the amount goes from the provider back to the
    county's budget (never to the client's envelope). ``201`` when it moved at once (at or
    below the organizer's limit); ``202`` with status ``pending`` when a second case manager
    must approve it. Refusals: ``month-open`` (the provider refunds it instead),
    ``correction-exceeds-charge``, ``not-found``."""
    key = validate_key(idempotency_key)
    outcome = await corrections.correct_charge(
        db,
        case_manager_id=actor.principal_id,
        organizer_id=actor.organizer_id,
        charge_id=charge_id,
        amount_cents=data.amount_cents,
        reason=data.reason,
        idempotency_key=key,
        request_hash=fingerprint(request, data),
    )
    # 201 when the money moved, 202 when it waits for a second case manager (its replay too).
    return Response(
        _out(outcome.body, actor),
        status_code=STATUS[outcome.what],
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else {},
    )


@get("/api/corrections", guards=[CASE_MANAGER], tags=["corrections"])
async def list_corrections(
    db: Database,
    actor: Actor,
    status: Annotated[
        str | None, Parameter(description="pending, approved or rejected", max_length=20)
    ] = None,
    charge_id: uuid.UUID | None = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> list[schemas.Correction]:
    """The organizer's corrections: those waiting for approval first, then the decided ones,
    newest first. ``may_decide`` says which the caller may approve (not their own)."""
    found = await corrections.list_corrections(
        db, actor.organizer_id, status=status, charge_id=charge_id, limit=limit
    )
    return [_out(corrections.view_body(v), actor) for v in found]


@post(
    "/api/corrections/{correction_id:uuid}/approve",
    guards=[CASE_MANAGER],
    tags=["corrections"],
    status_code=200,
)
async def approve_correction(
    correction_id: uuid.UUID, db: Database, actor: Actor
) -> schemas.Correction:
    """Approve a waiting correction as the second case manager: the money moves now.
    Refusals: ``second-approver-required`` (one's own), ``correction-not-pending``,
    ``correction-exceeds-charge`` (refunded meanwhile: reject it)."""
    outcome = await corrections.approve_correction(
        db,
        case_manager_id=actor.principal_id,
        organizer_id=actor.organizer_id,
        correction_id=correction_id,
    )
    return _out(outcome.body, actor)


@post(
    "/api/corrections/{correction_id:uuid}/reject",
    guards=[CASE_MANAGER],
    tags=["corrections"],
    status_code=200,
)
async def reject_correction(
    correction_id: uuid.UUID,
    data: schemas.CorrectionReject,
    db: Database,
    actor: Actor,
) -> schemas.Correction:
    """Reject a waiting correction (or withdraw one's own): nothing moves."""
    outcome = await corrections.reject_correction(
        db,
        case_manager_id=actor.principal_id,
        organizer_id=actor.organizer_id,
        correction_id=correction_id,
        note=data.note,
    )
    return _out(outcome.body, actor)


@get("/api/organizer/settings", guards=[CASE_MANAGER], tags=["corrections"])
async def organizer_settings(db: Database, actor: Actor) -> schemas.OrganizerSettings:
    """The organizer's settings that case managers work by."""
    return schemas.OrganizerSettings(
        correction_approval_above_cents=await corrections.approval_limit(db, actor.organizer_id)
    )


@put("/api/organizer/settings", guards=[admins_only], tags=["corrections"])
async def change_organizer_settings(
    data: schemas.OrganizerSettings, db: Database, actor: Actor
) -> schemas.OrganizerSettings:
    """Change the organizer's settings (a case manager with the admin right; audited)."""
    limit = await corrections.set_approval_limit(
        db, actor.organizer_id, data.correction_approval_above_cents, actor_id=actor.principal_id
    )
    return schemas.OrganizerSettings(correction_approval_above_cents=limit)


ROUTES = [
    correct_charge,
    list_corrections,
    approve_correction,
    reject_correction,
    organizer_settings,
    change_organizer_settings,
]
