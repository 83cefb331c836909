"""Your devices: the sessions where you are signed in (list, end one, never another person's),
and a lost phone's recovery invite ending the old phone's session, API key and passkey."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from payments.db import Database
from payments.models import AuditEvent, Passkey, WebSession
from payments.uow import UnitOfWork
from tests.identity.helpers import (
    County,
    bearer,
    issue_invite,
    join,
    problem_of,
    sign_in,
)


async def test_sessions_are_listed_with_this_one_marked(db, county: County, browser_factory):
    staff, phone, laptop = await browser_factory(), await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    me = await join(phone, invite["code"])
    assert (await sign_in(laptop, me.auth)).status_code == 200

    r = await phone.get("/api/me/sessions")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    assert {s["passkey_name"] for s in listed} == {"Puhelin"}
    for s in listed:
        assert s["created_at"] and s["last_seen_at"] and s["expires_at"]
    from_laptop = (await laptop.get("/api/me/sessions")).json()
    mine_on_laptop = next(s["id"] for s in from_laptop if s["current"])
    mine_on_phone = next(s["id"] for s in listed if s["current"])
    assert mine_on_laptop != mine_on_phone

    # The phone ends the laptop's session: the laptop is signed out, the phone is not.
    r = await phone.delete(f"/api/me/sessions/{mine_on_laptop}", headers=me.csrf)
    assert r.status_code == 204, r.text
    problem_of(await laptop.get("/api/me"), 401, "session-expired")
    assert (await phone.get("/api/me")).status_code == 200
    assert [s["id"] for s in (await phone.get("/api/me/sessions")).json()] == [mine_on_phone]
    # Ending it again is not found (it is no longer a live session).
    problem_of(
        await phone.delete(f"/api/me/sessions/{mine_on_laptop}", headers=me.csrf), 404, "not-found"
    )
    async with UnitOfWork(db, readonly=True) as uow:
        audited = (
            await uow.session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "session.ended")
            )
        ).scalar_one()
    assert audited == 1


async def test_another_persons_session_is_not_found_and_stays(
    db: Database, county: County, browser_factory
):
    staff, phone, carer_phone = (
        await browser_factory(),
        await browser_factory(),
        await browser_factory(),
    )
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    client = await join(phone, invite["code"])
    r = await staff.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti Virtanen", "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 201, r.text
    carer = await join(carer_phone, r.json()["code"])
    carers_session = next(s["id"] for s in (await carer_phone.get("/api/me/sessions")).json())

    problem_of(
        await phone.delete(f"/api/me/sessions/{carers_session}", headers=client.csrf),
        404,
        "not-found",
    )
    problem_of(
        await phone.delete(f"/api/me/sessions/{uuid.uuid4()}", headers=client.csrf),
        404,
        "not-found",
    )
    assert (await carer_phone.get("/api/me")).status_code == 200
    # Nobody sees anyone else's sessions either.
    listed = (await phone.get("/api/me/sessions")).json()
    assert carers_session not in {s["id"] for s in listed}
    assert carer.principal_id != client.principal_id


async def test_ending_this_session_signs_this_browser_out(db, county: County, browser_factory):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    me = await join(phone, invite["code"])
    this = next(s["id"] for s in (await phone.get("/api/me/sessions")).json() if s["current"])
    r = await phone.delete(f"/api/me/sessions/{this}", headers=me.csrf)
    assert r.status_code == 204
    assert (await phone.get("/api/me")).status_code == 401


async def test_a_write_without_the_csrf_token_ends_nothing(db, county: County, browser_factory):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    await join(phone, invite["code"])
    this = next(s["id"] for s in (await phone.get("/api/me/sessions")).json())
    r = await phone.delete(f"/api/me/sessions/{this}")
    assert r.status_code == 403, r.text
    assert (await phone.get("/api/me")).status_code == 200


async def test_recovery_invite_ends_the_lost_phones_session_key_and_passkey(
    db: Database, county: County, browser_factory
):
    staff, lost, tablet, new_phone = (
        await browser_factory(),
        await browser_factory(),
        await browser_factory(),
        await browser_factory(),
    )
    first = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    old = await join(lost, first["code"])
    assert (await sign_in(tablet, old.auth)).status_code == 200
    assert (await lost.get("/api/me")).status_code == 200
    assert (await staff.get("/api/me", headers=bearer(county.client_key))).status_code == 200

    # The client lost the phone: the case manager issues a recovery invite.
    recovery = await issue_invite(
        staff, county.cm_key, client_id=str(county.client_id), revoke_passkeys=True
    )
    # At once, before anyone redeems it: the old sessions, the API key and the passkey stop.
    problem_of(await lost.get("/api/me"), 401, "session-expired")
    problem_of(await tablet.get("/api/me/sessions"), 401, "session-expired")
    assert (await staff.get("/api/me", headers=bearer(county.client_key))).status_code == 401
    assert (await sign_in(await browser_factory(), old.auth)).status_code in (401, 403, 404)

    # The new phone redeems the invite and sees only its own session and passkey.
    fresh = await join(new_phone, recovery["code"])
    assert fresh.principal_id == old.principal_id
    listed = (await new_phone.get("/api/me/sessions")).json()
    assert len(listed) == 1 and listed[0]["current"]
    assert len((await new_phone.get("/api/me/passkeys")).json()) == 1
    async with UnitOfWork(db, readonly=True) as uow:
        live = (
            await uow.session.execute(
                select(func.count())
                .select_from(WebSession)
                .where(WebSession.principal_id == old.principal_id, WebSession.ended_at.is_(None))
            )
        ).scalar_one()
        keys = (
            await uow.session.execute(
                select(func.count())
                .select_from(Passkey)
                .where(Passkey.principal_id == old.principal_id, Passkey.revoked_at.is_(None))
            )
        ).scalar_one()
    assert (live, keys) == (1, 1)


async def test_a_carers_recovery_invite_signs_the_carer_out(
    db: Database, county: County, browser_factory
):
    staff, carer_phone, new_phone = (
        await browser_factory(),
        await browser_factory(),
        await browser_factory(),
    )
    r = await staff.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti Virtanen", "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 201, r.text
    carer = await join(carer_phone, r.json()["code"])
    assert (await carer_phone.get("/api/me/sessions")).status_code == 200

    recovery = await issue_invite(
        staff, county.cm_key, principal_id=str(carer.principal_id), revoke_passkeys=True
    )
    assert recovery["role"] == "carer"
    problem_of(await carer_phone.get("/api/me/sessions"), 401, "session-expired")
    again = await join(new_phone, recovery["code"])
    assert again.principal_id == carer.principal_id
    # The mandate stays: the carer is the same person on a new phone.
    assert len((await new_phone.get("/api/me/mandates")).json()) == 1
