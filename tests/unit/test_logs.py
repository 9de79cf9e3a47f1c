"""Logs are JSON lines, carry the call's id, and never show a whole phone number."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from dispatcher.logs import JsonFormatter, RoutineTicks, call_context, mask_numbers


def test_phone_numbers_are_masked_but_ids_and_short_numbers_are_not() -> None:
    text = "dialling +989121231001 (09121231001) for call 3f2a-11 cause 16 port 5038"
    masked = mask_numbers(text)
    assert "9121231001" not in masked and "+98912" in masked and "001" not in masked[:40]
    assert "cause 16 port 5038" in masked and "3f2a-11" in masked


def test_a_log_line_is_json_with_the_call_id_from_the_context() -> None:
    record = logging.LogRecord("dispatcher.usecases.dial_call", logging.INFO, __file__, 1,
                               "originating to %s", ("+989121231001",), None)
    with call_context("c0ffee"):
        line = json.loads(JsonFormatter().format(record))
    assert line["call_id"] == "c0ffee" and line["level"] == "INFO"
    assert "+989121231001" not in line["message"]
    outside = json.loads(JsonFormatter().format(record))
    assert "call_id" not in outside


def _celery_line(logger: str, msg: str,
                 args: tuple[object, ...] | Mapping[str, object]) -> logging.LogRecord:
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, msg, None, None)
    record.args = args  # Celery passes a dict or a tuple
    return record


def test_an_idle_stack_prints_nothing_about_its_housekeeping_ticks() -> None:
    from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

    from dispatcher.adapters.tasknames import ORIGINATE_CALL, ROUTINE_TASKS, RUN_HOPPER

    ticks = RoutineTicks(ROUTINE_TASKS)
    logging.getLogger("celery.beat").setLevel(logging.INFO)
    routine = [
        _celery_line("celery.worker.strategy", LOG_RECEIVED, {"name": RUN_HOPPER, "id": "1"}),
        _celery_line("celery.app.trace", LOG_SUCCESS,
                     {"name": RUN_HOPPER, "id": "1", "runtime": 0.01, "return_value": None}),
        _celery_line("celery.beat", "Scheduler: Sending due task %s (%s)",
                     ("run-campaign-hopper", RUN_HOPPER)),
    ]
    assert [ticks.filter(r) for r in routine] == [False, False, False]
    about_a_call = _celery_line("celery.app.trace", LOG_SUCCESS,
                                {"name": ORIGINATE_CALL, "id": "2", "runtime": 0.1,
                                 "return_value": "dialed"})
    assert ticks.filter(about_a_call) and about_a_call.levelname == "INFO"


def test_the_ticks_show_as_debug_lines_when_debug_is_asked_for() -> None:
    from dispatcher.adapters.tasknames import ROUTINE_TASKS, RUN_HOPPER

    logging.getLogger("celery.beat.debugging").setLevel(logging.DEBUG)
    record = _celery_line("celery.beat.debugging", "Scheduler: Sending due task %s (%s)",
                          ("run-campaign-hopper", RUN_HOPPER))
    assert RoutineTicks(ROUTINE_TASKS).filter(record) and record.levelname == "DEBUG"
