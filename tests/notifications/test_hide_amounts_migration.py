"""Migration 0020 (issue 19, item 5): every stored preference hides amounts on the lock screen.

The old default showed them, and the settings screen stored it with any other change, so a
stored ``false`` was nobody's choice. Rows are written at 0019 (the models are the same there:
0020 changes data only), then the upgrade must turn every ``false`` into ``true`` and leave
everything else of the row as it was.
"""

from __future__ import annotations

from sqlalchemy import select

from notifications.models import NotificationPreference
from payments.clock import utcnow
from payments.db import create_database
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.payments.test_transfer_kinds import migrate, scratch_url
from wallet_api.migrate import schema_state

__all__ = ["scratch_url"]  # the fixture, used by name


async def test_stored_preferences_hide_amounts_after_the_upgrade(scratch_url: str) -> None:
    db = create_database(scratch_url)
    try:
        await migrate(db, "0019")
        w = await seed_world(db)
        now = utcnow()
        async with UnitOfWork(db) as uow:
            s = uow.session
            s.add_all(
                [
                    NotificationPreference(
                        principal_id=w.client_principal,
                        types={"charge.captured": False},
                        hide_amounts=False,
                        low_balance_cents=1234,
                        language="sv",
                        updated_at=now,
                    ),
                    NotificationPreference(
                        principal_id=w.case_manager,
                        types={},
                        hide_amounts=True,
                        language="fi",
                        updated_at=now,
                    ),
                ]
            )
            await uow.commit()
        await migrate(db, "head")
        current, head = await schema_state(db)
        assert current == head
        async with UnitOfWork(db, readonly=True) as uow:
            s = uow.session
            rows = {
                r.principal_id: r
                for r in (await s.execute(select(NotificationPreference))).scalars()
            }
        assert {p: r.hide_amounts for p, r in rows.items()} == {
            w.client_principal: True,
            w.case_manager: True,
        }
        kept = rows[w.client_principal]
        assert (kept.types, kept.low_balance_cents, kept.language) == (
            {"charge.captured": False},
            1234,
            "sv",
        )
        # The downgrade leaves the data as it is (which rows were false cannot be told).
        await migrate(db, "0019", down=True)
        async with UnitOfWork(db, readonly=True) as uow:
            s = uow.session
            assert set(
                (await s.execute(select(NotificationPreference.hide_amounts))).scalars()
            ) == {True}
    finally:
        await db.dispose()
