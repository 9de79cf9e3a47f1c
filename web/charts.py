"""The operations page's charts, drawn on the server as SVG: no script library, nothing
fetched from the internet, and the same drawing for the first render and each refresh.

Every text that reaches the SVG is escaped; the numbers are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 640, 170, 34
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#dc2626")
OUTCOME_COLOURS = {"answered": "#16a34a", "busy": "#d97706", "no-answer": "#facc15",
                   "congestion": "#ea580c", "rejected": "#dc2626", "invalid-number": "#7c3aed",
                   "trunk-unreachable": "#b91c1c", "network-error": "#be123c",
                   "canceled": "#64748b", "failed": "#991b1b", "unresolved": "#0f172a"}


def _frame(chart_id: str, title: str, body: list[str], top: float,
           minutes: Sequence[datetime]) -> str:
    first = minutes[0].strftime("%H:%M") if minutes else ""
    last = minutes[-1].strftime("%H:%M UTC") if minutes else ""
    return "".join([
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 4}" '
        f'y2="{HEIGHT - PAD}" stroke="#94a3b8"/>',
        f'<text x="{PAD - 4}" y="14" text-anchor="end" font-size="11">{top:g}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="11">{first}</text>',
        f'<text x="{WIDTH - 4}" y="{HEIGHT - PAD + 14}" text-anchor="end" '
        f'font-size="11">{last}</text>',
        *body, "</svg>"])


def _x(i: int, n: int) -> float:
    return PAD + (WIDTH - PAD - 8) * (i / max(n - 1, 1))


def _y(value: float, top: float) -> float:
    return (HEIGHT - PAD) - (HEIGHT - PAD - 10) * (value / top if top else 0)


def lines_chart(minutes: Sequence[datetime], series: dict[str, list[int]],
                capacity: dict[str, int]) -> str:
    """Lines in use per trunk, minute by minute, under each trunk's line count (dashed)."""
    top = max([*capacity.values(), *(max(v, default=0) for v in series.values()), 1])
    body: list[str] = []
    legend_y = HEIGHT - 6
    for k, (trunk, values) in enumerate(sorted(series.items())):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{_x(i, len(values)):.1f},{_y(v, top):.1f}"
                          for i, v in enumerate(values))
        body.append(f'<polyline class="series" data-trunk="{escape(trunk)}" fill="none" '
                    f'stroke="{colour}" stroke-width="2" points="{points}"/>')
        if trunk in capacity:
            y = _y(capacity[trunk], top)
            body.append(f'<line class="capacity" data-trunk="{escape(trunk)}" x1="{PAD}" '
                        f'y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="{colour}" '
                        'stroke-dasharray="4 3"/>')
        body.append(f'<text class="legend" x="{PAD + 150 * k}" y="{legend_y}" font-size="11" '
                    f'fill="{colour}">{escape(trunk)} (of {capacity.get(trunk, "?")})</text>')
    return _frame("lines-chart", "Lines in use per trunk, last hour", body, top, minutes)


def outcomes_chart(minutes: Sequence[datetime], series: dict[str, list[int]]) -> str:
    """Calls that ended each minute, stacked by outcome."""
    n = len(minutes)
    totals = [sum(values[i] for values in series.values()) for i in range(n)]
    top = max([*totals, 1])
    width = max((WIDTH - PAD - 8) / max(n, 1) - 1, 1)
    body: list[str] = []
    base = [0] * n
    order = sorted(series, key=lambda o: list(OUTCOME_COLOURS).index(o)
                   if o in OUTCOME_COLOURS else 99)
    for outcome in order:
        colour = OUTCOME_COLOURS.get(outcome, "#475569")
        for i, count in enumerate(series[outcome]):
            if not count:
                continue
            y_top, y_bottom = _y(base[i] + count, top), _y(base[i], top)
            body.append(f'<rect class="bar" data-outcome="{escape(outcome)}" '
                        f'x="{PAD + i * (width + 1):.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                        f'height="{y_bottom - y_top:.1f}" fill="{colour}">'
                        f'<title>{escape(outcome)}: {count}</title></rect>')
            base[i] += count
    for k, outcome in enumerate(order):
        body.append(f'<text class="legend" x="{PAD + 95 * k}" y="{HEIGHT - 6}" font-size="11" '
                    f'fill="{OUTCOME_COLOURS.get(outcome, "#475569")}">'
                    f'{escape(outcome)} {sum(series[outcome])}</text>')
    return _frame("outcomes-chart", "Calls ended per minute by outcome, last hour", body, top,
                  minutes)
