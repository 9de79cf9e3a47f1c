"""Uploading a campaign's contacts against a real PostgreSQL: valid rows kept, duplicates
dropped, invalid lines reported, chunks sent again, CSV and JSON lines."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from dispatcher.adapters.db.contacts import ContactRepository
from dispatcher.domain.trunks import TrunkTable
from dispatcher.usecases import contact_upload
from tests.support.campaign_scenario import POLICY, contacts, make_campaign, upload


class TestUpload:
    def test_keeps_valid_rows_drops_duplicates_and_reports_invalid_lines(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        text = ("to,timezone,name\n"
                "09121000001,,Ali\n"
                "0912 100 0002,Asia/Dubai,Sara\n"
                "12,,Bad\n"
                "+989121000001,,Dup\n"
                "09121000003,Mars/Olympus,Zed\n"
                "09121000004,,\"two\nlines\"\n"
                "09121000005,,evil\r\n"
                "09121000006\n")
        result = upload(sessions, cid, text).as_json()
        assert (result["received"], result["accepted"], result["duplicates"],
                result["rejected"]) == (8, 3, 1, 4)
        with sessions() as session:
            rejects = {r.line: r.reason for r in ContactRepository(session).rejects(
                uuid.UUID(str(result["upload_id"])))}
        assert set(rejects) == {4, 6, 7, 10}
        assert "to" in rejects[4]
        assert "timezone" in rejects[6]
        assert "variable" in rejects[7]  # a line break inside a variable value
        assert "columns" in rejects[10]
        # line 9 ("evil\r") is kept: the CSV reader treats CRLF as the line end
        kept = contacts(sessions, cid)
        assert set(kept) == {"+989121000001", "+989121000002", "+989121000005"}
        assert kept["+989121000002"].timezone == "Asia/Dubai"
        assert kept["+989121000001"].variables == {"name": "Ali"}
        assert kept["+989121000001"].line == 2

    def test_sending_a_chunk_again_adds_nothing(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        text = "to\n09121000001\n09121000002\n"
        assert upload(sessions, cid, text).upload.accepted == 2
        again = upload(sessions, cid, text).upload
        assert (again.accepted, again.duplicates) == (0, 2)

    def test_a_chunk_sent_again_with_its_key_is_answered_from_the_first_time(
            self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        lines = "to\n09121000001\n12\n".splitlines(keepends=True)
        first = contact_upload.upload_contacts(sessions, cid, lines, "csv", POLICY,
                                          idempotency_key="chunk-1").upload
        again = contact_upload.upload_contacts(sessions, cid, lines, "csv", POLICY,
                                          idempotency_key="chunk-1").upload
        assert again.id == first.id
        assert (again.accepted, again.duplicates, again.rejected) == (1, 0, 1)

    def test_json_lines(self, sessions: sessionmaker[Session], trunks: TrunkTable) -> None:
        cid = make_campaign(sessions, trunks)
        text = ('{"to": "09121000001", "variables": {"code": 12}, "metadata": {"crm": 7}}\n'
                '{"to": "09121000002", "extra": 1}\n'
                'not json\n')
        result = upload(sessions, cid, text, "ndjson").upload
        assert (result.accepted, result.rejected) == (1, 2)
        row = contacts(sessions, cid)["+989121000001"]
        assert row.variables == {"code": "12"} and row.contact_metadata == {"crm": 7}
