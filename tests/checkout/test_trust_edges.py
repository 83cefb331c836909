"""The trusted-provider list and its monthly total, on the use cases and primitives themselves
(both engines): cap validation, who may be trusted, the audit trail, which month's total the
list shows, and how a give-back moves the total."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from payments import clock
from payments.checkout import trust
from payments.clock import utcnow
from payments.db import Database
from payments.errors import ConsentRequired, InvalidInput, NotFound
from payments.ledger.periods import next_period, period_of, period_start_utc, previous_period
from payments.models import AuditEvent, Provider, TrustedProvider
from payments.uow import UnitOfWork
from tests.factories import add_funded_client, seed_world


async def _audit(db: Database) -> list[AuditEvent]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [r for r in rows if r.action.startswith("trusted_provider.")]


async def _row(db: Database, wallet_id: uuid.UUID, provider_id: uuid.UUID) -> TrustedProvider:
    async with UnitOfWork(db, readonly=True) as uow:
        return (
            await uow.session.execute(
                select(TrustedProvider).where(
                    TrustedProvider.wallet_id == wallet_id,
                    TrustedProvider.provider_id == provider_id,
                )
            )
        ).scalar_one()


@pytest.mark.parametrize("cap", [0, -1, trust.MAX_CAP_CENTS + 1, True, 12.5, "100"], ids=repr)
async def test_a_cap_that_is_no_positive_whole_number_of_cents_is_refused(db: Database, cap):
    w = await seed_world(db, trusted=False)
    with pytest.raises(InvalidInput, match=r"^per_charge_cap_cents must be a positive whole"):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=w.provider_id,
            per_charge_cap_cents=cap,
        )
    with pytest.raises(InvalidInput, match=r"^monthly_cap_cents must be a positive whole number"):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=w.provider_id,
            per_charge_cap_cents=1000,
            monthly_cap_cents=cap,
        )
    assert await trust.list_trusted(db, w.wallet_id) == []


async def test_set_trusted_adds_then_changes_caps_and_audits_each(db: Database):
    w = await seed_world(db, trusted=False)
    added = await trust.set_trusted(
        db,
        actor_id=w.case_manager,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=trust.MAX_CAP_CENTS,
        monthly_cap_cents=1,
    )
    assert added == trust.Trusted(
        w.provider_id, "Siivouspalvelu Kuura Oy", trust.MAX_CAP_CENTS, 1, 0
    )
    row = await _row(db, w.wallet_id, w.provider_id)
    assert (row.organizer_id, row.created_by, row.month_spent_cents) == (
        w.organizer_id,
        w.case_manager,
        0,
    )
    assert row.created_at is not None
    # Counted some money, then the caps changed: the total stays.
    async with UnitOfWork(db) as uow:
        assert await trust.count_consented(uow.session, w.wallet_id, w.provider_id, 700, utcnow())
        await uow.commit()
    changed = await trust.set_trusted(
        db,
        actor_id=w.client_principal,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=5000,
    )
    assert changed == trust.Trusted(w.provider_id, "Siivouspalvelu Kuura Oy", 5000, None, 700)
    row = await _row(db, w.wallet_id, w.provider_id)
    assert (row.per_charge_cap_cents, row.monthly_cap_cents, row.created_by) == (
        5000,
        None,
        w.case_manager,
    )
    audit = await _audit(db)
    assert [(a.action, a.actor_id, a.subject_client_id, a.organizer_id) for a in audit] == [
        ("trusted_provider.set", w.case_manager, w.client_id, w.organizer_id),
        ("trusted_provider.set", w.client_principal, w.client_id, w.organizer_id),
    ]
    assert audit[0].detail == (
        f"provider {w.provider_id}: per charge {trust.MAX_CAP_CENTS}, monthly 1"
    )
    assert audit[1].detail == f"provider {w.provider_id}: per charge 5000, monthly None"


async def test_only_a_provider_of_the_wallets_organizer_can_be_trusted(db: Database):
    w = await seed_world(db, trusted=False)
    other = await seed_world(db, trusted=False)
    with pytest.raises(NotFound, match=r"^No such provider$"):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=other.provider_id,
            per_charge_cap_cents=1000,
        )
    with pytest.raises(NotFound, match=r"^No such provider$"):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=uuid.uuid4(),
            per_charge_cap_cents=1000,
        )
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=uuid.uuid4(),
            provider_id=w.provider_id,
            per_charge_cap_cents=1000,
        )
    assert await _audit(db) == []


async def test_remove_trusted_forgets_the_row_and_audits_it(db: Database):
    w = await seed_world(db, trusted=False)
    await trust.set_trusted(
        db,
        actor_id=w.case_manager,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=1000,
    )
    with pytest.raises(NotFound, match=r"^This provider is not on the list$"):
        await trust.remove_trusted(
            db, actor_id=w.case_manager, wallet_id=w.wallet_id, provider_id=w.other_provider_id
        )
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await trust.remove_trusted(
            db, actor_id=w.case_manager, wallet_id=uuid.uuid4(), provider_id=w.provider_id
        )
    await trust.remove_trusted(
        db, actor_id=w.client_principal, wallet_id=w.wallet_id, provider_id=w.provider_id
    )
    assert await trust.list_trusted(db, w.wallet_id) == []
    removed = (await _audit(db))[-1]
    assert (removed.action, removed.actor_id, removed.subject_client_id) == (
        "trusted_provider.removed",
        w.client_principal,
        w.client_id,
    )
    assert removed.organizer_id == w.organizer_id
    assert removed.detail == f"provider {w.provider_id}"
    assert removed.created_at is not None


async def test_the_list_is_by_name_and_shows_only_this_months_total(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    w = await seed_world(db, trusted=False)
    for provider in (w.provider_id, w.other_provider_id):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=provider,
            per_charge_cap_cents=10_000,
            monthly_cap_cents=50_000,
        )
    now = utcnow()
    async with UnitOfWork(db) as uow:
        await trust.count_consented(uow.session, w.wallet_id, w.provider_id, 1200, now)
        await uow.commit()
    listed = await trust.list_trusted(db, w.wallet_id)
    assert [t.provider_name for t in listed] == ["Siivouspalvelu Kuura Oy", "Taksi Hiltunen"]
    assert [t.month_spent_cents for t in listed] == [1200, 0]
    assert listed[0] == trust.Trusted(
        w.provider_id, "Siivouspalvelu Kuura Oy", 10_000, 50_000, 1200
    )
    # Next month the list shows nothing spent yet, though the row still holds last month's.
    next_month = period_start_utc(next_period(period_of(now))) + timedelta(hours=1)
    monkeypatch.setattr(clock, "source", lambda: next_month)
    assert [t.month_spent_cents for t in await trust.list_trusted(db, w.wallet_id)] == [0, 0]


async def test_use_trust_checks_both_caps_and_counts_by_month(db: Database):
    w = await seed_world(db, trusted=False)
    await trust.set_trusted(
        db,
        actor_id=w.case_manager,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=3000,
        monthly_cap_cents=5000,
    )
    now = utcnow()
    this = period_of(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        assert await trust.use_trust(s, w.wallet_id, w.provider_id, 3001, now) is None
        assert await trust.use_trust(s, w.wallet_id, w.provider_id, 3000, now) == this
        assert await trust.use_trust(s, w.wallet_id, w.provider_id, 2001, now) is None
        assert await trust.use_trust(s, w.wallet_id, w.provider_id, 2000, now) == this
        assert await trust.use_trust(s, w.wallet_id, w.provider_id, 1, now) is None
        # Not trusted at all: nothing to count.
        assert await trust.use_trust(s, w.wallet_id, w.other_provider_id, 1, now) is None
        assert await trust.count_consented(s, w.wallet_id, w.other_provider_id, 1, now) is None
        with pytest.raises(ConsentRequired):
            await trust.hold_by_phone(s, w.wallet_id, w.provider_id, 1, now)
        # Consent passes the cap and is counted.
        assert await trust.count_consented(s, w.wallet_id, w.provider_id, 400, now) == this
        # A new month restarts the total at the new amount.
        later = period_start_utc(next_period(this)) + timedelta(minutes=1)
        assert await trust.hold_by_phone(s, w.wallet_id, w.provider_id, 2500, later) == (
            next_period(this)
        )
        await uow.commit()
    row = await _row(db, w.wallet_id, w.provider_id)
    assert (row.month_period, row.month_spent_cents) == (next_period(this), 2500)


async def test_give_back_lowers_only_its_month_never_below_zero(db: Database):
    w = await seed_world(db, trusted=False)
    await trust.set_trusted(
        db,
        actor_id=w.case_manager,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=10_000,
    )
    now = utcnow()
    this = period_of(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        await trust.count_consented(s, w.wallet_id, w.provider_id, 1000, now)
        await trust.give_back(s, w.wallet_id, w.provider_id, 300, previous_period(this))
        await trust.give_back(s, w.wallet_id, w.provider_id, 0, this)
        await trust.give_back(s, w.wallet_id, w.provider_id, -50, this)
        await uow.commit()
    assert (await _row(db, w.wallet_id, w.provider_id)).month_spent_cents == 1000
    async with UnitOfWork(db) as uow:
        await trust.give_back(uow.session, w.wallet_id, w.provider_id, 999, this)
        await uow.commit()
    assert (await _row(db, w.wallet_id, w.provider_id)).month_spent_cents == 1
    async with UnitOfWork(db) as uow:
        await trust.give_back(uow.session, w.wallet_id, w.provider_id, 1, this)
        await uow.commit()
    assert (await _row(db, w.wallet_id, w.provider_id)).month_spent_cents == 0
    async with UnitOfWork(db) as uow:
        await trust.count_consented(uow.session, w.wallet_id, w.provider_id, 100, now)
        await trust.give_back(uow.session, w.wallet_id, w.provider_id, 5000, this)
        await uow.commit()
    assert (await _row(db, w.wallet_id, w.provider_id)).month_spent_cents == 0


async def test_the_list_is_ordered_by_name_not_by_when_trusted(db: Database):
    w = await seed_world(db, trusted=False)
    for provider in (w.other_provider_id, w.provider_id):  # Taksi first, then Siivous...
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=provider,
            per_charge_cap_cents=1000,
        )
    names = [t.provider_name for t in await trust.list_trusted(db, w.wallet_id)]
    assert names == ["Siivouspalvelu Kuura Oy", "Taksi Hiltunen"]


async def test_the_list_is_ordered_by_name_not_by_the_providers_ids(db: Database):
    """Names against the order of the ids (SQLite reads the rows in the order of the
    (wallet, provider) index): the provider with the smaller id sorts last by name."""
    w = await seed_world(db, trusted=False)
    first, last = sorted((w.provider_id, w.other_provider_id), key=str)
    async with UnitOfWork(db) as uow:
        for pid, name in ((first, "Ö-kuljetus Oy"), (last, "Apu Oy")):
            await uow.session.execute(update(Provider).where(Provider.id == pid).values(name=name))
        await uow.commit()
    for provider in (first, last):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=w.wallet_id,
            provider_id=provider,
            per_charge_cap_cents=1000,
        )
    names = [t.provider_name for t in await trust.list_trusted(db, w.wallet_id)]
    assert names == ["Apu Oy", "Ö-kuljetus Oy"]


async def test_each_wallet_has_its_own_row_for_a_provider(db: Database):
    w = await seed_world(db, trusted=False)

    second = await add_funded_client(db, w)
    for wallet, cap in ((w.wallet_id, 1000), (second, 2000)):
        await trust.set_trusted(
            db,
            actor_id=w.case_manager,
            wallet_id=wallet,
            provider_id=w.provider_id,
            per_charge_cap_cents=cap,
        )
    assert (await _row(db, w.wallet_id, w.provider_id)).per_charge_cap_cents == 1000
    assert (await _row(db, second, w.provider_id)).per_charge_cap_cents == 2000
    await trust.remove_trusted(
        db, actor_id=w.case_manager, wallet_id=w.wallet_id, provider_id=w.provider_id
    )
    assert await trust.list_trusted(db, w.wallet_id) == []
    assert [t.per_charge_cap_cents for t in await trust.list_trusted(db, second)] == [2000]
