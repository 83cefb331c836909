"""What a Web Push notification says, built from an event without a database or a server."""

from __future__ import annotations

import uuid

from notifications import events as ev
from notifications import push
from notifications.push import build_payload
from notifications.rules import Preferences
from payments.clock import utcnow
from payments.ledger.periods import current_period, previous_period
from payments.outbox import PAYMENT_REQUESTED, STATEMENT_READY

LAST = previous_period(current_period())


def test_payment_request_carries_actions_only_for_those_who_may_approve():
    e = ev.Event(
        id=7,
        type=PAYMENT_REQUESTED,
        organizer_id=uuid.uuid4(),
        wallet_id=uuid.uuid4(),
        provider_id=uuid.uuid4(),
        created_at=ev.datetime.now(),
        data={"request_id": "r1", "provider_name": "Taksi", "amount_cents": 1250},
    )
    p = build_payload(e, Preferences(language="en", hide_amounts=False), can_approve=True)
    assert [a["action"] for a in p["actions"]] == ["approve", "decline"]
    assert p["request_id"] == "r1" and p["body"] == "Taksi · €12.50"
    assert "actions" not in build_payload(e, Preferences(), can_approve=False)


def test_amounts_are_hidden_unless_the_person_chooses_to_show_them():
    """The lock screen is seen by others: by default a push says who and what, never how much
    (issue 19); a person who turns the switch off sees the amount and the balance left."""
    e = ev.Event(
        id=8,
        type="charge.captured",
        # Ids without the amounts' digits, so a search of the payload for them means something.
        organizer_id=uuid.UUID(int=1),
        wallet_id=uuid.UUID(int=2),
        provider_id=uuid.UUID(int=4),
        created_at=ev.datetime.now(),
        data={"provider_name": "Kuura", "total_cents": 3500, "balances": {"1": 26500}},
    )
    for lang in ("fi", "sv", "en"):
        hidden = build_payload(e, Preferences(language=lang), can_approve=False)
        assert "amount_cents" not in hidden and "remaining_cents" not in hidden
        assert hidden["body"] == "Kuura"
        assert "35" not in str(hidden) and "265" not in str(hidden)
    shown = build_payload(e, Preferences(language="en", hide_amounts=False), can_approve=False)
    assert shown["amount_cents"] == 3500 and shown["remaining_cents"] == 26500
    assert shown["body"].startswith("Kuura · €35.00 · ") and shown["body"].endswith("€265.00")


def test_statement_ready_push_text_in_three_languages() -> None:
    from notifications.events import Event

    event = Event(
        id=7,
        type=STATEMENT_READY,
        organizer_id=uuid.uuid4(),
        wallet_id=uuid.uuid4(),
        provider_id=None,
        created_at=utcnow(),
        data={"period": LAST},
    )
    titles = {
        lang: push.build_payload(event, Preferences(language=lang), can_approve=False)["title"]
        for lang in ("fi", "sv", "en")
    }
    assert titles == {
        "fi": "Kuukausiote on valmis",
        "sv": "Månadsutdraget är klart",
        "en": "Your monthly statement is ready",
    }
    assert Preferences().wants(STATEMENT_READY)
