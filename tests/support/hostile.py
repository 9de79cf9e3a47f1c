"""Hostile client text, and how to see whether any of it reached the AMI socket: shared by the
injection tests of the call API and of campaigns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

MARK = "zqxjk"  # in every hostile metadata value: must never be seen on the AMI socket

# Text that means something to Asterisk's manager, dialplan, CallerID or Variable parsers.
HOSTILE: list[Any] = [
    "1\r\nAction: Command\r\nCommand: core stop now",
    "1\nAction: Command\nCommand: core stop now",  # Asterisk ends a line at a bare LF too
    "1\rAction: Command",
    "1\x00Action: Command",
    "1\r\n\r\nAction: Originate\r\nChannel: Local/666@evil\r\nContext: evil\r\n\r\n",
    "X\n",  # trailing LF: what a regex ending in `$` lets through with re.match
    "1\r\n",
    "a,b=c",  # Variable splits on commas
    "a;b", "a|b", "a&b",
    "/.*/",  # a regex channel name for Hangup/Status
    "Action: Command",
    "Context: evil",
    "Local/1@evil",
    "1" * 1100,  # longer than Asterisk's 1024-byte line buffer
    "x" * 1100,
    "\u0645\u0631\u062d\u0628\u0627",
    "\u06f0\u06f9\u06f1\u06f2\u06f1\u06f2\u06f3\u06f1\u06f0\u06f0\u06f1",  # Persian digits
    "caf\xe9",
    "\u2028\u2029\x85",  # Unicode line separators
    "\ud800",  # lone surrogate (valid in JSON text)
    '"name" <123>',
    "'single'",
    "back\\slash\\r\\n",
    "$(SHELL(rm -rf /))",
    "${SHELL(id)}",
    "${CALL_ID}",
    "\t\x0b\x0c",
    "",
    " ",
    None,
    True,
    12.5,
    ["09121231001"],
    {"Action": "Command"},
]

ORIGINATE_HEADERS = ["Action", "ActionID", "Channel", "Context", "Exten", "Priority", "Timeout",
                     "CallerID", "Variable", "ChannelId", "Async"]


def messages(data: bytes) -> list[AMIMessage]:
    return list(FrameDecoder(expect_banner=False).feed(data))


def assert_error_body(response: TestResponse) -> None:
    assert response.mimetype == "application/json", response.data
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"code", "message", "field"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
