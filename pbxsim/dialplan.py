"""What an Originate asks of the simulated PBX, and what its dialplan applications do: how long
each keeps the channel, and the sound a Playback streams (as CEL's STREAM_BEGIN reports it)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from pbxsim.wire import leading_int


@dataclass
class DialRequest:
    """The parts of an Originate action that shape the call."""

    channel: str
    action_id: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    timeout_ms: int = 30000
    cid_name: str = ""
    cid_num: str = ""
    variables: list[tuple[str, str]] = field(default_factory=list)
    channel_id: str = ""
    account: str = ""
    is_async: bool = True


def json_sound(data: str) -> str:
    return json.dumps({"sound": data.split(",")[0], "format": "slin", "language": "en"},
                      separators=(",", ":"))


def app_duration(app: str, data: str, originate_app: bool) -> float:
    """How long a dialplan application keeps the channel (unscaled seconds)."""
    name = app.lower()
    if name == "wait":
        seconds = leading_int(data.split(".")[0]) if data else None
        return float(seconds or 0)
    if name == "playback":
        return 1.0
    return math.inf if originate_app else 0.0
