"""A campaign as the API and its lifecycle callbacks show it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.usecases.call_json import iso

if TYPE_CHECKING:
    from dispatcher.usecases.campaigns import CampaignView


def campaign_json(v: CampaignView) -> dict[str, Any]:
    r = v.row
    return {
        "id": str(r.id), "name": r.name, "status": r.status, "trunk": r.trunk,
        "caller_id": r.caller_id, "max_lines": r.max_lines, "cps": r.cps,
        "timeout": r.ring_timeout, "priority": r.priority, "target": r.target,
        "variables": r.variables, "retry": r.retry, "windows": r.windows,
        "timezone": r.timezone, "dnc_lists": r.dnc_lists,
        "status_callback": r.status_callback,
        "status_callback_event": r.callback_events.split(),
        "created_by": str(r.api_key_id) if r.api_key_id else None,
        "created_at": iso(r.created_at), "started_at": iso(r.started_at),
        "paused_at": iso(r.paused_at), "ended_at": iso(r.ended_at),
        "contacts": {"total": v.total, **v.contacts}, "calls": v.calls, "outcomes": v.outcomes,
        "progress": v.progress, "rate_per_minute": v.rate_per_minute,
        "eta_seconds": v.eta_seconds,
        "activity": {"state": v.activity.state, "reason": v.activity.reason,
                     "until": iso(v.activity.until)},
    }
