"""What the campaign endpoints send back: a campaign with its progress, its contacts, uploads
and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from dispatcher.domain.campaign_activity import STATES as ACTIVITY_STATES
from dispatcher.domain.campaign_rules import CampaignStatus, ContactState
from web.models.common import Response

NullableTime = datetime | None


class Activity(Response):
    """What the campaign is doing now, and why it is not dialling when it is not.
    ``eta_seconds`` is never sooner than ``until``."""

    state: Literal[ACTIVITY_STATES]  # type: ignore[valid-type]
    reason: str = Field(examples=["waiting for window (opens Sat 09:00 Asia/Tehran)"])
    until: NullableTime


class Target(Response):
    context: str
    exten: str
    priority: int


class RetryRule(Response):
    max_attempts: int
    delay: int


class Window(Response):
    days: list[str]
    start: str
    end: str


class Campaign(Response):
    id: uuid.UUID
    name: str
    status: CampaignStatus
    trunk: str
    caller_id: str | None
    max_lines: int
    cps: float | None
    timeout: int
    priority: int
    target: Target | None
    variables: dict[str, str]
    retry: dict[str, RetryRule]
    windows: list[Window]
    timezone: str
    dnc_lists: list[str]
    status_callback: str | None
    status_callback_event: list[str]
    created_by: uuid.UUID | None = Field(description="the API key that created it")
    created_at: datetime
    started_at: NullableTime
    paused_at: NullableTime
    ended_at: NullableTime
    contacts: dict[str, int] = Field(description="``total`` and a count per contact state")
    calls: dict[str, int] = Field(description="the campaign's calls by status")
    outcomes: dict[str, int] = Field(description="finished contacts by outcome")
    progress: float = Field(ge=0, le=1, description="done and skipped contacts over all")
    rate_per_minute: float
    eta_seconds: float | None
    activity: Activity


class CampaignList(Response):
    data: list[Campaign]
    next_cursor: str | None


class Contact(Response):
    id: int
    upload_id: uuid.UUID | None
    line: int | None
    to: str
    state: ContactState
    outcome: str | None
    attempts: int
    next_attempt_at: NullableTime
    last_call_id: uuid.UUID | None
    last_attempt_at: NullableTime
    timezone: str | None
    variables: dict[str, str]
    metadata: Any


class ContactList(Response):
    data: list[Contact]
    next_cursor: str | None


class Upload(Response):
    upload_id: uuid.UUID
    received: int
    accepted: int
    duplicates: int
    rejected: int
    seconds: float = Field(description="server-side time spent on the upload")
    rejects_url: str


class StoredUpload(Upload):
    created_at: datetime


class UploadList(Response):
    data: list[StoredUpload]


class HistoryEntry(Response):
    action: str = Field(examples=["start"])
    at: datetime
    by: uuid.UUID | None = Field(description="the API key; null for the hopper's completion")
    detail: Any


class History(Response):
    data: list[HistoryEntry]
