"""The life of one originated call, event by event, as the shared Asterisk 22 captures show it.

A call is a coroutine on the simulator loop: allocate the channel (or refuse, as chan_pjsip
does for an unknown endpoint, an unreachable trunk or a live duplicate ChannelId), ring, answer,
run the dialplan, and end through one of the :mod:`~pbxsim.endings`. AMI Hangup and
the Originate Timeout interrupt whatever step the call is in.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from typing import TYPE_CHECKING

from pbxsim.channel import APP_DIAL, APP_DIAL_DATA, Channel, Headers
from pbxsim.config import ANSWER, CONGESTION, NO_ANSWER, TIMEOUT_408, UNREACHABLE, CallShape
from pbxsim.dialplan import DialRequest, app_duration, json_sound
from pbxsim.endings import (
    AMI_ANSWERED,
    AMI_UNANSWERED,
    ANSWER_ORDER,
    CDR,
    CEL_END,
    CEL_H,
    CEL_LINK,
    DIALEND,
    DIALPLAN_DONE,
    FAR_END_FAILURES,
    HANGUP,
    HR,
    ORIG,
    QOS,
    QOS_VARS,
    REMOTE_BYE,
    REMOTE_BYE_APP,
    RING_TIMEOUT,
    SOFT,
    Ending,
)
from pbxsim.wire import cause_text, escape_c

if TYPE_CHECKING:
    from pbxsim.core import PBXCore

log = logging.getLogger("pbxsim")


class Call:
    def __init__(self, core: PBXCore, req: DialRequest) -> None:
        self.core = core
        self.req = req
        tech, _, self.dial_string = req.channel.partition("/")
        number, at, endpoint = self.dial_string.partition("@")
        self.tech = tech.upper()
        self.endpoint = (endpoint if at else number).split("/")[0]
        self.number = number if at else ""
        shaper = core.config.call_shape
        shape = (shaper(self.number) if shaper else None) or CallShape()
        self.outcome = shape.outcome or core.picker.pick(self.number)
        self.ring_time = shape.ring_time  # None: answer_delay, or no-answer until the Timeout
        self.talk_time = core.config.talk_time if shape.talk_time is None else shape.talk_time
        self.result: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.channel: Channel | None = None
        self._hangup = asyncio.Event()
        self._cause = 16
        self._settled = self._ended = False

    # -- public ------------------------------------------------------------------------------
    def request_hangup(self, cause: int) -> None:
        """AMI ``Hangup``: takes effect on the call's next step, after the action's reply."""
        if not self._ended:
            self._cause = cause or 16
            self._hangup.set()

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pbxsim call %s failed", self.req.channel)
            self._settle(False, 0)

    # -- lifecycle ---------------------------------------------------------------------------
    async def _run(self) -> None:
        await asyncio.sleep(0)
        cfg, core = self.core.config, self.core
        if (self.tech != "PJSIP" or self.endpoint != cfg.trunk or not core.trunk_reachable
                or self.outcome == UNREACHABLE
                or (self.req.channel_id and core.uniqueid_in_use(self.req.channel_id))):
            self._settle(False, 0)  # no channel: chan_pjsip refused to create one
            return
        ch = self.channel = core.new_channel(self.dial_string, self.req.channel_id,
                                             self.req.account, self)
        outcome = self.outcome if ch.admitted else CONGESTION
        self._setup(ch)
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + cfg.scaled(self.req.timeout_ms / 1000)
        if outcome in FAR_END_FAILURES:
            delay = cfg.timeout_408 if outcome == TIMEOUT_408 else cfg.ring_delay
            if not await self._unanswered_wait(delay):
                self._end(FAR_END_FAILURES[outcome])
            return
        if await self._unanswered_wait(cfg.ring_delay):
            return
        ch.state = 5
        self._chan_event("Newstate")
        self._dial_event("DialState", "RINGING")
        core.update_device_state()
        if self.ring_time is not None:
            ring = self.ring_time
        else:
            ring = math.inf if outcome == NO_ANSWER else cfg.answer_delay
        if await self._unanswered_wait(ring):
            return
        if outcome == NO_ANSWER:  # its shape stopped the ringing before the Originate Timeout
            self._end(RING_TIMEOUT)
            return
        self._answer(outcome)
        await self._connected(outcome)

    async def _wait(self, delay: float, deadline: float) -> str | None:
        """Sleep ``delay`` (unscaled); returns "ami" on AMI Hangup, "deadline" if the
        (absolute, loop-time) deadline comes first, None when the delay elapsed."""
        if self._hangup.is_set():
            return "ami"
        loop = asyncio.get_running_loop()
        end = loop.time() + self.core.config.scaled(delay) if delay != math.inf else math.inf
        limit = min(end, deadline)
        try:
            timeout = None if limit == math.inf else max(0.0, limit - loop.time())
            await asyncio.wait_for(self._hangup.wait(), timeout)
            return "ami"
        except TimeoutError:
            return "deadline" if deadline <= end else None

    async def _unanswered_wait(self, delay: float) -> bool:
        """True if the call ended while waiting (AMI Hangup or Originate Timeout)."""
        kind = await self._wait(delay, self._deadline)
        if kind == "ami":
            self._end(AMI_UNANSWERED, self._cause)
        elif kind == "deadline":
            self._end(RING_TIMEOUT)
        return kind is not None

    def _setup(self, ch: Channel) -> None:
        if self.core.config.cel_events:
            self.core.emit("CEL", "call", ch.cel("CHAN_START", app="", data="", started=False))
        self._chan_event("Newchannel")
        ch.app, ch.app_data = APP_DIAL, APP_DIAL_DATA
        self._chan_event("Newexten", [("Extension", ch.exten), ("Application", ch.app),
                                      ("AppData", ch.app_data)], "dialplan")
        for name, value in self.req.variables:
            self._set_var(name, value)
        if self.req.cid_num or self.req.cid_name:
            ch.cid_num, ch.cid_name = self.req.cid_num, self.req.cid_name
            self._chan_event("NewCallerid",
                             [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])
            ch.conn_num, ch.conn_name = ch.cid_num, ch.cid_name
            self._chan_event("NewConnectedLine")
        self.core.emit("DialBegin", "call", ch.snapshot("Dest") +
                       [("DialString", self.dial_string)])

    def _answer(self, outcome: str) -> None:
        ch = self._ch
        for step in ANSWER_ORDER["app" if self.req.application else outcome]:
            if step == "Up":
                ch.state, ch.answered = 6, time.time()
                self._chan_event("Newstate")
            elif step == DIALEND:
                self._dial_event(DIALEND, "ANSWER")
            elif step == "CEL_ANSWER":
                self._cel("ANSWER")
            elif step == "DSC":
                self.core.update_device_state()
            else:
                self._settle(True, 4)

    async def _connected(self, outcome: str) -> None:
        cfg, ch, req = self.core.config, self._ch, self.req
        limit = self.talk_time if outcome == ANSWER else cfg.hold_max
        bye_at = asyncio.get_running_loop().time() + cfg.scaled(limit)
        if req.application:
            steps = [(req.application, req.data)]
        else:
            ch.context, ch.exten = req.context, req.exten or "s"
            plan = list(cfg.dialplan.get(req.context, []))
            steps = plan[max(0, req.priority - 1):]
        for index, (app, data) in enumerate(steps):
            data = re.sub(r"\$\{([^}]*)\}", lambda m: ch.get_var(m.group(1)) or "", data)
            ch.app, ch.app_data = app, data
            if not req.application:
                ch.priority = max(1, req.priority) + index
                self._chan_event("Newexten", [("Extension", ch.exten), ("Application", app),
                                              ("AppData", data)], "dialplan")
            if app.lower() == "hangup":
                break
            if app.lower() == "set" and "=" in data:
                self._set_var(*data.split("=", 1))
            if app.lower() == "playback":
                self._cel("STREAM_BEGIN", app=app, data=data, extra=json_sound(data))
            duration = app_duration(app, data, bool(req.application))
            kind = await self._wait(duration, bye_at) if duration else None
            if kind == "ami":
                return self._end(AMI_ANSWERED, self._cause)
            if kind == "deadline":
                return self._end(REMOTE_BYE_APP if req.application else REMOTE_BYE)
            if app.lower() == "playback":
                self._cel("STREAM_END", app=app, data=data)
                self._set_var("PLAYBACKSTATUS", "SUCCESS")
        self._end(DIALPLAN_DONE)

    def _end(self, ending: Ending, cause: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        ch, core = self._ch, self.core
        cause = ending.cause if cause is None else cause
        tech = [("TechCause", str(ending.tech_cause))] if ending.tech_cause else []
        source = ch.name if ending.far_end else ""
        for step in ending.steps:
            if step in (HR, SOFT):
                self._chan_event(step, [("Cause", str(cause))] + (tech if step == HR else []))
            elif step == DIALEND:
                self._dial_event(DIALEND, ending.dial_status or "NOANSWER")
            elif step == ORIG:
                self._settle(False, ending.reason)
            elif step == HANGUP:
                # Asterisk unlinks a channel from its container before its final snapshot
                # (the Hangup event) goes out: a client that reads the Hangup and then lists
                # the channels must not find it there.
                core.remove_channel(ch)
                self._chan_event(HANGUP, [("Cause", str(cause)),
                                          ("Cause-txt", cause_text(cause))] + tech)
                core.update_device_state()
            elif step == CDR:
                ended = time.time()
                core.record_cdr(ch.cdr(ending.disposition, ended), hangup_cause=cause,
                                exact=(ch.answered, ended))
            elif step == CEL_H:
                self._cel("HANGUP", extra=Channel.hangup_extra(cause, source))
            elif step in (CEL_END, CEL_LINK):
                self._cel(step[4:])
            elif step == QOS:
                for name, value in QOS_VARS:
                    self._set_var(name, value.format(ssrc=hash(ch.name) & 0x7FFFFFFF,
                                                     them=hash(ch.uniqueid) & 0x7FFFFFFF))
        self._settle(False, 0)

    # -- event helpers -----------------------------------------------------------------------
    @property
    def _ch(self) -> Channel:
        assert self.channel is not None
        return self.channel

    def _chan_event(self, event: str, extra: Headers | None = None, cat: str = "call") -> None:
        self.core.emit(event, cat, self._ch.snapshot() + (extra or []))

    def _dial_event(self, event: str, status: str) -> None:
        self.core.emit(event, "call", self._ch.snapshot("Dest") + [("DialStatus", status)])

    def _set_var(self, name: str, value: str) -> None:
        self._ch.set_var(name, value)
        self._chan_event("VarSet", [("Variable", name), ("Value", escape_c(value))], "dialplan")

    def _cel(self, event: str, app: str = APP_DIAL, data: str = APP_DIAL_DATA,
             extra: str = "") -> None:
        if self.core.config.cel_events:
            self.core.emit("CEL", "call", self._ch.cel(event, app=app, data=data, extra=extra))

    def _settle(self, success: bool, reason: int) -> None:
        """Report the Originate outcome once: OriginateResponse (async) or the reply (sync)."""
        if self._settled:
            return
        self._settled = True
        req, ch = self.req, self.channel
        if req.is_async:
            where = ([("Application", req.application), ("Data", req.data)] if req.application
                     else [("Context", req.context), ("Exten", req.exten)])
            head = [("ActionID", req.action_id)] if req.action_id else []
            self.core.emit(ORIG, "call", head + [
                ("Response", "Success" if success else "Failure"),
                ("Channel", ch.name if success and ch else req.channel)] + where + [
                ("Reason", str(reason)),
                ("Uniqueid", ch.uniqueid if success and ch else req.channel_id or "<unknown>"),
                ("CallerIDNum", req.cid_num or "<unknown>"),
                ("CallerIDName", req.cid_name or "<unknown>")])
        if not self.result.done():
            self.result.set_result(success)
