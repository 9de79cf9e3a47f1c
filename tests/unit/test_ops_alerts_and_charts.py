"""The operations page's alerts say what is wrong in plain words; its charts are SVG drawn
from numbers, with every text escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatcher.domain.ops_alerts import TrunkHealth, alerts
from web.charts import lines_chart, outcomes_chart

NOW = datetime(2026, 6, 8, 7, 0, tzinfo=UTC)
HEALTHY = TrunkHealth("carrier", "connected", watched=True, paused=False, ended=20, failed=3,
                      last_outcome="busy")


def test_a_healthy_system_raises_nothing() -> None:
    assert alerts([HEALTHY], 3, NOW - timedelta(seconds=20), NOW) == []


def test_each_rule_names_the_trouble_and_its_place() -> None:
    blind = TrunkHealth("carrier", "disconnected", watched=False, paused=False)
    failing = TrunkHealth("backup", "connected", watched=True, paused=True, ended=6, failed=6,
                          last_outcome="congestion")
    found = alerts([blind, failing], 120, NOW - timedelta(minutes=7), NOW)
    texts = [(a.level, a.subject, a.text) for a in found]
    assert ("critical", "carrier", "No event consumer sees the PBX of trunk carrier: new calls "
            "wait until one does (check the events service and its AMI login).") in texts
    assert any(level == "critical" and subject == "backup"
               and text.startswith("All 6 calls on trunk backup in the last 10 minutes failed "
                                   "(the last: congestion)") for level, subject, text in texts)
    assert any(subject == "backup" and "paused by an operator" in text
               for _, subject, text in texts)
    assert any(subject == "callbacks" and text.startswith(
        "120 status callback(s) are waiting to be delivered; the oldest for 7 min")
        for _, subject, text in texts)


def test_a_few_failures_among_answers_are_not_a_failing_trunk() -> None:
    mixed = TrunkHealth("carrier", "connected", True, False, ended=4, failed=4)
    assert alerts([mixed], 0, None, NOW) == []  # too few to judge


def test_charts_are_svg_with_one_series_per_trunk_and_escaped_names() -> None:
    minutes = [NOW - timedelta(minutes=59 - i) for i in range(60)]
    svg = lines_chart(minutes, {"<b>x": [0] * 59 + [4], "carrier": [2] * 60},
                      {"<b>x": 10, "carrier": 30})
    assert svg.startswith('<svg id="lines-chart"') and svg.endswith("</svg>")
    assert svg.count('class="series"') == 2 and svg.count('class="capacity"') == 2
    assert "<b>" not in svg and "&lt;b&gt;x" in svg
    bars = outcomes_chart(minutes, {"answered": [1] * 60, "busy": [0] * 59 + [2]})
    assert bars.count('data-outcome="answered"') == 60 and bars.count('data-outcome="busy"') == 1
