"""Event consumer benchmark: how many AMI events per second reach PostgreSQL, and how fast.

A firehose AMI server on loopback (a separate process, like Asterisk) logs the consumer in and
then writes the full event stream of N answered calls (the events real Asterisk 22 sends for
one, as in the captures). The consumer (the real one, in this process) records them into
embedded PostgreSQL. Without ``--rate`` the stream is sent as fast as the socket takes it and
the figure is throughput (latency is then queueing); with ``--rate`` events are paced and
stamped as sent, which gives the event-to-row latency (send time to the row's insert time) at
that load. Asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from dispatcher.adapters.db.engine import make_engine, make_session_factory
from dispatcher.adapters.db.migrate import upgrade
from dispatcher.adapters.db.tables import CallRow, CampaignRow
from dispatcher.config import Settings
from dispatcher.devstack.embedded import EmbeddedPostgres
from workers.event_consumer import EventConsumer, tune_gc

CHANNEL = "PJSIP/carrier-trunk-{seq:08x}"
# (event, headers) of one answered call, as real Asterisk 22 sends them (CEL left out).
CALL = [
    ("Newchannel", "call,all", [("Channel", CHANNEL), ("ChannelState", "0"),
                                ("ChannelStateDesc", "Down"), ("CallerIDNum", "<unknown>"),
                                ("CallerIDName", "<unknown>"), ("Context", "from-carrier"),
                                ("Exten", "s"), ("Priority", "1")]),
    ("VarSet", "dialplan,all", [("Channel", CHANNEL), ("Variable", "CALL_ID"),
                                ("Value", "{call}")]),
    ("DialBegin", "call,all", [("DestChannel", CHANNEL), ("DestChannelState", "0"),
                               ("DialString", "09121231001@carrier-trunk")]),
    ("Newstate", "call,all", [("Channel", CHANNEL), ("ChannelState", "5"),
                              ("ChannelStateDesc", "Ringing")]),
    ("DialState", "call,all", [("DestChannel", CHANNEL), ("DialStatus", "RINGING")]),
    ("Newstate", "call,all", [("Channel", CHANNEL), ("ChannelState", "6"),
                              ("ChannelStateDesc", "Up")]),
    ("DialEnd", "call,all", [("DestChannel", CHANNEL), ("DialStatus", "ANSWER")]),
    ("Newexten", "dialplan,all", [("Channel", CHANNEL), ("Application", "Playback")]),
    ("HangupRequest", "call,all", [("Channel", CHANNEL), ("Cause", "16")]),
    ("SoftHangupRequest", "call,all", [("Channel", CHANNEL), ("Cause", "16")]),
    ("Hangup", "call,all", [("Channel", CHANNEL), ("Cause", "16"),
                            ("Cause-txt", "Normal Clearing")]),
]


def call_events(seq: int, attempt: str, call: str) -> bytes:
    out = []
    for name, privilege, headers in CALL:
        lines = [f"Event: {name}", f"Privilege: {privilege}", f"Timestamp: {time.time():.6f}"]
        dest = name.startswith("Dial")
        for key, value in headers:
            lines.append(f"{key}: {value.format(seq=seq, call=call)}")
        prefix = "Dest" if dest else ""
        lines += [f"{prefix}Uniqueid: {attempt}", f"{prefix}Linkedid: {attempt}"]
        out.append("\r\n".join(lines) + "\r\n\r\n")
    origin = (f"Event: OriginateResponse\r\nPrivilege: call,all\r\nTimestamp: {time.time():.6f}"
              f"\r\nActionID: {attempt}\r\nResponse: Success\r\nChannel: "
              f"{CHANNEL.format(seq=seq)}\r\nReason: 4\r\nUniqueid: {attempt}\r\n\r\n")
    out.insert(7, origin)
    return "".join(out).encode()


class Firehose:
    """Just enough AMI: banner, Login, Ping, an empty CoreShowChannels; then the stream."""

    def __init__(self, attempts: list[tuple[str, str]], rate: float = 0) -> None:
        self.attempts = attempts
        self.rate = rate  # events per second, or 0 for as fast as the socket takes them
        self.chunks = [] if rate else [call_events(seq, attempt, call)
                                       for seq, (attempt, call) in enumerate(attempts)]
        self.started = multiprocessing.Value("d", 0.0)  # when the first event was sent
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        # A process of its own, as Asterisk is: a thread here would take turns with the
        # consumer for the GIL and starve it of input.
        self.process = multiprocessing.get_context("fork").Process(target=self._serve,
                                                                   daemon=True)
        self.process.start()
        self.server.close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
        buffer = b""
        streaming = False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n\r\n", 1)
                headers = dict(line.split(": ", 1) for line in raw.decode().split("\r\n")
                               if ": " in line)
                action, aid = headers.get("Action", "").lower(), headers.get("ActionID", "")
                if action == "coreshowchannels":
                    conn.sendall(f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                                 f"Message: Channels will follow\r\n\r\nEvent: "
                                 f"CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: "
                                 f"Complete\r\nListItems: 0\r\n\r\n".encode())
                    if not streaming:
                        streaming = True
                        threading.Thread(target=self._stream, args=(conn,), daemon=True).start()
                else:
                    extra = "Ping: Pong\r\n" if action == "ping" else (
                        "Message: Authentication accepted\r\n")
                    conn.sendall(f"Response: Success\r\nActionID: {aid}\r\n{extra}\r\n".encode())
                    if action == "login":  # as Asterisk does, once it is up
                        conn.sendall(b"Event: FullyBooted\r\nPrivilege: system,all\r\n"
                                     b"Uptime: 100\r\nLastReload: 100\r\nStatus: Fully "
                                     b"Booted\r\n\r\n")

    def _stream(self, conn: socket.socket) -> None:
        self.started.value = time.monotonic()  # the same clock in every process (Linux)
        if not self.rate:
            # Built up front, so the stream goes at socket speed.
            for chunk in self.chunks:
                conn.sendall(chunk)
        else:
            start = time.monotonic()
            per_call = len(CALL) + 1
            for seq, (attempt, call) in enumerate(self.attempts):
                delay = start + seq * per_call / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                conn.sendall(call_events(seq, attempt, call))  # stamped as sent


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids(data_dir: Path) -> list[int]:
    """The embedded server's postmaster (found by its data directory) and its children."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = ((entry / "cmdline").read_bytes(),
                                          int((entry / "stat").read_text()
                                              .rsplit(")", 1)[1].split()[1]))
            except (OSError, IndexError, ValueError):
                continue
    roots = {pid for pid, (cmd, _) in stats.items()
             if b"postgres" in cmd and str(data_dir).encode() in cmd}
    return sorted(roots | {pid for pid, (_, ppid) in stats.items() if ppid in roots})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=0,
                        help="events per second to send (default: as fast as possible)")
    parser.add_argument("--campaign", action="store_true",
                        help="the calls belong to a campaign (each state change then also "
                             "moves the campaign's call counts)")
    args = parser.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    root = Path(tempfile.mkdtemp(prefix="dispatcher-consumer-bench-"))
    postgres = EmbeddedPostgres(root, database="bench")
    url = postgres.start()
    try:
        upgrade(url)
        sessions = make_session_factory(make_engine(url))
        attempts = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(args.calls)]
        now = datetime.now(tz=UTC)
        campaign_id = uuid.uuid4() if args.campaign else None
        with sessions.begin() as session:
            if campaign_id:
                session.add(CampaignRow(id=campaign_id, name="bench", trunk="carrier-trunk",
                                        max_lines=30, status="running"))
                session.flush()
            session.add_all(CallRow(id=uuid.UUID(call), to_number="+989121231001",
                                    dial_string="PJSIP/09121231001@carrier-trunk",
                                    ring_timeout=30, variables={}, status="initiated",
                                    attempt_id=uuid.UUID(attempt), claimed_at=now,
                                    created_at=now, campaign_id=campaign_id)
                            for attempt, call in attempts)
        hose = Firehose(attempts, args.rate)
        settings = replace(Settings(database_url=url), ami_port=hose.port, ami_secret="x",
                           reconcile_interval=3600)
        consumer = EventConsumer(settings, sessions, name="bench")
        tune_gc()  # as the consumer's main() does
        pg_pids = postgres_pids(root)
        cpu_before = {"consumer": sum(os.times()[:2]), "postgres": sum(map(cpu_seconds, pg_pids)),
                      "firehose": cpu_seconds(hose.process.pid)}
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        per_call = len(CALL) + 1
        total = args.calls * per_call
        deadline = time.monotonic() + 600
        with sessions() as session:
            while time.monotonic() < deadline:
                done = session.execute(text(
                    "SELECT count(*) FROM calls WHERE status = 'completed'")).scalar()
                session.commit()
                if done == args.calls:
                    break
                time.sleep(0.05)
            # From the first event sent to the last call written: connecting and logging in
            # are not part of the rate.
            elapsed = time.monotonic() - hose.started.value
            cpu_after = {"consumer": sum(os.times()[:2]),
                         "postgres": sum(map(cpu_seconds, postgres_pids(root))),
                         "firehose": cpu_seconds(hose.process.pid)}
            lat = [row[0] * 1000 for row in session.execute(text(
                "SELECT extract(epoch FROM received_at - event_at) FROM call_events"))]
        consumer.stop.set()
        thread.join(10)
        hose.stop()
        lat.sort()
        pick = lambda q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))]  # noqa: E731
        print(f"{args.calls} calls, {total} AMI events ({len(lat)} recorded rows) in "
              f"{elapsed:.1f} s = {total / elapsed:.0f} events/s into PostgreSQL")
        print(f"event-to-row latency: p50 {pick(50):.0f} ms, p95 {pick(95):.0f} ms, "
              f"p99 {pick(99):.0f} ms, max {lat[-1]:.0f} ms")
        print("CPU per event: " + ", ".join(
            f"{name} {(cpu_after[name] - cpu_before[name]) / total * 1e6:.0f} us"
            for name in cpu_before) + f" (wall {elapsed / total * 1e6:.0f} us)")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
              + ("; the calls were a campaign's" if args.campaign else ""))
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
