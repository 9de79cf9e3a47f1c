"""Campaigns end to end: gunicorn, Celery worker and beat, the event consumer, real Redis and
PostgreSQL, and the simulated PBX counting every Originate it receives."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo

import pytest
import requests

from dispatcher.devstack.embedded import EmbeddedPostgres
from pbxsim import SimConfig
from tests.support.stackproc import Stack, running_stack

pytestmark = pytest.mark.e2e
LINES = 10
ROOT = Path(__file__).resolve().parents[2]
# The simulated carrier answers by the first of a number's last four digits.
PLAN = {1: "answered", 2: "busy", 4: "no-answer", 3: "congestion", 9: "invalid-number",
        6: "rejected"}
RETRY = {"busy": {"max_attempts": 3, "delay": 1}, "no-answer": {"max_attempts": 2, "delay": 1},
         "congestion": {"max_attempts": 2, "delay": 0}, "failed": {"max_attempts": 2,
                                                                  "delay": 0}}
DIALS = {"answered": 1, "busy": 3, "no-answer": 2, "congestion": 2, "invalid-number": 1,
         "rejected": 1}


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres, migrated_template: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # time_scale shrinks the ring timeout (5 s -> 0.5 s) and every carrier delay.
    config = SimConfig(users={"dispatcher": "worker-secret", "events": "events-secret"},
                       lines=LINES, ring_delay=0.05, answer_delay=1.0, talk_time=2.0,
                       time_scale=0.1)
    with running_stack(postgres, migrated_template, redis_url,
                       tmp_path_factory.mktemp("campaign-logs"), config,
                       {"DISPATCHER_TRUNK_LINES": str(LINES),
                        "DISPATCHER_RECONCILE_GRACE": "5",
                        # Completion waits this long after the last upload (30 s by default).
                        "DISPATCHER_CAMPAIGN_UPLOAD_GRACE": "2"},
                       concurrency=4, beat=True) as stack:
        yield stack


class RequestOptions(TypedDict, total=False):
    """What the tests pass on to :func:`requests.request`, besides headers."""

    json: Any
    data: bytes
    params: dict[str, str]


def api(stack: Stack, method: str, path: str, *, headers: dict[str, str] | None = None,
        **kwargs: Unpack[RequestOptions]) -> requests.Response:
    headers = {"Authorization": f"Bearer {stack.key}", **(headers or {})}
    return requests.request(method, f"{stack.base}{path}", headers=headers, timeout=30,
                            **kwargs)


def create(stack: Stack, **body: object) -> str:
    response = api(stack, "POST", "/v1/campaigns", json={"name": "e2e", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def upload(stack: Stack, cid: str, numbers: list[str], header: str = "to") -> dict[str, Any]:
    body = header + "\n" + "".join(f"{n}\n" for n in numbers)
    response = api(stack, "POST", f"/v1/campaigns/{cid}/contacts", data=body.encode(),
                   headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def act(stack: Stack, cid: str, action: str) -> dict[str, Any]:
    response = api(stack, "POST", f"/v1/campaigns/{cid}/{action}")
    assert response.status_code == 200, response.text
    changed: dict[str, Any] = response.json()
    return changed


def campaign(stack: Stack, cid: str) -> dict[str, Any]:
    state: dict[str, Any] = api(stack, "GET", f"/v1/campaigns/{cid}").json()
    return state


def wait_status(stack: Stack, cid: str, status: str, deadline: float) -> dict[str, Any]:
    end = time.monotonic() + deadline
    while True:
        state = campaign(stack, cid)
        if state["status"] == status:
            return state
        if time.monotonic() > end:
            raise AssertionError(f"campaign not {status} after {deadline}s: {state}\n"
                                 f"worker:\n{stack.group.tail('worker')}")
        stack.group.check_alive()
        time.sleep(0.3)


def originates(stack: Stack, since: float = 0.0) -> list[tuple[float, str]]:
    """(time received, national number) of every Originate the PBX got."""
    return [(a["_time"], a["Channel"].split("/")[1].split("@")[0]) for a in stack.sim.actions
            if a.get("Action") == "Originate" and a["_time"] >= since]


def contacts(stack: Stack, cid: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = api(stack, "GET", f"/v1/campaigns/{cid}/contacts", params=params).json()
        rows += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


def number(i: int, digit: int, prefix: str = "0912") -> str:
    return f"{prefix}{i:03d}{digit}{i:03d}"


def test_a_campaign_runs_to_completion_dialling_each_contact_as_its_policy_allows(
        stack: Stack) -> None:
    api(stack, "POST", "/v1/dnc-lists", json={"name": "e2e-dnc"})
    digits = [1, 1, 1, 1, 2, 4, 3, 9, 6, 1]
    numbers = [number(i, digits[i % 10]) for i in range(300)]
    blocked = numbers[0:100:10]  # ten numbers the carrier would answer
    added = api(stack, "POST", "/v1/dnc-lists/e2e-dnc/numbers", json={"numbers": blocked})
    assert added.json()["added"] == 10
    cid = create(stack, max_lines=LINES, timeout=5, retry=RETRY, dnc_lists=["e2e-dnc"])
    result = upload(stack, cid, numbers)
    assert (result["accepted"], result["rejected"]) == (300, 0)
    before = len(originates(stack))
    act(stack, cid, "start")
    done = wait_status(stack, cid, "completed", deadline=150)

    dialled = Counter(n for _, n in originates(stack)[before:])
    assert not set(blocked) & set(dialled), "a do-not-call number was dialled"
    for n in numbers:
        if n in blocked:
            continue
        expected = DIALS[PLAN[int(n[-4])]]
        assert dialled[n] == expected, (n, dialled[n], expected)
    rows = {c["to"]: c for c in contacts(stack, cid)}
    assert len(rows) == 300
    for n in numbers:
        row = rows["+98" + n[1:]]
        if n in blocked:
            assert (row["state"], row["outcome"], row["attempts"]) == ("skipped", "dnc", 0)
        else:
            assert row["state"] == "done"
            assert row["outcome"] == PLAN[int(n[-4])]
            assert row["attempts"] == dialled[n]
    assert done["progress"] == 1.0
    assert done["contacts"]["skipped"] == 10 and done["contacts"]["done"] == 290
    assert done["outcomes"]["answered"] == 140
    assert stack.sim.max_live_channels <= LINES

    export = api(stack, "GET", f"/v1/campaigns/{cid}/export")
    assert export.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(export.text.splitlines()))
    assert len(table) == 300
    busy = next(r for r in table if r["outcome"] == "busy")
    assert busy["attempts"] == "3" and busy["attempt_outcomes"] == "busy;busy;busy"


def test_pause_stops_new_dials_within_a_second_and_cancel_stops_them_for_good(
        stack: Stack) -> None:
    numbers = [number(i, 1, "0913") for i in range(200)]
    cid = create(stack, max_lines=3)
    upload(stack, cid, numbers)
    mine = set(numbers)
    act(stack, cid, "start")
    wait_for_dials(stack, mine, 6)
    stop_and_check_no_dials_after_a_second(stack, cid, mine, "pause")
    dialled_while_paused = dials(stack, mine)
    paused = campaign(stack, cid)
    assert paused["contacts"]["pending"] > 100 and paused["contacts"]["dialing"] == 0
    metrics = api(stack, "GET", "/metrics").text
    assert f'dispatcher_campaign_contacts{{campaign="{cid}",name="e2e",state="pending"}}' \
        in metrics

    act(stack, cid, "resume")
    wait_for_dials(stack, mine, dialled_while_paused + 6)
    stop_and_check_no_dials_after_a_second(stack, cid, mine, "cancel")
    total = Counter(n for _, n in originates(stack) if n in mine)
    assert set(total.values()) == {1}  # resumed where it stopped: nobody dialled twice
    time.sleep(2)
    assert sum(total.values()) == dials(stack, mine)
    final = campaign(stack, cid)
    assert final["contacts"]["pending"] == 0 and final["contacts"]["dialing"] == 0
    assert final["contacts"]["canceled"] >= 200 - sum(total.values())
    assert act_status(stack, cid, "resume") == 409


def dials(stack: Stack, numbers: set[str]) -> int:
    return sum(1 for _, n in originates(stack) if n in numbers)


def wait_for_dials(stack: Stack, numbers: set[str], at_least: int) -> None:
    end = time.monotonic() + 30
    while dials(stack, numbers) < at_least:
        assert time.monotonic() < end, f"fewer than {at_least} dials after 30 s"
        time.sleep(0.1)


def stop_and_check_no_dials_after_a_second(stack: Stack, cid: str, numbers: set[str],
                                           action: str) -> None:
    """Pause or cancel, then watch 3 s: an Originate may still be on its way for a call
    claimed just before, but none may start a second or more after the answer."""
    stopped_at = time.time()
    assert act(stack, cid, action)["status"] in ("paused", "canceled")
    time.sleep(3)
    late = [t - stopped_at for t, n in originates(stack, since=stopped_at) if n in numbers]
    assert all(delay < 1.0 for delay in late), late


def act_status(stack: Stack, cid: str, action: str) -> int:
    return api(stack, "POST", f"/v1/campaigns/{cid}/{action}").status_code


def test_call_windows_hold_back_contacts_whose_local_time_is_outside(stack: Stack) -> None:
    """Real clock: a window around Tehran's current hour, and contacts in Los Angeles (11.5
    hours behind) whose local time is outside it."""
    now = datetime.now(tz=UTC)
    tehran = now.astimezone(ZoneInfo("Asia/Tehran"))
    start = (tehran - timedelta(hours=1)).strftime("%H:00")
    end = (tehran + timedelta(hours=2)).strftime("%H:00")
    days = ["sat", "sun", "mon", "tue", "wed", "thu", "fri"]
    cid = create(stack, max_lines=5, windows=[{"days": days, "start": start, "end": end}])
    open_numbers = [number(i, 1, "0914") for i in range(10)]
    closed_numbers = [number(i, 1, "0915") for i in range(10)]
    body = ["to,timezone"] + [f"{n}," for n in open_numbers] + \
        [f"{n},America/Los_Angeles" for n in closed_numbers]
    response = api(stack, "POST", f"/v1/campaigns/{cid}/contacts",
                   data=("\n".join(body) + "\n").encode(), headers={"Content-Type": "text/csv"})
    assert response.json()["accepted"] == 20
    act(stack, cid, "start")
    deadline = time.monotonic() + 60
    while campaign(stack, cid)["contacts"]["done"] < 10:
        assert time.monotonic() < deadline, campaign(stack, cid)
        time.sleep(0.3)
    time.sleep(2)
    dialled = {n for _, n in originates(stack)}
    assert set(open_numbers) <= dialled
    assert not set(closed_numbers) & dialled
    waiting = [c for c in contacts(stack, cid) if c["timezone"] == "America/Los_Angeles"]
    assert {c["state"] for c in waiting} == {"pending"}
    opens = {datetime.fromisoformat(c["next_attempt_at"]) for c in waiting}
    assert len(opens) == 1
    local = opens.pop().astimezone(ZoneInfo("America/Los_Angeles"))
    assert local.strftime("%H:%M") == start and local > now
    assert campaign(stack, cid)["status"] == "running"  # it waits for the window
    act(stack, cid, "cancel")


def test_the_cli_drives_a_whole_campaign(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, "DISPATCHER_API_URL": stack.base, "DISPATCHER_API_KEY": stack.key}
    cli = [str(Path(sys.executable).parent / "dispatcher"), "campaign"]

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=work)

    work = tmp_path / "work"  # the reports land in the current directory
    work.mkdir()
    source = tmp_path / "contacts.csv"
    source.write_bytes((ROOT / "examples" / "contacts.csv").read_bytes())
    created = run("create", "--name", "cli", "--max-lines", "5", "--timeout", "5",
                  "--retry", "busy=2x:1", "--retry", "no-answer=2x:1")
    assert created.returncode == 0, created.stderr
    cid = created.stdout.strip()
    uploaded = run("upload", cid, str(source), "--chunk-rows", "7")
    assert uploaded.returncode == 0, uploaded.stderr
    rejects = (work / "contacts.csv.rejects.csv").read_text().splitlines()
    assert not (tmp_path / "contacts.csv.rejects.csv").exists()
    assert rejects[0] == "line,reason" and len(rejects) == 2
    updated = run("update", cid, "--max-lines", "3", "--retry", "busy=3x:1")
    assert (updated.returncode, updated.stdout.strip()) == (0, "draft"), updated.stderr
    assert run("update", cid, "--max-lines", "999").returncode == 1  # over the trunk's lines
    assert run("start", cid).stdout.strip() == "running"
    followed = run("status", cid, "--follow", "--interval", "0.5", timeout=120)
    assert followed.returncode == 0, followed.stderr
    assert "completed" in followed.stdout
    out = tmp_path / "results.csv"
    exported = run("export", cid, str(out))
    assert exported.returncode == 0, exported.stderr
    table = list(csv.DictReader(out.read_text().splitlines()))
    assert len(table) == 18 and {r["state"] for r in table} == {"done"}
    assert run("resume", cid).returncode == 1  # a completed campaign: the API says 409
    nowhere = subprocess.run([*cli, "status", cid], capture_output=True, text=True,
                             env={**env, "DISPATCHER_API_URL": "http://127.0.0.1:9"},
                             timeout=60, check=False)
    assert nowhere.returncode == 3
