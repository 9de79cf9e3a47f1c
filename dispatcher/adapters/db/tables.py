"""Table definitions. Every change here needs a migration in ``dispatcher/migrations``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[str] = mapped_column(String(200), default="calls:read calls:write")
    callback_secret: Mapped[str | None] = mapped_column(String(64))
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    max_active_calls: Mapped[int | None] = mapped_column(Integer)


class CallRow(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("uq_calls_idempotency", "api_key_id", "idempotency_key", unique=True,
              postgresql_where="idempotency_key IS NOT NULL"),
        Index("ix_calls_created", "created_at", "id"),
        Index("ix_calls_status_created", "status", "created_at"),
        Index("ix_calls_to_created", "to_number", "created_at"),
        Index("ix_calls_trunk_status", "trunk", "status", "created_at"),
        Index("ix_calls_key_status", "api_key_id", "status"),
        Index("ix_calls_campaign_status", "campaign_id", "status",
              postgresql_where="campaign_id IS NOT NULL"),
        Index("ix_calls_contact", "contact_id", postgresql_where="contact_id IS NOT NULL"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(20))
    dial_string: Mapped[str] = mapped_column(String(160))
    caller_id: Mapped[str | None] = mapped_column(String(20))
    ring_timeout: Mapped[int] = mapped_column(Integer)
    trunk: Mapped[str] = mapped_column(String(64), default="carrier-trunk")
    priority: Mapped[int] = mapped_column(SmallInteger, default=5)
    source: Mapped[str] = mapped_column(String(16), default="api")
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    call_metadata: Mapped[Any] = mapped_column("metadata", JSONB, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(64))
    sip_code: Mapped[int | None] = mapped_column(Integer)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    channel: Mapped[str | None] = mapped_column(String(160))
    dial_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dialed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ringing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    canceled_by_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    status_callback: Mapped[str | None] = mapped_column(Text)
    callback_events: Mapped[str] = mapped_column(String(100), default="completed")
    callback_seq: Mapped[int] = mapped_column(Integer, default=0)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[int | None] = mapped_column(BigInteger)
    originate_target: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class CallEventRow(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # No foreign key: rows are only inserted joined to their call (migration 0009).
    call_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    attempt_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(40))
    event_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    # json, not jsonb: written at the PBX's event rate, read back only whole (migration 0009).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)


class CallbackDeliveryRow(Base):
    """The outbox of status callbacks: written with the state change, sent by Celery."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (Index("ix_callback_due", "state", "next_attempt_at"),
                      UniqueConstraint("call_id", "sequence", name="uq_callback_call_sequence"),
                      UniqueConstraint("campaign_id", "sequence",
                                       name="uq_callback_campaign_sequence"),
                      CheckConstraint("call_id IS NOT NULL OR campaign_id IS NOT NULL",
                                      name="ck_callback_owner"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # A call's status callback, or a campaign's lifecycle callback.
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsumerSessionRow(Base):
    """Connection epochs of the event consumer: the gaps are what reconciliation repairs."""

    __tablename__ = "consumer_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100))
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pbx_uptime: Mapped[str | None] = mapped_column(String(40))


class CampaignRow(Base):
    """A list of contacts dialled under one set of rules; the hopper feeds it to admission."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),
                      Index("ix_campaigns_created", "created_at", "id"))

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    trunk: Mapped[str] = mapped_column(String(64))
    caller_id: Mapped[str | None] = mapped_column(String(20))
    max_lines: Mapped[int] = mapped_column(Integer)
    cps: Mapped[float | None] = mapped_column(Float)
    ring_timeout: Mapped[int] = mapped_column(Integer, default=30)
    priority: Mapped[int] = mapped_column(SmallInteger, default=5)
    target: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    retry: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    windows: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tehran")
    dnc_lists: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status_callback: Mapped[str | None] = mapped_column(Text)
    callback_events: Mapped[str] = mapped_column(String(100), default="completed")
    callback_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactRow(Base):
    """One number of a campaign and where it stands; the truth about what was dialled is in
    its calls (``calls.contact_id``)."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        Index("uq_contacts_campaign_number", "campaign_id", "to_number", unique=True),
        Index("ix_contacts_due", "campaign_id", "state", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # No foreign key, on purpose: a per-row check is the largest cost of a 100,000-row load.
    # Only an upload creates contacts, under a share lock on its campaign's row, and campaigns
    # are never deleted, so the parent is always there.
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    line: Mapped[int] = mapped_column(Integer)
    upload_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    to_number: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    contact_metadata: Mapped[Any] = mapped_column("metadata", JSONB, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=func.now())
    last_call_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UploadRow(Base):
    __tablename__ = "campaign_uploads"
    __table_args__ = (Index("uq_uploads_idempotency", "campaign_id", "idempotency_key",
                            unique=True, postgresql_where="idempotency_key IS NOT NULL"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                                   index=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    format: Mapped[str] = mapped_column(String(8))
    received: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UploadRejectRow(Base):
    __tablename__ = "campaign_upload_rejects"

    upload_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_uploads.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)


class DncListRow(Base):
    __tablename__ = "dnc_lists"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DncNumberRow(Base):
    __tablename__ = "dnc_numbers"
    __table_args__ = (Index("ix_dnc_numbers_number", "number"),)

    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dnc_lists.id", ondelete="CASCADE"),
                                               primary_key=True)
    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CampaignHistoryRow(Base):
    """The audit trail of a campaign: each lifecycle step, change and upload, and which key."""

    __tablename__ = "campaign_history"
    __table_args__ = (Index("ix_campaign_history_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    detail: Mapped[Any] = mapped_column(JSONB, nullable=True)


# The bookkeeping tables (the purge's marks, the campaign tallies) are declared in their own
# module; importing it here registers them on Base.metadata for Alembic and the schema test.
from dispatcher.adapters.db import bookkeeping  # noqa: E402,F401
