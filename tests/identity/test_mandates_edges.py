"""Mandates on the use cases themselves (both engines): scopes, who may grant, change, revoke
and answer them, what each is then, the audit trail, and the last day in Helsinki."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from payments import clock
from payments.budgets import catalogue
from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden, InvalidInput, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import AuditEvent, Mandate
from payments.people import mandates as m
from payments.people.access import Actor
from payments.uow import UnitOfWork
from tests.factories import World, seed_world


def _today() -> date:
    return utcnow().astimezone(HELSINKI).date()


async def _actors(db: Database, w: World) -> dict[str, Actor]:
    carer_a = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name="Bertta Hoitaja"
    )
    carer_b = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name="Aapo Hoitaja"
    )
    return {
        "client": Actor(
            w.client_principal, w.organizer_id, "client", "Aino", client_id=w.client_id
        ),
        "cm": Actor(w.case_manager, w.organizer_id, "case_manager", "Liisa"),
        "provider": Actor(
            w.provider_principal, w.organizer_id, "provider", "Kuura", provider_id=w.provider_id
        ),
        "carer_a": Actor(carer_a, w.organizer_id, "carer", "Bertta Hoitaja"),
        "carer_b": Actor(carer_b, w.organizer_id, "carer", "Aapo Hoitaja"),
    }


async def _audit(db: Database) -> list[tuple[str, uuid.UUID | None, str | None]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [(a.action, a.actor_id, a.detail) for a in rows if a.action.startswith("mandate.")]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (["view"], "view"),
        (["approve"], "approve view"),
        (["manage-providers"], "manage-providers view"),
        ([" approve ", "", "approve"], "approve view"),
        (("manage-providers", "approve", "view"), "approve manage-providers view"),
    ],
)
def test_scopes_are_stored_sorted_with_view(given, stored) -> None:
    assert m.normalise_scopes(given) == stored


def test_unknown_or_no_scopes_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        m.normalise_scopes(["view", "pay", "admin"])
    assert caught.value.slug == "invalid-scope"
    assert str(caught.value) == (
        "Unknown scope(s): admin, pay; use view, approve, manage-providers"
    )
    for empty in ([], ["", "  "]):
        with pytest.raises(InvalidInput) as caught:
            m.normalise_scopes(empty)
        assert caught.value.slug == "invalid-scope"
        assert str(caught.value) == "A mandate needs at least one scope"


def test_status_of_a_mandate() -> None:
    today = date(2027, 3, 10)
    now = datetime(2027, 3, 1, 12)

    def status(**kw) -> str:
        fields = {"accepted_at": now, "revoked_at": None, "declined_at": None, "valid_until": None}
        return m.mandate_status(Mandate(**(fields | kw)), today)

    assert status() == "active"
    assert status(valid_until=today) == "active"
    assert status(valid_until=today - timedelta(days=1)) == "ended"
    assert status(accepted_at=None) == "pending"
    assert status(accepted_at=None, valid_until=today - timedelta(days=1)) == "ended"
    assert status(revoked_at=now) == "ended"
    assert status(revoked_at=now, declined_at=now, accepted_at=None) == "declined"
    assert m.MandateView(
        uuid.uuid4(), "c", uuid.uuid4(), "n", None, ("view",), None, "active"
    ).active
    assert not m.MandateView(
        uuid.uuid4(), "c", uuid.uuid4(), "n", None, ("view",), None, "pending"
    ).active


async def test_grant_mandate_refuses_unknown_scopes_and_stores_them_sorted(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    with pytest.raises(InvalidInput, match=r"^Unknown scope\(s\): pay, root$"):
        await m.grant_mandate(
            db, carer_id=a["carer_a"].principal_id, client_id=w.client_id, scopes=("root", "pay")
        )
    await m.grant_mandate(
        db,
        carer_id=a["carer_a"].principal_id,
        client_id=w.client_id,
        scopes=("view", "approve", "view"),
    )
    assert await m.mandate_scopes(db, a["carer_a"].principal_id, w.wallet_id) == {
        "approve",
        "view",
    }
    assert await m.mandate_scopes(db, a["carer_b"].principal_id, w.wallet_id) == frozenset()


async def test_a_case_managers_grant_is_in_force_a_clients_waits(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a, carer_b = a["carer_a"].principal_id, a["carer_b"].principal_id
    until = _today() + timedelta(days=30)
    assert (
        await m.set_mandate(
            db,
            a["cm"],
            client_id=w.client_id,
            carer_id=carer_a,
            scopes=["approve"],
            valid_until=until,
        )
        == "active"
    )
    assert await m.mandate_scopes(db, carer_a, w.wallet_id) == {"approve", "view"}
    assert (
        await m.set_mandate(
            db, a["client"], client_id=w.client_id, carer_id=carer_b, scopes=["view"]
        )
        == "pending"
    )
    assert await m.mandate_scopes(db, carer_b, w.wallet_id) == frozenset()
    # The client changes the accepted one: no new answer needed.
    assert (
        await m.set_mandate(
            db, a["client"], client_id=w.client_id, carer_id=carer_a, scopes=["view"]
        )
        == "active"
    )
    assert await m.mandate_scopes(db, carer_a, w.wallet_id) == {"view"}
    assert await _audit(db) == [
        ("mandate.granted", w.case_manager, f"carer {carer_a}: approve view until {until}"),
        ("mandate.requested", w.client_principal, f"carer {carer_b}: view"),
        ("mandate.changed", w.client_principal, f"carer {carer_a}: view"),
    ]


async def test_naming_a_carer_again_after_a_revocation_asks_again(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"].principal_id
    await m.set_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer, scopes=["view"])
    await m.revoke_mandate(db, a["client"], client_id=w.client_id, carer_id=carer)
    assert await m.mandate_scopes(db, carer, w.wallet_id) == frozenset()
    assert (
        await m.set_mandate(db, a["client"], client_id=w.client_id, carer_id=carer, scopes=["view"])
        == "pending"
    )
    async with UnitOfWork(db, readonly=True) as uow:
        row = (await uow.session.execute(select(Mandate))).scalar_one()
    assert row.revoked_at is None and row.declined_at is None and row.accepted_at is None


async def test_an_end_date_today_is_allowed_yesterday_is_not(db: Database, monkeypatch):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"].principal_id
    # 00:30 in Helsinki is still yesterday in UTC: the date is Helsinki's.
    helsinki_morning = datetime.combine(
        _today() + timedelta(days=1), datetime.min.time(), HELSINKI
    ) + timedelta(minutes=30)
    monkeypatch.setattr(clock, "source", lambda: helsinki_morning.astimezone(clock.UTC))
    today = helsinki_morning.date()
    with pytest.raises(InvalidInput, match=r"^The end date is in the past$"):
        await m.set_mandate(
            db,
            a["cm"],
            client_id=w.client_id,
            carer_id=carer,
            scopes=["view"],
            valid_until=today - timedelta(days=1),
        )
    assert (
        await m.set_mandate(
            db, a["cm"], client_id=w.client_id, carer_id=carer, scopes=["view"], valid_until=today
        )
        == "active"
    )
    assert await m.mandate_scopes(db, carer, w.wallet_id) == {"view"}


async def test_who_may_manage_mandates(db: Database):
    w = await seed_world(db)
    other = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"].principal_id
    other_carer = await catalogue.create_principal(
        db, organizer_id=other.organizer_id, role="carer", display_name="Vieras"
    )
    other_client = Actor(
        other.client_principal, w.organizer_id, "client", "x", client_id=other.client_id
    )
    kw = {"client_id": w.client_id, "scopes": ["view"]}
    for actor in (a["provider"], a["carer_a"], other_client):
        with pytest.raises(Forbidden, match=r"^Only the client or a case manager may manage"):
            await m.set_mandate(db, actor, carer_id=carer, **kw)
        with pytest.raises(Forbidden):
            await m.revoke_mandate(db, actor, client_id=w.client_id, carer_id=carer)
        with pytest.raises(Forbidden):
            await m.list_mandates(db, actor, client_id=w.client_id)
    with pytest.raises(NotFound, match=r"^No such client$"):
        await m.set_mandate(db, a["cm"], carer_id=carer, client_id=other.client_id, scopes=["view"])
    with pytest.raises(NotFound, match=r"^No such client$"):
        await m.set_mandate(db, a["cm"], carer_id=carer, client_id=uuid.uuid4(), scopes=["view"])
    for not_a_carer in (other_carer, w.case_manager, uuid.uuid4()):
        with pytest.raises(NotFound, match=r"^No such carer$"):
            await m.set_mandate(db, a["cm"], carer_id=not_a_carer, **kw)
    with pytest.raises(NotFound, match=r"^No such mandate$"):
        await m.revoke_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer)
    assert await _audit(db) == []


async def test_revoking_an_accepted_mandate_or_withdrawing_a_request(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a, carer_b = a["carer_a"].principal_id, a["carer_b"].principal_id
    await m.set_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer_a, scopes=["view"])
    await m.set_mandate(db, a["client"], client_id=w.client_id, carer_id=carer_b, scopes=["view"])
    await m.revoke_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer_a)
    await m.revoke_mandate(db, a["client"], client_id=w.client_id, carer_id=carer_b)
    assert (await _audit(db))[2:] == [
        ("mandate.revoked", w.case_manager, f"carer {carer_a}"),
        ("mandate.withdrawn", w.client_principal, f"carer {carer_b}"),
    ]
    with pytest.raises(NotFound):
        await m.revoke_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer_a)
    views = await m.list_mandates(db, a["client"], client_id=w.client_id)
    assert [v.status for v in views] == ["ended", "ended"]


async def test_lists_of_mandates_for_client_staff_and_carer(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a, carer_b = a["carer_a"].principal_id, a["carer_b"].principal_id
    until = _today()
    await m.set_mandate(
        db, a["cm"], client_id=w.client_id, carer_id=carer_a, scopes=["approve"], valid_until=until
    )
    await m.set_mandate(db, a["client"], client_id=w.client_id, carer_id=carer_b, scopes=["view"])
    views = await m.list_mandates(db, a["client"], client_id=w.client_id)
    # By the carer's name: Aapo before Bertta.
    assert [(v.carer_id, v.status) for v in views] == [(carer_b, "pending"), (carer_a, "active")]
    bertta = views[1]
    assert bertta == m.MandateView(
        carer_id=carer_a,
        carer_name="Bertta Hoitaja",
        client_id=w.client_id,
        client_name="Aino Virtanen",
        wallet_id=w.wallet_id,
        scopes=("approve", "view"),
        valid_until=until,
        status="active",
    )
    active_only = await m.list_mandates(db, a["client"], client_id=w.client_id, include_ended=False)
    assert [v.carer_id for v in active_only] == [carer_a]
    assert await _audit(db) == [
        ("mandate.granted", w.case_manager, f"carer {carer_a}: approve view until {until}"),
        ("mandate.requested", w.client_principal, f"carer {carer_b}: view"),
    ]
    # A case manager's look is audited; the client's own is not.
    staff = await m.list_mandates(db, a["cm"], client_id=w.client_id)
    assert len(staff) == 2
    async with UnitOfWork(db, readonly=True) as uow:
        viewed = (
            (
                await uow.session.execute(
                    select(AuditEvent).where(AuditEvent.action == "mandates.viewed")
                )
            )
            .scalars()
            .all()
        )
    assert [(v.actor_id, v.subject_client_id, v.organizer_id) for v in viewed] == [
        (w.case_manager, w.client_id, w.organizer_id)
    ]
    # A carer sees the mandates they hold; nobody else has such a list.
    mine = await m.list_mandates(db, a["carer_a"])
    assert [(v.client_id, v.status) for v in mine] == [(w.client_id, "active")]
    assert await m.list_mandates(db, a["provider"]) == []
    assert await m.list_mandates(db, a["client"]) == []


async def test_a_carer_answers_a_waiting_request(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a, carer_b = a["carer_a"], a["carer_b"]
    for carer in (carer_a, carer_b):
        await m.set_mandate(
            db,
            a["client"],
            client_id=w.client_id,
            carer_id=carer.principal_id,
            scopes=["approve"],
        )
    waiting = await m.pending_mandates(db, carer_a)
    assert [(v.client_id, v.status, v.scopes) for v in waiting] == [
        (w.client_id, "pending", ("approve", "view"))
    ]
    assert await m.pending_mandates(db, a["client"]) == []
    for not_carer in (a["client"], a["cm"]):
        with pytest.raises(Forbidden, match=r"^Only the carer named in a mandate may answer it$"):
            await m.accept_mandate(db, not_carer, w.client_id)
    accepted = await m.accept_mandate(db, carer_a, w.client_id)
    assert (accepted.status, accepted.carer_id, accepted.wallet_id) == (
        "active",
        carer_a.principal_id,
        w.wallet_id,
    )
    assert await m.mandate_scopes(db, carer_a.principal_id, w.wallet_id) == {"approve", "view"}
    assert await m.pending_mandates(db, carer_a) == []
    with pytest.raises(NotFound, match=r"^No mandate waits for your answer from this client$"):
        await m.accept_mandate(db, carer_a, w.client_id)
    await m.decline_mandate(db, carer_b, w.client_id)
    assert await m.mandate_scopes(db, carer_b.principal_id, w.wallet_id) == frozenset()
    with pytest.raises(NotFound):
        await m.decline_mandate(db, carer_b, w.client_id)
    statuses = {
        v.carer_id: v.status for v in await m.list_mandates(db, a["cm"], client_id=w.client_id)
    }
    assert statuses == {carer_a.principal_id: "active", carer_b.principal_id: "declined"}
    assert (await _audit(db))[2:] == [
        ("mandate.accepted", carer_a.principal_id, f"carer {carer_a.principal_id}: approve view"),
        ("mandate.declined", carer_b.principal_id, f"carer {carer_b.principal_id}: approve view"),
    ]


async def test_a_request_past_its_last_day_can_no_longer_be_answered(db: Database, monkeypatch):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"]
    today = _today()
    await m.set_mandate(
        db,
        a["client"],
        client_id=w.client_id,
        carer_id=carer.principal_id,
        scopes=["view"],
        valid_until=today,
    )
    assert len(await m.pending_mandates(db, carer)) == 1
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), HELSINKI)
    monkeypatch.setattr(
        clock, "source", lambda: (tomorrow + timedelta(hours=1)).astimezone(clock.UTC)
    )
    assert await m.pending_mandates(db, carer) == []
    with pytest.raises(NotFound):
        await m.accept_mandate(db, carer, w.client_id)


async def test_a_carer_of_another_organizer_cannot_answer(db: Database):
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"]
    await m.set_mandate(
        db, a["client"], client_id=w.client_id, carer_id=carer.principal_id, scopes=["view"]
    )
    other = await seed_world(db)
    impostor = Actor(carer.principal_id, other.organizer_id, "carer", carer.display_name)
    with pytest.raises(NotFound):
        await m.accept_mandate(db, impostor, w.client_id)
    assert await m.mandate_scopes(db, carer.principal_id, w.wallet_id) == frozenset()


async def test_grant_mandate_names_its_refusal_and_keeps_the_last_day(db: Database):
    """Mutation survivors (issue 23): the slug of an unknown scope, and ``valid_until``."""
    w = await seed_world(db)
    a = await _actors(db, w)
    with pytest.raises(InvalidInput) as caught:
        await m.grant_mandate(
            db, carer_id=a["carer_a"].principal_id, client_id=w.client_id, scopes=("root",)
        )
    assert caught.value.slug == "invalid-scope"
    await m.grant_mandate(
        db,
        carer_id=a["carer_a"].principal_id,
        client_id=w.client_id,
        scopes=("view",),
        valid_until=_today() - timedelta(days=1),
    )
    assert await m.mandate_scopes(db, a["carer_a"].principal_id, w.wallet_id) == frozenset()
    (view,) = await m.list_mandates(db, a["client"], client_id=w.client_id)
    assert (view.valid_until, view.status) == (_today() - timedelta(days=1), "ended")


async def test_each_mandate_audit_names_its_organizer_and_client(db: Database):
    """Mutation survivors (issue 23): the organizer and client of a mandate's audit rows."""
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a = a["carer_a"]
    await m.set_mandate(
        db, a["client"], client_id=w.client_id, carer_id=carer_a.principal_id, scopes=["view"]
    )
    waiting = await m.pending_mandates(db, carer_a)
    assert [(v.client_id, v.wallet_id) for v in waiting] == [(w.client_id, w.wallet_id)]
    await m.accept_mandate(db, carer_a, w.client_id)
    await m.revoke_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer_a.principal_id)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        seen = [
            (e.action, e.organizer_id, e.subject_client_id)
            for e in rows
            if e.action.startswith("mandate.")
        ]
    assert seen == [
        ("mandate.requested", w.organizer_id, w.client_id),
        ("mandate.accepted", w.organizer_id, w.client_id),
        ("mandate.revoked", w.organizer_id, w.client_id),
    ]


