"""One simulated PJSIP channel and the header blocks Asterisk derives from its snapshot.

Every channel event (Newchannel, Newstate, Hangup, CoreShowChannel, Status, ...) starts with
the same snapshot block, and CEL/Cdr records have their own fixed layouts; building them from
one object keeps header names and order identical to the real captures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from pbxsim.wire import STATE_DESC, escape_c, var_base

APP_DIAL = "AppDial2"
APP_DIAL_DATA = "(Outgoing Line)"
Headers = list[tuple[str, str]]


def _fmt_time(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else ""


def _hms(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass
class Channel:
    name: str
    uniqueid: str
    dial_string: str  # what followed "PJSIP/" in the Originate Channel header
    context: str
    account: str = ""
    exten: str = "s"
    priority: int = 1
    state: int = 0
    cid_num: str = ""
    cid_name: str = ""
    conn_num: str = ""
    conn_name: str = ""
    app: str = ""
    app_data: str = ""
    language: str = "en"
    created: float = field(default_factory=time.time)
    answered: float | None = None
    admitted: bool = True  # holds one of the trunk's lines
    variables: list[tuple[str, str]] = field(default_factory=list)

    @property
    def linkedid(self) -> str:
        return self.uniqueid

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def set_var(self, name: str, value: str) -> None:
        self.variables = [(n, v) for n, v in self.variables if n != name] + [(name, value)]

    def get_var(self, name: str) -> str | None:
        builtin = {"CHANNEL": self.name, "UNIQUEID": self.uniqueid, "CONTEXT": self.context,
                   "EXTEN": self.exten, "PRIORITY": str(self.priority),
                   "ACCOUNTCODE": self.account, "LANGUAGE": self.language}
        for stored, value in reversed(self.variables):
            if var_base(stored) == name:
                return value
        return builtin.get(name)

    def snapshot(self, prefix: str = "") -> Headers:
        """``ast_manager_build_channel_state_string_prefix``."""
        rows = [
            ("Channel", self.name), ("ChannelState", str(self.state)),
            ("ChannelStateDesc", self.state_desc),
            ("CallerIDNum", self.cid_num or "<unknown>"),
            ("CallerIDName", escape_c(self.cid_name) or "<unknown>"),
            ("ConnectedLineNum", self.conn_num or "<unknown>"),
            ("ConnectedLineName", escape_c(self.conn_name) or "<unknown>"),
            ("Language", self.language), ("AccountCode", self.account),
            ("Context", self.context), ("Exten", self.exten), ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid), ("Linkedid", self.linkedid),
        ]
        return [(prefix + key, value) for key, value in rows]

    def cel(self, event: str, *, app: str | None = None, data: str | None = None,
            extra: str = "", started: bool = True) -> Headers:
        """A ``cel_manager`` record; ``started=False`` is CHAN_START (no caller id, no app)."""
        num = self.cid_num if started else ""
        return [
            ("EventName", event), ("AccountCode", self.account), ("CallerIDnum", num),
            ("CallerIDname", self.cid_name if started else ""), ("CallerIDani", num),
            ("CallerIDrdnis", ""), ("CallerIDdnid", ""), ("Exten", self.exten),
            ("Context", self.context), ("Channel", self.name),
            ("Application", self.app if app is None else app),
            ("AppData", self.app_data if data is None else data),
            ("EventTime", _fmt_time(time.time())), ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", self.uniqueid), ("LinkedID", self.linkedid), ("Userfield", ""),
            ("Peer", ""), ("PeerAccount", ""), ("Extra", extra),
        ]

    @staticmethod
    def hangup_extra(cause: int, source: str) -> str:
        return json.dumps({"hangupcause": cause, "hangupsource": source, "dialstatus": ""},
                          separators=(",", ":"))

    def cdr(self, disposition: str, ended: float) -> dict[str, str]:
        """The ``cdr_manager`` record (field order of Event: Cdr)."""
        if self.cid_name and self.cid_num:
            callerid = f'"{self.cid_name}" <{self.cid_num}>'
        else:
            callerid = self.cid_name or self.cid_num
        billable = int(ended - self.answered) if self.answered else 0
        return {
            "AccountCode": self.account, "Source": self.cid_num, "Destination": self.exten,
            "DestinationContext": self.context, "CallerID": callerid, "Channel": self.name,
            "DestinationChannel": "", "LastApplication": self.app, "LastData": self.app_data,
            "StartTime": _fmt_time(self.created), "AnswerTime": _fmt_time(self.answered),
            "EndTime": _fmt_time(ended), "Duration": str(int(ended - self.created)),
            "BillableSeconds": str(max(0, billable)), "Disposition": disposition,
            "AMAFlags": "DOCUMENTATION", "UniqueID": self.uniqueid, "UserField": "",
        }

    def core_show(self) -> Headers:
        return self.snapshot() + [
            ("Application", self.app), ("ApplicationData", self.app_data),
            ("Duration", _hms(time.time() - self.created)), ("BridgeId", ""),
        ]

    def status(self, wanted: list[str], all_vars: bool) -> Headers:
        """The body of one ``Status`` list item (``action_status``)."""
        rows = self.snapshot() + [
            ("Type", "PJSIP"), ("DNID", ""),
            ("EffectiveConnectedLineNum", self.conn_num or "<unknown>"),
            ("EffectiveConnectedLineName", self.conn_name or "<unknown>"),
            ("TimeToHangup", "0"), ("BridgeID", ""), ("Application", self.app),
            ("Data", self.app_data),
            ("Nativeformats", "(ulaw)" if self.state == 6 else "(ulaw|alaw)"),
            ("Readformat", "ulaw"), ("Readtrans", ""), ("Writeformat", "ulaw"),
            ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"),
            ("Seconds", str(int(time.time() - self.created))),
        ]
        for name in wanted:
            rows.append(("Variable", f"{name}={self.get_var(name) or ''}"))
        if all_vars:
            rows.extend(("Variable", f"{n}={v}") for n, v in self.variables)
        return rows

    def summary(self) -> dict[str, object]:
        return {"channel": self.name, "uniqueid": self.uniqueid, "linkedid": self.linkedid,
                "state": self.state_desc, "dial_string": self.dial_string,
                "context": self.context, "application": self.app, "created": self.created,
                "answered": self.answered, "variables": dict(self.variables),
                "admitted": self.admitted}
