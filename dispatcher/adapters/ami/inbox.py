"""Sorting what arrives on one AMI connection: the reply an action waits for, the items of a
list it asked for, ``FullyBooted`` at login, and the events, in order.

AMI interleaves all of them on one stream and ties replies to actions only by ActionID (see
``docs/ami-notes.md#actionid``). What belongs to an action we stopped waiting for
is dropped here rather than mistaken for another action's reply or kept as an event.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque

from dispatcher.adapters.ami.protocol import AMIMessage

log = logging.getLogger(__name__)

_ABANDONED_KEEP = 1024


class Inbox:
    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.events: deque[AMIMessage] = deque()
        self.overflow = False  # more than max_events unread: the connection must go
        self.capture_boot = False
        self.boot_event: AMIMessage | None = None
        self._awaiting: set[str] = set()
        self._replies: dict[str, AMIMessage] = {}
        self._lists: dict[str, list[AMIMessage]] = {}
        self._abandoned: OrderedDict[str, None] = OrderedDict()

    def expect(self, action_id: str) -> None:
        """An action with this ActionID is about to be written."""
        self._awaiting.add(action_id)

    def expect_list(self, action_id: str) -> list[AMIMessage]:
        """As :meth:`expect`, for an EventList action: its item events gather in the list
        returned (the last one is the ``...Complete`` event)."""
        self.expect(action_id)
        items: list[AMIMessage] = []
        self._lists[action_id] = items
        return items

    def reply(self, action_id: str) -> AMIMessage | None:
        return self._replies.get(action_id)

    def done(self, action_id: str) -> None:
        """The action got what it waited for, or gave up: stop sorting for it."""
        self._awaiting.discard(action_id)
        self._replies.pop(action_id, None)
        self._lists.pop(action_id, None)

    def abandon(self, action_id: str) -> None:
        """Remember an ActionID we stopped waiting for, so its late reply and list items are
        dropped."""
        self._abandoned[action_id] = None
        while len(self._abandoned) > _ABANDONED_KEEP:
            self._abandoned.popitem(last=False)

    def put(self, message: AMIMessage) -> None:
        action_id = message.headers.get("actionid")
        if message.kind == "response":
            if action_id in self._awaiting:
                self._replies.setdefault(action_id, message)
            elif action_id not in self._abandoned:
                log.debug("dropping unsolicited AMI response %r", message.as_dict())
            return
        if message.kind != "event":
            log.debug("dropping AMI message of unknown kind %r", message.kind)
            return
        if action_id is not None and action_id in self._lists:
            self._lists[action_id].append(message)
        elif action_id is not None and action_id in self._abandoned:
            return
        elif self.capture_boot and message.name == "FullyBooted" and self.boot_event is None:
            self.boot_event = message
        else:
            self.events.append(message)
            if len(self.events) > self.max_events:
                self.overflow = True