async def _second_client(db: Database, w: World) -> uuid.UUID:
    from payments.models import Wallet
    from tests.factories import add_funded_client

    wallet_id = await add_funded_client(db, w)
    async with UnitOfWork(db, readonly=True) as uow:
        wallet = await uow.session.get(Wallet, wallet_id)
        assert wallet is not None
        return wallet.client_id


async def test_a_carer_of_two_clients_answers_and_loses_each_mandate_apart(db: Database):
    """Mutation survivors (issue 23): answering and revoking look at the one client named."""
    w = await seed_world(db)
    a = await _actors(db, w)
    carer_a = a["carer_a"]
    other = await _second_client(db, w)
    other_actor = Actor(uuid.uuid4(), w.organizer_id, "client", "Eero", client_id=other)
    for actor, client_id in ((a["client"], w.client_id), (other_actor, other)):
        # Nothing from the other client waits yet: the one that does is not answered instead.
        with pytest.raises(NotFound):
            await m.accept_mandate(db, carer_a, other)
        await m.set_mandate(
            db, actor, client_id=client_id, carer_id=carer_a.principal_id, scopes=["view"]
        )
    # By last name: Eino Heikkinen before Aino Virtanen, who asked first.
    waiting = await m.pending_mandates(db, carer_a)
    assert [v.client_id for v in waiting] == [other, w.client_id]
    accepted = await m.accept_mandate(db, carer_a, other)
    assert accepted.client_id == other
    assert [v.client_id for v in await m.pending_mandates(db, carer_a)] == [w.client_id]
    await m.accept_mandate(db, carer_a, w.client_id)
    await m.revoke_mandate(db, a["cm"], client_id=w.client_id, carer_id=carer_a.principal_id)
    assert [v.status for v in await m.list_mandates(db, a["cm"], client_id=other)] == ["active"]


async def test_a_mandate_ends_after_its_last_day_in_helsinki(db: Database, monkeypatch):
    """Mutation survivors (issue 23): the reads take today in Helsinki, not the machine's zone
    (on a machine in UTC, 00:30 in Helsinki is still yesterday)."""
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"].principal_id
    helsinki_morning = datetime.combine(
        _today() + timedelta(days=1), datetime.min.time(), HELSINKI
    ) + timedelta(minutes=30)
    monkeypatch.setattr(clock, "source", lambda: helsinki_morning.astimezone(clock.UTC))
    yesterday = helsinki_morning.date() - timedelta(days=1)
    await m.grant_mandate(
        db, carer_id=carer, client_id=w.client_id, scopes=("view",), valid_until=yesterday
    )
    assert await m.mandate_scopes(db, carer, w.wallet_id) == frozenset()
    (view,) = await m.list_mandates(db, a["client"], client_id=w.client_id)
    assert view.status == "ended"
