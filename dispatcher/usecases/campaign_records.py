"""Reading back what a campaign did: its history, callbacks, uploads and their rejects, its
contacts, and the export of every contact with its attempts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dispatcher.adapters.db.callbacks import CallbackRepository
from dispatcher.adapters.db.campaigns import CampaignRepository
from dispatcher.adapters.db.contacts import ContactRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.adapters.db.tables import (
    CallbackDeliveryRow,
    CampaignHistoryRow,
    ContactRow,
    UploadRejectRow,
    UploadRow,
)
from dispatcher.domain.errors import NotFound

T = TypeVar("T")


def _of_campaign(sessions: Sessions, campaign_id: uuid.UUID,
                 fetch: Callable[[CampaignRepository, uuid.UUID], T]) -> T:
    """Rows belonging to one campaign, read in one session (NotFound for an unknown one)."""
    with sessions() as session:
        repo = CampaignRepository(session)
        if repo.get(campaign_id) is None:
            raise NotFound("no such campaign")
        return fetch(repo, campaign_id)


def history(sessions: Sessions, campaign_id: uuid.UUID) -> list[CampaignHistoryRow]:
    """Who did what to the campaign, oldest first (the hopper's completion has no key)."""
    return _of_campaign(sessions, campaign_id, CampaignRepository.history)


def callbacks(sessions: Sessions, campaign_id: uuid.UUID) -> list[CallbackDeliveryRow]:
    """The delivery log of the campaign's lifecycle callbacks, in sequence order."""
    return _of_campaign(sessions, campaign_id,
                        lambda repo, cid: CallbackRepository(repo.session).of_campaign(cid))


def uploads(sessions: Sessions, campaign_id: uuid.UUID) -> list[UploadRow]:
    return _of_campaign(sessions, campaign_id,
                        lambda repo, cid: ContactRepository(repo.session).uploads(cid))


def upload_rejects(sessions: Sessions, campaign_id: uuid.UUID,
                   upload_id: uuid.UUID) -> list[UploadRejectRow]:
    """The rows of one upload that were refused, by line number."""
    with sessions() as session:
        repo = ContactRepository(session)
        if repo.upload(campaign_id, upload_id) is None:
            raise NotFound("no such upload")
        return repo.rejects(upload_id)


@dataclass(frozen=True)
class ContactQuery:
    state: str | None = None
    outcome: str | None = None
    to: str | None = None
    after: int | None = None  # the last contact id of the previous page


def contacts(sessions: Sessions, campaign_id: uuid.UUID, query: ContactQuery,
             limit: int) -> tuple[list[ContactRow], bool]:
    """A page of contacts in file order, and whether there are more."""
    rows = _of_campaign(sessions, campaign_id, lambda repo, cid: ContactRepository(
        repo.session).contacts_page(
        cid, state=query.state, outcome=query.outcome, to=query.to, limit=limit + 1,
        after=query.after))
    return rows[:limit], len(rows) > limit


def export(sessions: Sessions, campaign_id: uuid.UUID) -> Iterator[Sequence[Any]]:
    """Every contact with its attempts' outcomes, streamed from the server in file order.
    An unknown campaign raises NotFound here, before the first row is asked for."""
    _of_campaign(sessions, campaign_id, lambda repo, cid: None)

    def rows() -> Iterator[Sequence[Any]]:
        with sessions() as session:
            yield from ContactRepository(session).export_rows(campaign_id)

    return rows()
