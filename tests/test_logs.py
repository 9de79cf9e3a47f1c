"""Logs are JSON lines, carry the call's id, and never show a whole phone number."""

from __future__ import annotations

import json
import logging

from dispatcher.logs import JsonFormatter, call_context, mask_numbers


def test_phone_numbers_are_masked_but_ids_and_short_numbers_are_not() -> None:
    text = "dialling +989121231001 (09121231001) for call 3f2a-11 cause 16 port 5038"
    masked = mask_numbers(text)
    assert "9121231001" not in masked and "+98912" in masked and "001" not in masked[:40]
    assert "cause 16 port 5038" in masked and "3f2a-11" in masked


def test_a_log_line_is_json_with_the_call_id_from_the_context() -> None:
    record = logging.LogRecord("dispatcher.dialing", logging.INFO, __file__, 1,
                               "originating to %s", ("+989121231001",), None)
    with call_context("c0ffee"):
        line = json.loads(JsonFormatter().format(record))
    assert line["call_id"] == "c0ffee" and line["level"] == "INFO"
    assert "+989121231001" not in line["message"]
    outside = json.loads(JsonFormatter().format(record))
    assert "call_id" not in outside
