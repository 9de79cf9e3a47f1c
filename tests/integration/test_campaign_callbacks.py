"""A campaign's callbacks against a real PostgreSQL: its calls signed with the secret of the
API key that created it, and its lifecycle events queued for its callback URL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.callbacks import CallbackRepository
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.tables import CallbackDeliveryRow
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import api_keys, campaigns
from dispatcher.usecases.hopper import Hopper
from tests.support.campaign_scenario import MONDAY_10_TEHRAN, POLICY, calls, end_calls, upload
from web.models.campaigns import campaign_spec
from web.models.rules import ApiContext


class TestCallbacks:
    def test_campaign_calls_are_signed_with_the_secret_of_the_key_that_created_it(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        key, _ = api_keys.create_api_key(sessions, "campaigns")
        spec = campaign_spec({"name": "signed", "max_lines": 3}, ApiContext(POLICY, trunks))
        cid = campaigns.create_campaign(sessions, spec, key.id).id
        upload(sessions, cid, "to\n09121000001\n")
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        Hopper(sessions, trunks, POLICY).run(None, MONDAY_10_TEHRAN)
        [call] = calls(sessions, cid)
        assert call.api_key_id == key.id  # placed by it, for the audit trail
        with sessions() as session:
            assert CallbackRepository(session).call_secret(call.id) == key.callback_secret
            # ... but not counted against the key's own concurrent-call limit
            assert CallRepository(session).count_active(key.id) == 0


    def test_lifecycle_events_go_to_the_campaigns_callback_url_signed_with_its_key(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        key, _ = api_keys.create_api_key(sessions, "campaigns")
        spec = campaign_spec({"name": "hooked", "max_lines": 3,
                              "status_callback": "https://hooks.example.com/c"},
                             ApiContext(POLICY, trunks))
        cid = campaigns.create_campaign(sessions, spec, key.id).id
        upload(sessions, cid, "to\n09121000001\n")
        hopper = Hopper(sessions, trunks, POLICY, upload_grace=timedelta(0))
        campaigns.change_status(sessions, cid, "start", MONDAY_10_TEHRAN)
        campaigns.change_status(sessions, cid, "pause", MONDAY_10_TEHRAN)
        campaigns.change_status(sessions, cid, "resume", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        end_calls(sessions, cid, "completed", "answered", MONDAY_10_TEHRAN)
        hopper.run(None, MONDAY_10_TEHRAN)
        with sessions() as session:
            rows = list(session.scalars(select(CallbackDeliveryRow)
                                        .where(CallbackDeliveryRow.campaign_id == cid)
                                        .order_by(CallbackDeliveryRow.sequence)))
            assert [(r.sequence, r.event) for r in rows] == [
                (1, "campaign.started"), (2, "campaign.paused"), (3, "campaign.resumed"),
                (4, "campaign.completed")]
            done = rows[-1].payload["campaign"]
            assert done["status"] == "completed" and done["progress"] == 1.0
            assert done["outcomes"] == {"answered": 1}
            assert CallbackRepository(session).campaign_secret(cid) == key.callback_secret
