"""Migration 0022: the card changes audited before it (a PIN set, an unlock, a revocation, which
named only the card) get the client whose wallet the card pays from, so the client's page of
the audit trail shows them. Rows are written at 0021 as the old code wrote them (the models are
the same there: 0022 changes data only)."""

from __future__ import annotations

from sqlalchemy import select

from payments.checkout import cards
from payments.clock import utcnow
from payments.db import create_database
from payments.models import AuditEvent
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.payments.test_transfer_kinds import migrate, scratch_url

__all__ = ["scratch_url"]  # the fixture, used by name


async def test_earlier_card_changes_name_their_client_after_the_upgrade(scratch_url: str) -> None:
    db = create_database(scratch_url)
    try:
        await migrate(db, "0021")
        w = await seed_world(db)
        other = await seed_world(db)
        card = await cards.issue_card(
            db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=w.wallet_id
        )
        now = utcnow()
        old = [
            # (organizer, action, detail): as the code before 0022 wrote them, no subject.
            (w.organizer_id, "card.pin_set", f"card {card.card_number}"),
            (w.organizer_id, "card.revoke", f"card {card.card_number}"),
            # The same card number seen from another county's trail: not this client's.
            (other.organizer_id, "card.unlock", f"card {card.card_number}"),
            # A card that is gone, and a row that is no card change: left as they are.
            (w.organizer_id, "card.unlock", "card HBC0000000000000000000000"),
            (w.organizer_id, "checkout.card_lookup", f"card {card.card_number}"),
        ]
        async with UnitOfWork(db) as uow:
            uow.session.add_all(
                AuditEvent(
                    organizer_id=org, actor_id=w.case_manager, action=a, detail=d, created_at=now
                )
                for org, a, d in old
            )
            await uow.commit()

        await migrate(db, "head")
        async with UnitOfWork(db, readonly=True) as uow:
            rows = (
                await uow.session.execute(
                    select(AuditEvent.action, AuditEvent.organizer_id, AuditEvent.subject_client_id)
                    .where(AuditEvent.detail.like("card %"))
                    .order_by(AuditEvent.id)
                )
            ).all()
        assert rows == [
            ("card.issued", w.organizer_id, w.client_id),  # written with it already
            ("card.pin_set", w.organizer_id, w.client_id),
            ("card.revoke", w.organizer_id, w.client_id),
            ("card.unlock", other.organizer_id, None),
            ("card.unlock", w.organizer_id, None),
            ("checkout.card_lookup", w.organizer_id, None),
        ]
        # The downgrade leaves the rows as they are.
        await migrate(db, "0021", down=True)
    finally:
        await db.dispose()
