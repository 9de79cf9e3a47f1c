"""The rendered configuration on a real Asterisk 22: it boots quietly and dials out.

``tests/test_asterisk_conf.py`` checks the rendered files without Asterisk; only Asterisk
itself can say that ``autoload = no`` loads everything the trunk and the dialplan need, that no
module or core piece logs an ERROR at start-up (an ERROR must mean something is wrong, or the
real one is lost among dozens), and that the dialplan reads its safety settings from globals
a call's own variables cannot shadow.

The Asterisk is the relocatable bundle named by ``DISPATCHER_TEST_ASTERISK`` (its ``.tar.gz`` or
its unpacked folder); without it every test here is skipped. Each test runs our Asterisk with
exactly what ``dispatcher asterisk render`` writes, and a carrier Asterisk built from what
``dispatcher asterisk remote-config`` prints (the line group replaced by an answering
extension), both on 127.0.0.1 ports picked at random.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dispatcher.asterisk import cli, confparse

SETTING = "DISPATCHER_TEST_ASTERISK"
RUNNER = Path("bin") / "asterisk-run"
LINE_GROUP = "Dial(DAHDI/g0/${EXTEN},60)"
CALLER_ID = "+982191001000"
TRUNK_USER = "disp01"
# Modules the brief of the quiet boot names explicitly; every other loaded one is checked too.
ESSENTIAL = ("chan_pjsip.so", "app_dial.so", "cdr_manager.so")

pytestmark = pytest.mark.asterisk


# --- the bundle -------------------------------------------------------------------------------

def _bundle_in(folder: Path) -> Path | None:
    if (folder / RUNNER).is_file():
        return folder
    return next((child for child in sorted(folder.iterdir()) if (child / RUNNER).is_file()),
                None)


def _check_deps(bundle: Path) -> str | None:
    """Why the bundle can't run here, or None. Missing Debian packages are installed when we
    are root (``check-deps --install``), as the bundle's README says."""
    check = [str(bundle / "bin" / "check-deps")]
    if subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return None
    if os.geteuid() != 0:
        return f"the bundle's Debian libraries are missing: run {check[0]} --install as root"
    done = subprocess.run([*check, "--install"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return f"{check[0]} --install failed: {done.stdout[-500:]}{done.stderr[-500:]}"
    return None


@pytest.fixture(scope="module")
def bundle() -> Iterator[Path]:
    """The unpacked bundle, or a skip that says what to set."""
    given = os.environ.get(SETTING, "").strip()
    if not given:
        pytest.skip(f"{SETTING} is not set: give the path of the Asterisk 22 bundle "
                    "(.tar.gz or unpacked folder) to boot the rendered configuration")
    path = Path(given).expanduser()
    unpacked: Path | None = None
    try:
        if path.is_dir():
            found = _bundle_in(path)
        elif path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
            # Short: the control socket below it must stay under 108 bytes.
            unpacked = Path(tempfile.mkdtemp(prefix="ab", dir="/tmp"))
            with tarfile.open(path) as archive:
                archive.extractall(unpacked, filter="tar")
            found = _bundle_in(unpacked)
        else:
            pytest.skip(f"{SETTING}={given} is neither a folder nor a .tar.gz")
        if found is None:
            pytest.skip(f"{SETTING}={given} holds no Asterisk bundle ({RUNNER} not found)")
        problem = _check_deps(found)
        if problem:
            pytest.skip(problem)
        yield found
    finally:
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)


# --- ports and instances ------------------------------------------------------------------------

def _free_port() -> int:
    """A loopback port free for TCP and UDP alike (SIP listens on both)."""
    for _ in range(200):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


def _rtp_range(size: int) -> tuple[int, int]:
    """``size`` consecutive free UDP ports starting at an even one."""
    for _ in range(200):
        start = 20000 + 2 * secrets.randbelow(15000)
        socks: list[socket.socket] = []
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
    """One Asterisk instance below a short root folder (etc/ and r/ for what it writes)."""

    bundle: Path
    root: Path
    name: str

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log(self) -> Path:
        return self.root / "r" / "log" / "messages.log"

    def prepare(self) -> None:
        self.etc.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(self.bundle / "bin" / "make-asterisk-conf"), str(self.etc),
                        str(self.root / "r")], check=True, capture_output=True, timeout=30)

    def cli(self, command: str, timeout: float = 20) -> str:
        done = subprocess.run([str(self.bundle / RUNNER), str(self.etc), "-rx", command],
                              capture_output=True, text=True, timeout=timeout)
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        subprocess.run([str(self.bundle / RUNNER), str(self.etc)], check=True,
                       capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "fully booted" in self.cli("core waitfullybooted", timeout=10):
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not boot:\n{self.lines()[-30:]}")

    def pid(self) -> int | None:
        try:
            return int((self.root / "r" / "run" / "asterisk.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """``core stop now``, then this instance's own pid if it is still there."""
        pid = self.pid()
        if pid is None:
            return
        self.cli("core stop now", timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, 9)

    def lines(self) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def modules(self) -> dict[str, str]:
        """Module file -> status, as ``module show`` lists them."""
        out = {}
        for line in self.cli("module show").splitlines():
            words = line.split()
            if words and words[0].endswith(".so"):
                out[words[0]] = next((w for w in words if w in ("Running", "Not", "Declined")),
                                     "?")
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- AMI ----------------------------------------------------------------------------------------

class Ami:
    """Just enough AMI for a test: log in, send an action, read messages until a deadline."""

    def __init__(self, port: int, user: str, secret: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self._line()  # banner
        self.send("Login", Username=user, Secret=secret)
        reply = self.read(10)
        if reply.get("Response") != "Success":
            raise AssertionError(f"AMI login as {user} failed: {reply}")

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("AMI closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, action: str, *variables: str, **headers: str) -> None:
        lines = [f"Action: {action}"] + [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Variable: {var}" for var in variables]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read(self, timeout: float) -> dict[str, str]:
        self.sock.settimeout(timeout)
        message: dict[str, str] = {}
        while True:
            line = self._line().decode(errors="replace")
            if not line:
                if message:
                    return message
                continue
            key, _, value = line.partition(": ")
            message.setdefault(key, value)

    def wait_for(self, timeout: float, **match: str) -> dict[str, str]:
        """The first message whose headers start with the values in ``match`` (a channel
        name's technology is enough); AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.read(left)
            except TimeoutError:
                break
            if all(message.get(k, "").startswith(v) for k, v in match.items()):
                return message
        raise AssertionError(f"no AMI message with {match} within {timeout}s")

    def close(self) -> None:
        self.sock.close()


# --- the two PBXes ------------------------------------------------------------------------------

def _env(mode: str, ports: dict[str, int], rtp: tuple[int, int]) -> dict[str, str]:
    """Our settings: everything on 127.0.0.1, one line, an answer that holds the line 10 s."""
    return {
        "TRUNK_MODE": mode,
        "DISPATCHER_AMI_PORT": str(ports["ami"]),
        "DISPATCHER_AMI_SECRET": secrets.token_hex(12),
        "DISPATCHER_AMI_EVENTS_USERNAME": "dispatcher-events",
        "DISPATCHER_AMI_EVENTS_SECRET": secrets.token_hex(12),
        "DISPATCHER_DIAL_TEMPLATE": "Local/{national}@dispatcher-outbound",
        "DISPATCHER_TRUNK_LINES": "1",
        "DISPATCHER_DEFAULT_CALLER_ID": CALLER_ID,
        # No database in this test: the goal of zero ERRORs assumes a reachable CDR database.
        "ASTERISK_CDR_PGSQL": "no",
        "ASTERISK_ANSWER_SOUND": "silence/10",
        "CARRIER_HOST": "127.0.0.1",
        "CARRIER_PORT": str(ports["carrier_sip"]),
        "TRUNK_USERNAME": TRUNK_USER,
        "TRUNK_PASSWORD": secrets.token_hex(8),
        "TRUNK_QUALIFY_SECONDS": "5",
        "SIP_BIND": "127.0.0.1",
        "SIP_PORT": str(ports["sip"]),
        "SIP_EXTERNAL_ADDRESS": "127.0.0.1",
        "AMI_BIND": "127.0.0.1",
        "AMI_PERMIT": "127.0.0.1/32",
        "RTP_START": str(rtp[0]),
        "RTP_END": str(rtp[1]),
    }


def _carrier_files(remote: str, sip_port: int, rtp: tuple[int, int]) -> dict[str, str]:
    """The carrier: its transport, the PJSIP part ``remote-config`` printed, and its dialplan
    with the line group replaced by an extension that answers and holds the call 8 s."""
    assert LINE_GROUP in remote, "remote-config no longer dials the line group"
    pjsip, _, dialplan = remote.partition("[from-dispatcher]")
    dialplan = "[from-dispatcher]" + dialplan.replace(LINE_GROUP, "Goto(lines,${EXTEN},1)")
    return {
        "modules.conf": "[modules]\nautoload = yes\nnoload => chan_iax2.so\n"
                        "noload => chan_unistim.so\nnoload => pbx_dundi.so\n"
                        "noload => cdr_pgsql.so\nnoload => res_config_pgsql.so\n"
                        "noload => res_hep.so\nnoload => res_prometheus.so\n",
        "logger.conf": "[general]\n[logfiles]\nmessages.log => notice,warning,error\n",
        "pjsip.conf": "[transport-udp]\ntype = transport\nprotocol = udp\n"
                      f"bind = 127.0.0.1:{sip_port}\n\n" + pjsip,
        "extensions.conf": "[general]\nstatic = yes\n\n" + dialplan
                           + "\n[lines]\nexten => _X.,1,Answer()\n same => n,Wait(8)\n"
                             " same => n,Hangup(16)\n",
        "rtp.conf": f"[general]\nrtpstart = {rtp[0]}\nrtpend = {rtp[1]}\n",
        "cdr.conf": "[general]\nenable = no\n",
    }


@dataclass
class Pair:
    ours: Pbx
    carrier: Pbx
    env: dict[str, str]
    booted_lines: list[str]


@pytest.fixture(params=["peer", "register"])
def pair(request: pytest.FixtureRequest, bundle: Path) -> Iterator[Pair]:
    mode = str(request.param)
    ports = {"sip": _free_port(), "carrier_sip": _free_port(), "ami": _free_port()}
    env = _env(mode, ports, _rtp_range(20))
    root = Path(tempfile.mkdtemp(prefix="ab", dir="/tmp"))
    ours, carrier = Pbx(bundle, root / "o", "ours"), Pbx(bundle, root / "c", "carrier")
    try:
        carrier.prepare()
        # The carrier caps our calls too (remote-config's GROUP_COUNT): give it more lines than
        # we have, so only our own cap can refuse the second call of the dial-out test.
        remote = _cli_output(["remote-config", "--mode", mode, "--syntax", "pjsip"],
                             {**env, "DISPATCHER_TRUNK_LINES": "5"})
        for name, text in _carrier_files(remote, ports["carrier_sip"], _rtp_range(20)).items():
            (carrier.etc / name).write_text(text)
        ours.prepare()
        assert cli.main(["render", "--mode", mode, "--out", str(ours.etc)], env=env) == 0
        carrier.start()
        ours.start()
        booted = ours.lines()
        if mode == "register":
            _wait(lambda: "Registered" in ours.cli("pjsip show registrations"), 20,
                  "registration to the carrier")
        yield Pair(ours, carrier, env, booted)
    finally:
        ours.stop()
        carrier.stop()
        shutil.rmtree(root, ignore_errors=True)


def _cli_output(argv: list[str], env: dict[str, str]) -> str:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        assert cli.main(argv, env=env) == 0
    return out.getvalue()


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


# --- the tests ----------------------------------------------------------------------------------

def test_rendered_configuration_boots_without_errors(pair: Pair) -> None:
    errors = [line for line in pair.booted_lines if "ERROR[" in line]
    assert errors == [], "\n".join(errors)
    running = pair.ours.modules()
    wanted = confparse.parse((pair.ours.etc / "modules.conf").read_text()).section("modules")
    loaded = set(wanted.getall("load")) | set(wanted.getall("require"))
    assert set(ESSENTIAL) <= loaded
    assert {name: running.get(name) for name in loaded if running.get(name) != "Running"} == {}
    # autoload = no: nothing beyond the list runs.
    assert set(running) - loaded == set()


def test_originated_call_dials_out_with_the_default_caller_id_and_the_global_cap(
        pair: Pair) -> None:
    """One line (DISPATCHER_TRUNK_LINES=1): the first call goes out with the default caller
    ID; a second call that brings TRUNK_LINES=9999 along is still refused by the cap."""
    env, ours, carrier = pair.env, pair.ours, pair.carrier
    events = Ami(int(env["DISPATCHER_AMI_PORT"]), env["DISPATCHER_AMI_EVENTS_USERNAME"],
                 env["DISPATCHER_AMI_EVENTS_SECRET"])
    worker = Ami(int(env["DISPATCHER_AMI_PORT"]), "dispatcher", env["DISPATCHER_AMI_SECRET"])
    try:
        call = {"Context": "dispatcher-answered", "Exten": "s", "Priority": "1",
                "Timeout": "15000", "Async": "true"}
        worker.send("Originate", "CALL_ID=first", ActionID="first",
                    Channel="Local/09121231001@dispatcher-outbound", **call)
        # The Local;2 leg dialling the trunk: no caller number came with the call.
        begin = events.wait_for(15, Event="DialBegin", Channel="Local/", DestChannel="PJSIP/")
        assert begin.get("CallerIDNum") == CALLER_ID, begin
        answered = events.wait_for(15, Event="OriginateResponse", ActionID="first")
        assert answered.get("Response") == "Success", answered
        worker.send("Originate", "CALL_ID=second", "TRUNK_LINES=9999",
                    "__TRUNK_LINES=9999", "MAX_CALL_SECONDS=99999", ActionID="second",
                    Channel="Local/09121231002@dispatcher-outbound", **call)
        refused = events.wait_for(15, Event="OriginateResponse", ActionID="second")
        assert refused.get("Response") == "Failure", refused
        channels = [line.split("!") for line in
                    carrier.cli("core show channels concise").splitlines() if "!" in line]
        assert len(channels) == 1, channels  # the carrier got the first call only
        if env["TRUNK_MODE"] == "peer":
            assert channels[0][7] == CALLER_ID  # From: our default caller number
        else:
            assert channels[0][0].startswith(f"PJSIP/{TRUNK_USER}-")  # digest-authenticated
    finally:
        worker.close()
        events.close()
    errors = [line for line in ours.lines() if "ERROR[" in line]
    assert errors == [], "\n".join(errors)
