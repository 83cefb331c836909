"""Tables of client statements (issue 7): which monthly statements have been announced."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, UtcDateTime


class StatementNotice(Base):
    """One row per (wallet, month) whose ``statement.ready`` event has been written.

    The primary key is what makes the notice once-only: the event is emitted only by the
    transaction whose insert of this row took effect.
    """

    __tablename__ = "statement_notices"
    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
