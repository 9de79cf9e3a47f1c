"""Tables the system keeps about its own work rather than about calls: how far the history
purge has gone, and the running tallies of each campaign's contacts by state and outcome and
of its calls by status."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from dispatcher.adapters.db.tables import Base


class RetentionMarkRow(Base):
    """Where each purge of old history stopped: the last call (in creation order) it passed."""

    __tablename__ = "retention_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    upto_created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    upto_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


class ContactTallyRow(Base):
    """A change in a campaign's contact counts, written by triggers on ``campaign_contacts``
    in the statement's own transaction (migration 0012); insert-only, compacted later."""

    __tablename__ = "campaign_contact_tallies"
    __table_args__ = (
        Index("ix_tallies_campaign", "campaign_id", "at"),
        Index("uq_tallies_compacted", "campaign_id", "state", text("coalesce(outcome, '')"),
              unique=True, postgresql_where=text("at = '-infinity'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CallTallyRow(Base):
    """A change in a campaign's call counts by status, written by triggers on ``calls`` in the
    statement's own transaction (migration 0013); insert-only, folded by the purge task."""

    __tablename__ = "campaign_call_tallies"
    __table_args__ = (
        Index("ix_call_tallies_campaign", "campaign_id"),
        Index("uq_call_tallies_compacted", "campaign_id", "status", unique=True,
              postgresql_where=text("at = '-infinity'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    n: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
