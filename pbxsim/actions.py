"""AMI action handlers, with the replies and error texts of Asterisk 22's ``manager.c``.

Each handler takes the session and the parsed action and returns True when the session must be
closed afterwards (Logoff, failed Login), like the ``-1`` return of Asterisk's action functions.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections.abc import Awaitable, Callable

from dispatcher.adapters.ami.protocol import AMIMessage
from pbxsim.calls import Call
from pbxsim.dialplan import DialRequest
from pbxsim.session import AMISession
from pbxsim.wire import (
    EVENT_CLASSES,
    ast_true,
    event_mask,
    leading_int,
    parse_callerid,
    split_variables,
)

Handler = Callable[[AMISession, AMIMessage], Awaitable[bool]]
MAX_PUBLIC_UNIQUEID = 149  # AST_MAX_PUBLIC_UNIQUEID


def unknown_action(session: AMISession, m: AMIMessage, action: str) -> None:
    session.error(m, f"Invalid/unknown command: {action}. "
                     "Use Action: ListCommands to show available commands.")


def _authenticate(session: AMISession, m: AMIMessage) -> bool:
    users = {name.lower(): secret for name, secret in session.core.config.users.items()}
    username = m.get("Username") or ""
    secret = users.get(username.lower())
    if not username or secret is None:
        return False
    if (m.get("AuthType") or "").lower() == "md5":
        key = m.get("Key") or ""
        expected = hashlib.md5((session.challenge + secret).encode()).hexdigest()
        return bool(key and session.challenge) and key.lower() == expected
    return m.get("Secret") == secret


async def login(session: AMISession, m: AMIMessage) -> bool:
    if session.authenticated:
        session.ack(m, "Already authenticated")
        return False
    if not _authenticate(session, m):
        await asyncio.sleep(session.core.config.login_failure_delay)
        session.error(m, "Authentication failed")
        return True
    events = m.get("Events")
    if events:
        session.event_mask = event_mask(events)
    session.authenticated = True
    session.username = m.get("Username") or ""
    session.ack(m, "Authentication accepted")
    if session.event_mask & EVENT_CLASSES["system"]:
        core, now = session.core, time.time()
        session.send([("Event", "FullyBooted"), ("Privilege", "system,all"),
                      ("Uptime", str(int(now - core.start_time))),
                      ("LastReload", str(int(now - core.reload_time))),
                      ("Status", "Fully Booted")])
    return False


async def challenge(session: AMISession, m: AMIMessage) -> bool:
    if (m.get("AuthType") or "").lower() != "md5":
        session.error(m, "Must specify AuthType")
        return False
    if not session.challenge:
        session.challenge = str(random.randrange(1 << 31))
    session.respond(m, "Success", extra=[("Challenge", session.challenge)])
    return False


async def logoff(session: AMISession, m: AMIMessage) -> bool:
    session.respond(m, "Goodbye", "Thanks for all the fish.")
    return True


async def ping(session: AMISession, m: AMIMessage) -> bool:
    now = time.time()
    session.respond(m, "Success", extra=[("Ping", "Pong"),
                                         ("Timestamp", f"{int(now)}.{int(now % 1 * 1e6):06d}")])
    return False


async def events(session: AMISession, m: AMIMessage) -> bool:
    mask = m.get("EventMask") or ""
    if not mask.strip():
        session.error(m, "Invalid event mask")
        return False
    session.event_mask = event_mask(mask)
    session.respond(m, "Success", extra=[("Events", "On" if session.event_mask else "Off")])
    return False


async def originate(session: AMISession, m: AMIMessage) -> bool:
    core = session.core
    channel = m.get("Channel") or ""
    channel_id = m.get("ChannelId") or ""
    if channel_id:
        core.count_originate(channel_id)
    if (len(channel_id) > MAX_PUBLIC_UNIQUEID
            or len(m.get("OtherChannelId") or "") > MAX_PUBLIC_UNIQUEID):
        session.error(m, f"Uniqueid length exceeds maximum of {MAX_PUBLIC_UNIQUEID}")
        return False
    if not channel:
        session.error(m, "Channel not specified")
        return False
    app, context, exten = (m.get(h) or "" for h in ("Application", "Context", "Exten"))
    priority_text, timeout_text = m.get("Priority") or "", m.get("Timeout") or ""
    priority = leading_int(priority_text) if priority_text else 0
    if priority is None:
        session.error(m, "Invalid priority")
        return False
    timeout = leading_int(timeout_text) if timeout_text else 30000
    if timeout is None:
        session.error(m, "Invalid timeout")
        return False
    if "/" not in channel:
        session.error(m, "Invalid channel")
        return False
    plan = core.config.dialplan.get(context)
    if priority and (plan is None or not 0 < priority <= len(plan)):
        session.error(m, "Extension does not exist.")
        return False
    is_async = ast_true(m.get("Async"))
    if not is_async and not app and not priority:
        session.error(m, "Originate with 'Exten' requires 'Context' and 'Priority'")
        return False
    cid_name, cid_num = parse_callerid(m.get("CallerID") or "")
    req = DialRequest(channel=channel, action_id=m.get("ActionID") or "", context=context,
                      exten=exten, priority=priority, application=app,
                      data=m.get("Data") or "", timeout_ms=timeout, cid_name=cid_name,
                      cid_num=cid_num, variables=split_variables(m.get_all("Variable")),
                      channel_id=channel_id, account=m.get("Account") or "",
                      is_async=is_async)
    call = Call(core, req)
    core.spawn(call.run())
    if is_async:
        session.ack(m, "Originate successfully queued")
    elif await call.result:
        session.ack(m, "Originate successfully queued")
    else:
        session.error(m, "Originate failed")
    return False


async def hangup(session: AMISession, m: AMIMessage) -> bool:
    core = session.core
    target = m.get("Channel") or ""
    if not target:
        session.error(m, "No channel specified")
        return False
    cause_text = m.get("Cause") or ""
    cause = 0
    if cause_text:
        cause = int(cause_text) if cause_text.isdigit() and int(cause_text) <= 127 else 0
    if not target.startswith("/"):
        channel = core.find_channel(target)
        call = core.calls.get(channel.name) if channel else None
        if call is None:
            session.error(m, "No such channel")
            return False
        call.request_hangup(cause)
        session.ack(m, "Channel Hungup")
        return False
    if len(target) < 2 or not target.endswith("/"):
        session.error(m, "Regex format invalid, Channel param should be /regex/")
        return False
    try:
        pattern = re.compile(target[1:-1])
    except re.error:
        session.error(m, f"Regex compile failed on: {target}")
        return False
    session.respond(m, "Success", "Channels hung up will follow", list_flag="start")
    action_id = m.get("ActionID")
    matched = 0
    for channel in core.live():
        call = core.calls.get(channel.name)
        if call is None or not pattern.search(channel.name):
            continue
        call.request_hangup(cause)
        matched += 1
        session.send([("Event", "ChannelHungup"), ("Channel", channel.name)]
                     + ([("ActionID", action_id)] if action_id else []))
    _complete(session, m, "ChannelsHungupListComplete", matched)
    return False


def _complete(session: AMISession, m: AMIMessage, event: str, count: int,
              extra: list[tuple[str, str]] | None = None) -> None:
    """``astman_send_list_complete_start``/``_end``."""
    action_id = m.get("ActionID")
    session.send([("Event", event)] + ([("ActionID", action_id)] if action_id else [])
                 + [("EventList", "Complete"), ("ListItems", str(count))] + (extra or []))


async def coreshowchannels(session: AMISession, m: AMIMessage) -> bool:
    session.respond(m, "Success", "Channels will follow", list_flag="start")
    action_id = m.get("ActionID")
    channels = session.core.live()
    for channel in channels:
        session.send([("Event", "CoreShowChannel")]
                     + ([("ActionID", action_id)] if action_id else []) + channel.core_show())
    _complete(session, m, "CoreShowChannelsComplete", len(channels))
    return False


async def status(session: AMISession, m: AMIMessage) -> bool:
    name = m.get("Channel") or ""
    if name and name.lower() != "all":
        found = session.core.find_channel(name)
        if found is None:
            session.error(m, "No such channel")
            return False
        channels = [found]
    else:
        channels = session.core.live()
    wanted = [v.strip() for v in (m.get("Variables") or "").split(",") if v.strip()]
    all_vars = ast_true(m.get("AllVariables"))
    session.respond(m, "Success", "Channel status will follow", list_flag="start")
    action_id = m.get("ActionID")
    for channel in channels:
        session.send([("Event", "Status"), ("Privilege", "Call")]
                     + channel.status(wanted, all_vars)
                     + ([("ActionID", action_id)] if action_id else []))
    _complete(session, m, "StatusComplete", len(channels), [("Items", str(len(channels)))])
    return False


async def getvar(session: AMISession, m: AMIMessage) -> bool:
    variable = m.get("Variable") or ""
    if not variable:
        session.error(m, "No variable specified")
        return False
    name = m.get("Channel") or ""
    channel = session.core.find_channel(name) if name else None
    if name and channel is None:
        session.error(m, "No such channel")
        return False
    value = channel.get_var(variable) if channel else None
    session.respond(m, "Success", extra=[("Variable", variable), ("Value", value or "")])
    return False


async def setvar(session: AMISession, m: AMIMessage) -> bool:
    variable, name = m.get("Variable") or "", m.get("Channel") or ""
    if not variable:
        session.error(m, "No variable specified")
        return False
    channel = session.core.find_channel(name) if name else None
    if name and channel is None:
        session.error(m, "No such channel")
        return False
    if channel is not None:
        channel.set_var(variable, m.get("Value") or "")
    session.ack(m, "Variable Set")
    return False


async def corestatus(session: AMISession, m: AMIMessage) -> bool:
    core = session.core
    start, reload = time.localtime(core.start_time), time.localtime(core.reload_time)
    session.respond(m, "Success", extra=[
        ("CoreStartupDate", time.strftime("%Y-%m-%d", start)),
        ("CoreStartupTime", time.strftime("%H:%M:%S", start)),
        ("CoreReloadDate", time.strftime("%Y-%m-%d", reload)),
        ("CoreReloadTime", time.strftime("%H:%M:%S", reload)),
        ("CoreCurrentCalls", str(len(core.live())))])
    return False


async def listcommands(session: AMISession, m: AMIMessage) -> bool:
    session.respond(m, "Success", extra=[(name, "(simulated)") for name in sorted(NAMES)])
    return False


NAMES = ("Login", "Logoff", "Challenge", "Ping", "Events", "Originate", "Hangup",
         "CoreShowChannels", "Status", "Getvar", "Setvar", "CoreStatus", "ListCommands")
HANDLERS: dict[str, Handler] = {
    "login": login, "logoff": logoff, "challenge": challenge, "ping": ping, "events": events,
    "originate": originate, "hangup": hangup, "coreshowchannels": coreshowchannels,
    "status": status, "getvar": getvar, "setvar": setvar, "corestatus": corestatus,
    "listcommands": listcommands,
}
