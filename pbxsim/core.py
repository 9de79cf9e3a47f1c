"""Shared state of one simulated Asterisk: channels, sessions, event fan-out, test oracles.

Everything here runs on the simulator's event-loop thread, except the read accessors used by
:class:`~pbxsim.server.PBXSimulator`, which take :attr:`PBXCore.lock`. Events are
rendered once and handed to every session, which applies its own event mask, as
``__manager_event_sessions_va`` does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pbxsim.channel import Channel, Headers
from pbxsim.config import OutcomePicker, SimConfig
from pbxsim.wire import EVENT_CLASSES, render

if TYPE_CHECKING:
    from pbxsim.calls import Call
    from pbxsim.session import AMISession

log = logging.getLogger("pbxsim")

_REDACT = {"secret", "key", "password"}


class PBXCore:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.picker = OutcomePicker(config)
        self.sessions: set[AMISession] = set()
        self.channels: dict[str, Channel] = {}  # live channels by name, creation order
        self.calls: dict[str, Call] = {}  # by channel name
        self.tasks: set[asyncio.Task[Any]] = set()
        self.originates: Counter[str] = Counter()
        # bounded so a long-running dev simulator does not grow without limit
        self.action_log: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.cdr_log: deque[dict[str, str]] = deque(maxlen=config.log_limit)
        self.max_live = 0
        self.silent = False
        self.trunk_reachable = True
        self.device_state = "NOT_INUSE"
        self._disabled = {e.lower() for e in config.disabled_events}
        self.boot()

    # -- lifecycle ---------------------------------------------------------------------------
    def boot(self) -> None:
        """(Re)start: new startup time, counters back to zero as in a fresh Asterisk."""
        with self.lock:
            self.start_time = self.reload_time = time.time()
            self._chan_seq = 0
            self._uniq_seq = 0
            self.device_state = "NOT_INUSE"

    async def vanish_calls(self) -> None:
        """Drop every call and channel without a single event (the process died)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        with self.lock:
            self.channels.clear()
            self.calls.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- events ------------------------------------------------------------------------------
    def emit(self, event: str, category: str, headers: Headers) -> None:
        if event.lower() in self._disabled:
            return
        items: Headers = [("Event", event), ("Privilege", f"{category},all")]
        if self.config.timestamp_events:
            now = time.time()
            items.append(("Timestamp", f"{int(now)}.{int(now % 1 * 1_000_000):06d}"))
        data = render(items + headers)
        bit = EVENT_CLASSES[category]
        for session in list(self.sessions):
            session.deliver_event(bit, data)

    def update_device_state(self) -> None:
        """Aggregate state of the trunk endpoint; a DeviceStateChange only when it changes."""
        with self.lock:
            states = {c.state for c in self.channels.values()}
        if 6 in states:
            state = "RINGINUSE" if 5 in states else "INUSE"
        elif 5 in states:
            state = "RINGING"
        elif states or self.trunk_reachable:  # a Down channel counts as NOT_INUSE
            state = "NOT_INUSE"
        else:
            state = "UNAVAILABLE"
        if state != self.device_state:
            self.device_state = state
            self.emit("DeviceStateChange", "call",
                      [("Device", f"PJSIP/{self.config.trunk}"), ("State", state)])

    # -- channels ----------------------------------------------------------------------------
    def new_channel(self, dial_string: str, uniqueid: str | None, account: str,
                    call: Call) -> Channel:
        """Allocate, admit against the line limit and register a live channel."""
        with self.lock:
            name = f"PJSIP/{self.config.trunk}-{self._chan_seq:08x}"
            self._chan_seq += 1
            if not uniqueid:
                uniqueid = f"{int(time.time())}.{self._uniq_seq}"
            self._uniq_seq += 1
            channel = Channel(name=name, uniqueid=uniqueid, dial_string=dial_string,
                              context=self.config.endpoint_context, account=account)
            lines_used = sum(1 for c in self.channels.values() if c.admitted)
            channel.admitted = lines_used < self.config.lines
            self.channels[name] = channel
            self.calls[name] = call
            if channel.admitted:
                self.max_live = max(self.max_live, lines_used + 1)
            return channel

    def remove_channel(self, channel: Channel) -> None:
        with self.lock:
            self.channels.pop(channel.name, None)
            self.calls.pop(channel.name, None)

    def find_channel(self, name_or_uid: str) -> Channel | None:
        """``ast_channel_get_by_name``: a channel name or a uniqueid, case-insensitively."""
        wanted = name_or_uid.lower()
        with self.lock:
            for channel in self.channels.values():
                if channel.name.lower() == wanted:
                    return channel
            for channel in self.channels.values():
                if channel.uniqueid.lower() == wanted:
                    return channel
        return None

    def uniqueid_in_use(self, uniqueid: str) -> bool:
        with self.lock:
            return any(c.uniqueid == uniqueid for c in self.channels.values())

    def live(self) -> list[Channel]:
        with self.lock:
            return list(self.channels.values())

    # -- oracles -----------------------------------------------------------------------------
    def record_action(self, session_id: int, username: str, items: Headers) -> None:
        """Log entry: the headers (first occurrence wins, secrets redacted) plus ``_session``,
        ``_username``, ``_time`` and ``_items`` (every header, in order)."""
        clean = [(k, "REDACTED" if k.lower() in _REDACT else v) for k, v in items]
        entry: dict[str, Any] = {}
        for key, value in clean:
            entry.setdefault(key, value)
        entry.update(_session=session_id, _username=username, _time=time.time(), _items=clean)
        with self.lock:
            self.action_log.append(entry)

    def count_originate(self, channel_id: str) -> None:
        with self.lock:
            self.originates[channel_id] += 1

    def record_cdr(self, record: dict[str, str], hangup_cause: int | None = None,
                   exact: tuple[float | None, float] | None = None) -> None:
        """Emit the Cdr event and hand the record to the sink. The sink also gets the hangup
        cause, as a ``CDR(hangupcause)`` variable set by a hangup handler would give
        cdr_pgsql, and the exact answer and end times (epoch), as cdr_pgsql writes them into
        ``float`` columns; the AMI event stays exactly as Asterisk sends it."""
        with self.lock:
            self.cdr_log.append(record)
        if self.config.cdr_events:
            self.emit("Cdr", "cdr", list(record.items()))
        if self.config.cdr_sink is not None:
            extra = {} if hangup_cause is None else {"hangupcause": str(hangup_cause)}
            if exact is not None:
                answered, ended = exact
                extra.update(end_epoch=repr(ended),
                             answer_epoch=repr(answered) if answered else "")
            try:
                self.config.cdr_sink({**record, **extra})
            except Exception:  # a broken sink must not break the PBX
                log.exception("pbxsim cdr_sink failed")
