"""Issue 15, item 2: staff with passkeys.

A case manager with the admin right invites case managers (who redeem the invite with a
passkey), gives and takes the admin right, and removes case managers; a provider's owner lists
and removes the provider's staff. Through the real HTTP API, real WebAuthn ceremonies (a
software authenticator) and the real database, on both engines.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update

from payments.budgets import catalogue
from payments.db import Database
from payments.errors import Forbidden
from payments.marketplace import providers
from payments.models import AuditEvent, Principal, ProviderOwner
from payments.people import staff
from payments.people.access import API_KEYS, Actor, actor_of
from payments.uow import UnitOfWork
from tests.factories import api_key_for
from tests.identity.helpers import (
    AppFactory,
    County,
    Person,
    bearer,
    join,
    problem_of,
    sign_in,
)


async def make_admin(db: Database, principal_id: uuid.UUID, admin: bool = True) -> None:
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Principal).where(Principal.id == principal_id).values(admin=admin)
        )
        await uow.commit()
    API_KEYS.clear()  # keys checked before carry the old right


async def audit_log(db: Database, organizer_id: uuid.UUID) -> list[tuple[str, uuid.UUID, str]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.detail)
            .where(AuditEvent.organizer_id == organizer_id)
            .order_by(AuditEvent.id)
        )
        return [(a, actor, detail or "") for a, actor, detail in rows.all()]


async def principals(db: Database, organizer_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(func.count())
                    .select_from(Principal)
                    .where(Principal.organizer_id == organizer_id)
                )
            ).scalar_one()
        )


async def invite_cm(
    browser_factory: AppFactory, key: str, name: str, admin: bool = False
) -> tuple[dict, Person]:
    """The admin (``key``) invites a case manager, who joins on a phone of their own."""
    app = await browser_factory()
    r = await app.post(
        "/api/staff", json={"display_name": name, "admin": admin}, headers=bearer(key)
    )
    assert r.status_code == 201, r.text
    invite = r.json()
    return invite, await join(await browser_factory(), invite["code"])


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["principal_id"]: row for row in rows}


async def test_an_admin_invites_a_case_manager_who_signs_up_with_a_passkey(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    app = await browser_factory()
    me = (await app.get("/api/me", headers=bearer(county.cm_key))).json()
    assert me["admin"] is True and me["owner"] is False

    invite, maija = await invite_cm(browser_factory, county.cm_key, "Maija Ohjaaja", admin=False)
    assert invite["role"] == "case_manager" and invite["display_name"] == "Maija Ohjaaja"
    assert invite["link"].endswith("/join#" + invite["code"])
    assert invite["qr_svg"].startswith("<svg")
    assert invite["principal_id"] == str(maija.principal_id)

    # Maija is a case manager of the same county, without the admin right.
    r = await maija.phone.get("/api/me")
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "case_manager"
    assert r.json()["organizer_id"] == str(county.organizer_id)
    assert r.json()["admin"] is False
    assert (await maija.phone.get("/api/clients")).status_code == 200

    listed = by_id((await app.get("/api/staff", headers=bearer(county.cm_key))).json())
    assert listed[str(maija.principal_id)]["signed_up"] is True
    assert listed[str(maija.principal_id)]["admin"] is False
    assert listed[str(county.case_manager)]["admin"] is True
    assert listed[str(county.case_manager)]["signed_up"] is False  # an API key, no passkey

    # An invited admin is an admin when they sign up.
    _, ville = await invite_cm(browser_factory, county.cm_key, "Ville", admin=True)
    assert (await ville.phone.get("/api/me")).json()["admin"] is True
    log = await audit_log(db, county.organizer_id)
    added = [d for a, who, d in log if a == "staff.added" and who == county.case_manager]
    assert added == [
        f"case_manager {maija.principal_id}, admin: no",
        f"case_manager {ville.principal_id}, admin: yes",
    ]
    assert [a for a, _, d in log if str(maija.principal_id) in d][:2] == [
        "staff.added",
        "invite.created",
    ]


async def test_an_invite_waits_in_the_list_and_an_admin_may_issue_a_new_one(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    app = await browser_factory()
    r = await app.post("/api/staff", json={"display_name": "Uusi"}, headers=bearer(county.cm_key))
    first = r.json()
    row = by_id((await app.get("/api/staff", headers=bearer(county.cm_key))).json())[
        first["principal_id"]
    ]
    assert row["signed_up"] is False and row["invite_expires_at"] is not None
    # A lost invite: the admin issues a new one; the old code no longer works.
    r = await app.post(
        "/api/invites", json={"principal_id": first["principal_id"]}, headers=bearer(county.cm_key)
    )
    assert r.status_code == 201, r.text
    problem_of(
        await (await browser_factory()).post(
            "/api/invites/redeem/options", json={"code": first["code"]}
        ),
        404,
        "invite-invalid",
    )
    person = await join(await browser_factory(), r.json()["code"])
    assert str(person.principal_id) == first["principal_id"]


async def test_a_case_manager_without_the_admin_right_is_refused(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    plain = await catalogue.create_principal(
        db, organizer_id=county.organizer_id, role="case_manager", display_name="Pekka"
    )
    key = await api_key_for(db, plain)
    app = await browser_factory()
    assert (await app.get("/api/me", headers=bearer(key))).json()["admin"] is False
    before = await principals(db, county.organizer_id)
    problem_of(await app.get("/api/staff", headers=bearer(key)), 403, "forbidden")
    problem_of(
        await app.post("/api/staff", json={"display_name": "X"}, headers=bearer(key)),
        403,
        "forbidden",
    )
    target = f"/api/staff/{county.case_manager}"
    problem_of(
        await app.patch(target, json={"admin": False}, headers=bearer(key)), 403, "forbidden"
    )
    problem_of(await app.delete(target, headers=bearer(key)), 403, "forbidden")
    # Nor may they invite a case manager through the re-issue route.
    problem_of(
        await app.post(
            "/api/invites", json={"principal_id": str(county.case_manager)}, headers=bearer(key)
        ),
        403,
        "forbidden",
    )
    # Clients and providers are refused too.
    problem_of(await app.get("/api/staff", headers=bearer(county.client_key)), 403, "forbidden")
    assert await principals(db, county.organizer_id) == before
    # The use case reads the right from the row, not from what the caller claims.
    claims = Actor(
        principal_id=plain,
        organizer_id=county.organizer_id,
        role="case_manager",
        display_name="Pekka",
        admin=True,
    )
    with pytest.raises(Forbidden):
        await staff.remove_case_manager(db, claims, county.case_manager)
    with pytest.raises(Forbidden):
        await staff.list_case_managers(db, claims)


async def test_another_organizers_people_are_not_found(db, county: County, browser_factory):
    await make_admin(db, county.case_manager)
    org2 = await catalogue.create_organizer(db, slug=f"x-{uuid.uuid4().hex[:6]}", name="X")
    admin2 = await catalogue.create_principal(
        db, organizer_id=org2, role="case_manager", display_name="Toinen"
    )
    await make_admin(db, admin2)
    key2 = await api_key_for(db, admin2)
    app = await browser_factory()
    ours = f"/api/staff/{county.case_manager}"
    problem_of(await app.patch(ours, json={"admin": False}, headers=bearer(key2)),
               404, "not-found")  # fmt: skip
    problem_of(await app.delete(ours, headers=bearer(key2)), 404, "not-found")
    # The same answer as for an id that exists nowhere.
    problem_of(await app.delete(f"/api/staff/{uuid.uuid4()}", headers=bearer(key2)),
               404, "not-found")  # fmt: skip
    listed = (await app.get("/api/staff", headers=bearer(key2))).json()
    assert [row["principal_id"] for row in listed] == [str(admin2)]
    # A person of one's own county who is not a case manager is no case manager to manage.
    problem_of(
        await app.delete(f"/api/staff/{county.client_principal}", headers=bearer(county.cm_key)),
        404,
        "not-found",
    )
    async with UnitOfWork(db, readonly=True) as uow:
        row = await uow.session.get(Principal, county.case_manager)
        assert row is not None and row.admin and row.removed_at is None


async def test_the_admin_right_changes_are_audited_and_take_effect_at_once(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    other = await catalogue.create_principal(
        db, organizer_id=county.organizer_id, role="case_manager", display_name="Maija"
    )
    other_key = await api_key_for(db, other)
    app = await browser_factory()
    # Her key is trusted by this process (cached) as a case manager without the right.
    problem_of(await app.get("/api/staff", headers=bearer(other_key)), 403, "forbidden")

    r = await app.patch(f"/api/staff/{other}", json={"admin": True}, headers=bearer(county.cm_key))
    assert r.status_code == 200, r.text
    assert r.json()["admin"] is True
    assert (await app.get("/api/me", headers=bearer(other_key))).json()["admin"] is True
    assert (await app.get("/api/staff", headers=bearer(other_key))).status_code == 200
    # The same again changes nothing and is not audited again.
    r = await app.patch(f"/api/staff/{other}", json={"admin": True}, headers=bearer(county.cm_key))
    assert r.status_code == 200, r.text
    # She takes the right back from the first admin.
    r = await app.patch(
        f"/api/staff/{county.case_manager}",
        json={"admin": False},
        headers=bearer(other_key),
    )
    assert r.status_code == 200, r.text
    problem_of(await app.get("/api/staff", headers=bearer(county.cm_key)), 403, "forbidden")
    changes = [
        (who, d) for a, who, d in await audit_log(db, county.organizer_id)
        if a == "staff.role_changed"
    ]  # fmt: skip
    assert changes == [
        (county.case_manager, f"case_manager {other}: admin no → yes"),
        (other, f"case_manager {county.case_manager}: admin yes → no"),
    ]


async def test_the_last_admin_keeps_the_right_and_nobody_removes_themself(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    app = await browser_factory()
    me = f"/api/staff/{county.case_manager}"
    body = problem_of(
        await app.patch(me, json={"admin": False}, headers=bearer(county.cm_key)),
        409,
        "last-admin",
    )
    assert body["title"]
    problem_of(await app.delete(me, headers=bearer(county.cm_key)), 409, "staff-remove-self")
    async with UnitOfWork(db, readonly=True) as uow:
        row = await uow.session.get(Principal, county.case_manager)
        assert row is not None and row.admin and row.removed_at is None
    assert not [a for a, _, _ in await audit_log(db, county.organizer_id) if a.startswith("staff.")]

    # With a second admin, either may step down, but not both at once.
    other = await catalogue.create_principal(
        db, organizer_id=county.organizer_id, role="case_manager", display_name="Maija"
    )
    await make_admin(db, other)
    a = await staff.list_case_managers(db, await _actor(db, county.case_manager))
    assert len(a) == 2
    first, second = await _actor(db, county.case_manager), await _actor(db, other)
    results = await asyncio.gather(
        staff.set_admin(db, first, other, admin=False),
        staff.set_admin(db, second, county.case_manager, admin=False),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, staff.StaffMember)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], (staff.LastAdmin, Forbidden)), refused
    async with UnitOfWork(db, readonly=True) as uow:
        admins = (
            await uow.session.execute(
                select(func.count())
                .select_from(Principal)
                .where(Principal.organizer_id == county.organizer_id, Principal.admin.is_(True))
            )
        ).scalar_one()
    assert admins == 1


async def _actor(db: Database, principal_id: uuid.UUID) -> Actor:
    async with UnitOfWork(db, readonly=True) as uow:
        row = await uow.session.get(Principal, principal_id)
        assert row is not None
        return actor_of(row)


async def test_removal_ends_sessions_and_api_keys_at_once_and_is_audited(
    db, county: County, browser_factory
):
    await make_admin(db, county.case_manager)
    _, maija = await invite_cm(browser_factory, county.cm_key, "Maija")
    key = await api_key_for(db, maija.principal_id)
    app = await browser_factory()
    # Both work, and the key is now trusted by this process.
    assert (await maija.phone.get("/api/clients")).status_code == 200
    assert (await app.get("/api/clients", headers=bearer(key))).status_code == 200

    r = await app.delete(f"/api/staff/{maija.principal_id}", headers=bearer(county.cm_key))
    assert r.status_code == 204, r.text
    problem_of(await maija.phone.get("/api/clients"), 401, "session-expired")
    problem_of(await app.get("/api/clients", headers=bearer(key)), 401, "unauthorized")
    r = await sign_in(await browser_factory(), maija.auth)
    assert r.status_code == 401, r.text
    # No new invite brings her back.
    r = await app.post(
        "/api/invites", json={"principal_id": str(maija.principal_id)},
        headers=bearer(county.cm_key),
    )  # fmt: skip
    assert r.status_code == 403, r.text

    log = await audit_log(db, county.organizer_id)
    (removed,) = [(who, d) for a, who, d in log if a == "staff.removed"]
    assert removed[0] == county.case_manager
    assert removed[1].startswith(f"case_manager {maija.principal_id}: ")
    for part in ("1 passkey", "1 session", "1 API key"):
        assert part in removed[1], removed[1]
    row = by_id((await app.get("/api/staff", headers=bearer(county.cm_key))).json())[
        str(maija.principal_id)
    ]
    assert row["removed_at"] is not None and row["signed_up"] is False
    # Removing again is a no-op: nothing more is audited; her admin right cannot be changed.
    r = await app.delete(f"/api/staff/{maija.principal_id}", headers=bearer(county.cm_key))
    assert r.status_code == 204
    assert (
        len([a for a, _, _ in await audit_log(db, county.organizer_id) if a == "staff.removed"])
        == 1
    )
    problem_of(
        await app.patch(f"/api/staff/{maija.principal_id}", json={"admin": True},
                          headers=bearer(county.cm_key)),
        409, "staff-removed",
    )  # fmt: skip


@dataclass
class Firm:
    provider_id: uuid.UUID
    owner: uuid.UUID
    owner_key: str


async def firm(db: Database, county: County, name: str = "Siivous Oy") -> Firm:
    provider_id, owner = await providers.create_provider(
        db, organizer_id=county.organizer_id, name=name, business_id="0112038-9", prices={}
    )
    async with UnitOfWork(db) as uow:
        uow.session.add(ProviderOwner(provider_id=provider_id, principal_id=owner))
        await uow.commit()
    return Firm(provider_id, owner, await api_key_for(db, owner))


async def test_a_provider_owner_lists_and_removes_staff(db, county: County, browser_factory):
    f = await firm(db, county)
    app = await browser_factory()
    me = (await app.get("/api/me", headers=bearer(f.owner_key))).json()
    assert me["owner"] is True and me["admin"] is False
    r = await app.post("/api/providers/staff", json={"display_name": "Sanna"},
                       headers=bearer(f.owner_key))  # fmt: skip
    assert r.status_code == 201, r.text
    sanna = await join(await browser_factory(), r.json()["code"])
    sanna_key = await api_key_for(db, sanna.principal_id)
    assert (await sanna.phone.get("/api/me")).json()["owner"] is False
    listed = by_id((await app.get("/api/providers/staff", headers=bearer(f.owner_key))).json())
    assert set(listed) == {str(f.owner), str(sanna.principal_id)}
    assert listed[str(f.owner)]["owner"] is True
    assert listed[str(sanna.principal_id)] | {"created_at": None} == {
        "principal_id": str(sanna.principal_id),
        "display_name": "Sanna",
        "admin": False,
        "owner": False,
        "signed_up": True,
        "removed_at": None,
        "invite_expires_at": None,
        "created_at": None,
    }
    assert (await app.get("/api/holds", headers=bearer(sanna_key))).status_code == 200

    r = await app.delete(f"/api/providers/staff/{sanna.principal_id}", headers=bearer(f.owner_key))
    assert r.status_code == 204, r.text
    problem_of(await sanna.phone.get("/api/me"), 401, "session-expired")
    problem_of(await app.get("/api/holds", headers=bearer(sanna_key)), 401, "unauthorized")
    log = await audit_log(db, county.organizer_id)
    (removed,) = [(who, d) for a, who, d in log if a == "staff.removed"]
    assert removed[0] == f.owner and removed[1].startswith(f"provider {sanna.principal_id}: ")
    listed = by_id((await app.get("/api/providers/staff", headers=bearer(f.owner_key))).json())
    assert listed[str(sanna.principal_id)]["removed_at"] is not None


async def test_only_the_providers_owner_manages_its_staff(db, county: County, browser_factory):
    f = await firm(db, county)
    staff_member = await catalogue.create_principal(
        db, organizer_id=county.organizer_id, role="provider", display_name="Sanna",
        provider_id=f.provider_id,
    )  # fmt: skip
    member_key = await api_key_for(db, staff_member)
    other = await firm(db, county, "Muu Oy")
    app = await browser_factory()
    target = f"/api/providers/staff/{f.owner}"
    # A staff member who is not an owner.
    assert (await app.get("/api/me", headers=bearer(member_key))).json()["owner"] is False
    problem_of(await app.get("/api/providers/staff", headers=bearer(member_key)), 403, "forbidden")
    problem_of(await app.delete(target, headers=bearer(member_key)), 403, "forbidden")
    # Another provider's owner, in the same county: not their staff.
    problem_of(await app.delete(f"/api/providers/staff/{staff_member}",
                                headers=bearer(other.owner_key)), 404, "not-found")  # fmt: skip
    listed = (await app.get("/api/providers/staff", headers=bearer(other.owner_key))).json()
    assert [row["principal_id"] for row in listed] == [str(other.owner)]
    # Another county's provider owner.
    org2 = await catalogue.create_organizer(db, slug=f"y-{uuid.uuid4().hex[:6]}", name="Y")
    p2, owner2 = await providers.create_provider(
        db, organizer_id=org2, name="Vieras Oy", business_id="0112038-9", prices={}
    )
    async with UnitOfWork(db) as uow:
        uow.session.add(ProviderOwner(provider_id=p2, principal_id=owner2))
        await uow.commit()
    problem_of(await app.delete(f"/api/providers/staff/{staff_member}",
                                headers=bearer(await api_key_for(db, owner2))),
               404, "not-found")  # fmt: skip
    # A case manager is no provider.
    problem_of(await app.get("/api/providers/staff", headers=bearer(county.cm_key)), 403,
               "forbidden")  # fmt: skip
    async with UnitOfWork(db, readonly=True) as uow:
        for pid in (f.owner, staff_member):
            row = await uow.session.get(Principal, pid)
            assert row is not None and row.removed_at is None


async def test_the_last_owner_stays(db, county: County, browser_factory):
    f = await firm(db, county)
    app = await browser_factory()
    problem_of(await app.delete(f"/api/providers/staff/{f.owner}", headers=bearer(f.owner_key)),
               409, "staff-remove-self")  # fmt: skip
    # Two owners removing each other at once: one of them stays.
    r = await app.post("/api/providers/staff", json={"display_name": "Toka", "owner": True},
                       headers=bearer(f.owner_key))  # fmt: skip
    assert r.status_code == 201, r.text
    second = uuid.UUID(r.json()["principal_id"])
    results = await asyncio.gather(
        staff.remove_provider_staff(db, await _actor(db, f.owner), second),
        staff.remove_provider_staff(db, await _actor(db, second), f.owner),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) in (
        ["LastOwner", "bool"],
        ["Forbidden", "bool"],
    ), results
    async with UnitOfWork(db, readonly=True) as uow:
        left = (
            await uow.session.execute(
                select(func.count())
                .select_from(ProviderOwner)
                .join(Principal, Principal.id == ProviderOwner.principal_id)
                .where(ProviderOwner.provider_id == f.provider_id, Principal.removed_at.is_(None))
            )
        ).scalar_one()
    assert left == 1
