"""Real Asterisk 22 PBXes on loopback for the ``asterisk`` test tier, and a PostgreSQL that
Asterisk's ``cdr_pgsql`` reaches over TCP with a password.

The Asterisk comes from one explicit setting, ``DISPATCHER_TEST_ASTERISK``: the path of the
relocatable bundle's ``.tar.gz`` or of an unpacked bundle folder (``bin/asterisk-run``). Nothing
here looks anywhere else for it. Two instances run side by side: the *dispatcher* PBX with
exactly what ``dispatcher asterisk render`` writes, and a *carrier* PBX built from what
``dispatcher asterisk remote-config`` prints, with the line group replaced by a test number plan.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SETTING = "DISPATCHER_TEST_ASTERISK"
BUNDLE_MARK = Path("bin") / "asterisk-run"


class AsteriskUnavailable(RuntimeError):
    """No Asterisk was handed to the tests (or it cannot run here): the tier is skipped."""


def bundle_from_setting(workdir: Path) -> Path:
    """The unpacked bundle named by ``DISPATCHER_TEST_ASTERISK`` (unpacked into ``workdir``
    when it is an archive), with its Debian libraries checked (installed when we are root)."""
    given = os.environ.get(SETTING, "").strip()
    if not given:
        raise AsteriskUnavailable(f"{SETTING} is not set (path to the Asterisk 22 bundle "
                                  "archive or folder)")
    path = Path(given).expanduser()
    if path.is_dir():
        bundle = path if (path / BUNDLE_MARK).exists() else _single_child(path)
    elif path.is_file():
        with tarfile.open(path) as archive:
            archive.extractall(workdir, filter="tar")
        bundle = _single_child(workdir)
    else:
        raise AsteriskUnavailable(f"{SETTING}={given}: no such file or folder")
    _check_deps(bundle)
    return bundle


def _single_child(folder: Path) -> Path:
    for child in sorted(folder.iterdir()):
        if (child / BUNDLE_MARK).exists():
            return child
    raise AsteriskUnavailable(f"no Asterisk bundle (bin/asterisk-run) in {folder}")


def _check_deps(bundle: Path) -> None:
    check = [str(bundle / "bin" / "check-deps")]
    if subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return
    if os.geteuid() == 0:
        done = subprocess.run([*check, "--install"], capture_output=True, text=True,
                              timeout=900)
        if done.returncode == 0:
            return
        raise AsteriskUnavailable(f"check-deps --install failed:\n{done.stdout[-2000:]}")
    raise AsteriskUnavailable("the Asterisk bundle's Debian libraries are missing "
                              f"(run {check[0]} --install as root)")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free for both TCP and UDP (SIP listens on both)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
            with socket.socket(socket.AF_INET, other) as second:
                try:
                    second.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port")


def rtp_range(size: int = 40) -> tuple[int, int]:
    """A block of free UDP ports for one PBX's media."""
    for _ in range(200):
        start = 20000 + 2 * secrets.randbelow(10000)
        socks = []
        try:
            for port in range(start, start + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free RTP range")


@dataclass
class Pbx:
    """One Asterisk instance: its configuration folder, run folder and log."""

    bundle: Path
    root: Path  # short: the control socket path must stay under 108 bytes
    name: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def run_dir(self) -> Path:
        return self.root / "r"

    @property
    def log(self) -> Path:
        return self.run_dir / "log" / "messages.log"

    def write(self) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(self.bundle / "bin" / "make-asterisk-conf"), str(self.etc),
                        str(self.run_dir)], check=True, capture_output=True, timeout=30)
        for name, text in self.files.items():
            (self.etc / name).write_text(text)
        if "logger.conf" not in self.files:
            (self.etc / "logger.conf").write_text(
                "[general]\n[logfiles]\nmessages.log => notice,warning,error\n")

    def start(self, timeout: float = 60) -> None:
        subprocess.run([str(self.bundle / "bin" / "asterisk-run"), str(self.etc)],
                       check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.cli("core waitfullybooted", check=False, timeout=10)
            if "fully booted" in done:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not boot:\n{self.tail()}")

    def cli(self, command: str, check: bool = True, timeout: float = 20) -> str:
        done = subprocess.run([str(self.bundle / "bin" / "asterisk-run"), str(self.etc),
                               "-rx", command], capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name}: {command!r} failed: {done.stderr}")
        return done.stdout

    def pid(self) -> int | None:
        path = self.run_dir / "run" / "asterisk.pid"
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 20) -> None:
        pid = self.pid()
        if pid is None:
            return
        self.cli("core stop now", check=False, timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, 9)

    def modules(self) -> dict[str, str]:
        """Module file -> status ("Running", "Not", "Declined"), as ``module show`` lists them."""
        found = {}
        for line in self.cli("module show", check=False).splitlines():
            words = line.split()
            if words and words[0].endswith(".so"):
                found[words[0]] = next(
                    (w for w in words if w in ("Running", "Not", "Declined")), "?")
        return found

    def errors(self) -> list[str]:
        return [line for line in self.tail(100_000).splitlines() if "ERROR[" in line]

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TcpPostgres:
    """PostgreSQL (the pgserver wheel's binaries) on 127.0.0.1 with password authentication,
    as a managed database is reached: Asterisk's cdr_pgsql needs a host, a port and a
    password, which the embedded Unix-socket server of the other tests does not offer."""

    SUPERUSER = "postgres"

    def __init__(self, root: Path) -> None:
        import pgserver

        self.bin = Path(pgserver.__file__).parent / "pginstall" / "bin"
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.user = "pgserver" if os.geteuid() == 0 else None

    def _run(self, *args: str | Path, timeout: float = 60) -> None:
        with tempfile.TemporaryFile() as out:
            done = subprocess.run([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT,
                                  user=self.user, timeout=timeout)
            out.seek(0)
            if done.returncode != 0:
                raise AssertionError(f"{args[0]} failed: {out.read().decode()[-2000:]}")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user:  # as root, the server runs as pgserver's own user (initdb refuses root)
            entry = pwd.getpwnam(self.user)
            for path in (self.root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(self.bin / "initdb", "-D", self.data, "-U", self.SUPERUSER,
                  "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                  "--encoding=utf8")
        pwfile.unlink()
        self._run(self.bin / "pg_ctl", "-D", self.data, "-w", "-l", self.root / "log",
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.root}", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")

    def url(self, database: str, user: str | None = None, password: str | None = None) -> str:
        return (f"postgresql://{user or self.SUPERUSER}:{password or self.password}"
                f"@127.0.0.1:{self.port}/{database}")

    def execute(self, database: str, *statements: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url(database))
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()


# --- the carrier's side -----------------------------------------------------------------------

#: The test number plan on the last four digits of an 11-digit national number, as the
#: simulator's carrier plan (pbxsim.config.CARRIER_PLAN).
CARRIER_LINES_CONTEXT = """
[carrier-lines]
; 1xxx: rings, answers after 1 s, talks 2 s, hangs up
exten => _XXXXXXX1XXX,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Playback(silence/2)
 same => n,Hangup(16)
; 2xxx: busy (486)
exten => _XXXXXXX2XXX,1,Busy(5)
; 3xxx: congestion (503)
exten => _XXXXXXX3XXX,1,Congestion(5)
; 4xxx: rings, never answers
exten => _XXXXXXX4XXX,1,Ringing()
 same => n,Wait(600)
; 5xxx: rings, answers after 1 s, stays up
exten => _XXXXXXX5XXX,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(600)
; 6xxx: rejected (403)
exten => _XXXXXXX6XXX,1,Hangup(21)
; 8xxx: rings, then no response (408)
exten => _XXXXXXX8XXX,1,Ringing()
 same => n,Wait(1)
 same => n,Hangup(18)
; 9xxx: no such number (404)
exten => _XXXXXXX9XXX,1,Hangup(1)
"""
LINE_GROUP = "Dial(DAHDI/g0/${EXTEN},60)"


def carrier_files(remote_config: str, *, sip_port: int, ami_port: int, rtp: tuple[int, int],
                  ami_secret: str, extra_pjsip: str = "") -> dict[str, str]:
    """The carrier PBX: the transport and AMI of its own, what ``remote-config`` printed for
    it, and the test number plan where the carrier's line group would be."""
    if LINE_GROUP not in remote_config:
        raise AssertionError("remote-config no longer dials the line group as expected")
    pjsip, _, dialplan = remote_config.partition("[from-dispatcher]")
    dialplan = "[from-dispatcher]" + dialplan.replace(LINE_GROUP, "Goto(carrier-lines,${EXTEN},1)")
    return {
        "modules.conf": "[modules]\nautoload = yes\nnoload => chan_iax2.so\n"
                        "noload => chan_unistim.so\nnoload => pbx_dundi.so\n"
                        "noload => cdr_pgsql.so\nnoload => res_config_pgsql.so\n"
                        "noload => res_hep.so\nnoload => res_prometheus.so\n",
        "pjsip.conf": "[transport-udp]\ntype = transport\nprotocol = udp\n"
                      f"bind = 127.0.0.1:{sip_port}\n\n" + pjsip + extra_pjsip,
        "extensions.conf": "[general]\nstatic = yes\n\n" + dialplan + CARRIER_LINES_CONTEXT
                           + "\n[carrier-calls-out]\nexten => _X.,1,Dial(PJSIP/${EXTEN}"
                             "@call-dispatcher,10)\n",
        "manager.conf": "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n"
                        f"port = {ami_port}\ntimestampevents = yes\n\n[carrier]\n"
                        f"secret = {ami_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
                        "permit = 127.0.0.1/255.255.255.255\nread = call,system\n"
                        "write = originate,call,reporting\n",
        "rtp.conf": f"[general]\nrtpstart = {rtp[0]}\nrtpend = {rtp[1]}\n",
        "cdr.conf": "[general]\nenable = no\n",
    }


def rendered_files(out: Path) -> dict[str, str]:
    """Every file ``dispatcher asterisk render`` wrote, as it wrote them (plus nothing)."""
    return {p.name: p.read_text() for p in sorted(out.iterdir()) if p.is_file()}


def short_root(prefix: str) -> Path:
    """A fresh folder with a short path (Asterisk's control socket lives below it)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)



def live_channels(pbx: Pbx, prefix: str = "PJSIP/") -> list[str]:
    """Channel names the PBX's own CLI lists now."""
    out = pbx.cli("core show channels concise", check=False)
    return [line.split("!")[0] for line in out.splitlines()
            if line.startswith(prefix)]
