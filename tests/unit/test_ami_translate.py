"""Translating AMI events: ours are recognised by the attempt id they carry, and nothing a PBX
(or whoever speaks for it) writes into a header can make translation raise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.ami.translate import translate
from dispatcher.domain import events as ev

RECEIVED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def newstate(attempt: str, **extra: str) -> AMIMessage:
    return AMIMessage((("Event", "Newstate"), ("ChannelState", "5"), *extra.items(),
                       ("Uniqueid", attempt), ("Linkedid", attempt)))


def test_an_event_of_our_attempt_becomes_a_domain_event_at_the_pbx_time() -> None:
    attempt = uuid.uuid4()
    sent = RECEIVED - timedelta(milliseconds=750)
    got = translate(newstate(str(attempt), Timestamp=f"{sent.timestamp():.6f}"), RECEIVED)
    assert got is not None
    assert got.attempt_id == attempt
    assert got.event == ev.CallRinging(sent)


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", "1e300", "-1e20", "soon", ""])
def test_a_timestamp_that_is_not_a_time_falls_back_to_when_it_was_read(stamp: str) -> None:
    got = translate(newstate(str(uuid.uuid4()), Timestamp=stamp), RECEIVED)
    assert got is not None and got.at == RECEIVED


@pytest.mark.parametrize("linkedid", ["", "1764417600.42", "not-a-uuid", "{" + "0" * 32 + "}x"])
def test_events_without_one_of_our_ids_are_not_ours(linkedid: str) -> None:
    assert translate(newstate(linkedid), RECEIVED) is None
