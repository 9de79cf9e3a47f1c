"""The scripted AMI peer of tests/support/fake_ami.py checks itself, so a broken fixture is
not mistaken for a broken client."""

from __future__ import annotations

import socket

from dispatcher.adapters.ami.protocol import AMIMessage, FrameDecoder
from tests.support.fake_ami import FakeAMI


def test_peer_speaks_minimal_ami() -> None:
    peer = FakeAMI().start()
    try:
        with socket.create_connection(("127.0.0.1", peer.port), timeout=2) as s:
            s.sendall(b"Action: Login\r\nActionID: a1\r\nUsername: u\r\nSecret: s\r\n"
                      b"Events: off\r\n\r\nAction: Ping\r\nActionID: a2\r\n\r\n")
            decoder = FrameDecoder()
            got: list[AMIMessage] = []
            while len(got) < 2:
                got += list(decoder.feed(s.recv(4096)))
        assert decoder.banner == "Asterisk Call Manager/11.0.0"
        assert [(m.get("Response"), m.get("ActionID")) for m in got] == [
            ("Success", "a1"), ("Success", "a2")]
        assert [m.get("Action") for m in peer.actions()] == ["Login", "Ping"]
    finally:
        peer.stop()


def test_peer_rejects_bad_login_and_closes() -> None:
    peer = FakeAMI().start()
    try:
        with socket.create_connection(("127.0.0.1", peer.port), timeout=2) as s:
            s.sendall(b"Action: Login\r\nActionID: a1\r\nUsername: u\r\nSecret: no\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert b"Authentication failed" in data
    finally:
        peer.stop()
