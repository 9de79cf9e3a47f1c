"""How a campaign looks in a terminal: one line, a summary, or a live rich view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dispatcher.domain.campaign_activity import with_reason

if TYPE_CHECKING:
    from rich.console import RenderableType

FINAL = ("completed", "canceled")
CONTACT_STATES = ("pending", "dialing", "done", "skipped", "canceled")
CALL_STATUSES = ("queued", "initiated", "ringing", "in-progress", "completed", "busy",
                 "no-answer", "failed", "canceled")


def _counts(counts: dict[str, int] | None, order: Sequence[str], zeros: bool = False) -> str:
    counts = counts or {}
    names = [*order, *sorted(set(counts) - set(order))]
    shown = [f"{name} {counts.get(name, 0)}" for name in names
             if zeros and name in order or counts.get(name)]
    return ", ".join(shown) or "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes \
        else f"{secs}s"


def _figures(c: dict[str, Any]) -> dict[str, str]:
    contacts = c.get("contacts") or {}
    return {
        "progress": f"{100 * float(c.get('progress') or 0):.1f}% of {contacts.get('total', 0)}",
        "contacts": _counts({k: v for k, v in contacts.items() if k != "total"},
                            CONTACT_STATES, zeros=True),
        "calls": _counts(c.get("calls"), CALL_STATUSES),
        "outcomes": _counts(c.get("outcomes"), ()),
        "rate": f"{float(c.get('rate_per_minute') or 0):.1f}/min",
        "eta": "-" if c.get("status") in FINAL else _duration(c.get("eta_seconds")),
    }


def status_text(c: dict[str, Any]) -> str:
    """The status, and why it is not dialling when it is not (an older server sends no
    ``activity``)."""
    return with_reason(str(c.get("status")), (c.get("activity") or {}).get("reason"))


def summary_line(c: dict[str, Any]) -> str:
    f = _figures(c)
    return (f"{status_text(c)}  {f['progress']}  contacts: {f['contacts']}  calls: "
            f"{f['calls']}  outcomes: {f['outcomes']}  rate {f['rate']}  ETA {f['eta']}")


def summary(c: dict[str, Any]) -> str:
    head = f"campaign {c.get('id')}  {c.get('name', '')!r}  {status_text(c)}"
    return "\n".join([head, *(f"{k:<9} {v}" for k, v in _figures(c).items())])


def live_view(c: dict[str, Any]) -> RenderableType:
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    f = _figures(c)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=1.0, completed=float(c.get("progress") or 0), width=40),
                f["progress"])
    grid = Table.grid(padding=(0, 2))
    grid.add_row("[bold]campaign", f"{c.get('id')}  {c.get('name', '')}  "
                                   f"[bold]{status_text(c)}")
    grid.add_row("[bold]progress", bar)
    for key in ("contacts", "calls", "outcomes", "rate", "eta"):
        grid.add_row(f"[bold]{key}", f[key])
    return grid
