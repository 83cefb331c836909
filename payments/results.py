"""What a money use case answers, in the domain's words: what happened, the resulting view,
and whether this is the answer of an earlier, identical request (a retry).

One type for the first answer and its replay: ``idempotency.claim`` returns the stored
``Outcome`` of a key seen before (``replayed``), and a use case whose work was already done
answers ``ALREADY_DONE``. The web layer (``wallet_api.deps.respond``) chooses the status code
and the response body from it; nothing here speaks HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Happened(StrEnum):
    CREATED = "created"  # a charge, refund, hold, payment request or price version now exists
    PENDING_APPROVAL = "pending_approval"  # the money is held; the client must approve
    DONE = "done"  # an existing hold or request was captured, voided, approved or declined
    # It was done before (a voided hold voided again, an approved request approved again, the
    # same price version published again): nothing was written; the body is as it stands.
    ALREADY_DONE = "already_done"


@dataclass(frozen=True)
class Outcome:
    """What a money use case answers, first time or replayed."""

    what: Happened
    body: dict[str, Any]
    replayed: bool = False
