"""Figures the benchmarks share: percentiles, line use and turnover from the calls' rows, and
CPU and memory of process trees read from /proc.

Kept apart from the runs themselves so the one-trunk, several-PBX and realistic-profile
benchmarks measure a line's idle time and a process's CPU the same way.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dispatcher.adapters.db.tables import CallRow

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    """What the figures were measured on, and how busy it was: the machine is shared, and a
    load average above its core count means the figures were contended."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: {os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}; "
            f"{load_average()}")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat: with the
    benchmark's own figures, how much of the cores went to other work during a run."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS


def _parents() -> dict[int, int]:
    """Every live process's parent, from one pass over /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree_pids(pid: int, parents: dict[int, int] | None = None) -> list[int]:
    """A process and all its descendants (gunicorn's workers, Celery's pool children)."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo and len(found) < 10_000:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of processes, with that of their children already waited for: a pool
    child that exits between two readings moves into its parent's count, not out of it."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def tree_cpu_seconds(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds by process kind, each kind the sum of its roots' whole trees."""
    parents = _parents()
    return {kind: cpu_seconds(p for root in pids for p in tree_pids(root, parents))
            for kind, pids in roots.items()}


def peak_rss_mb(pid: int, descendants: bool = True) -> float:
    """VmHWM of a process and all its descendants (gunicorn workers, Celery pool children)."""
    total = 0.0
    for each in tree_pids(pid) if descendants else [pid]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def steady_line_use(rows: list[CallRow], lines: int) -> float:
    """Line use while calls were waiting: from the last of the first ``lines`` dials (every
    line busy) to the last dial (nothing left to wait). The start and the tail of a run are
    excluded: at the end, a line that drew one call more than the others sets the makespan."""
    dials = sorted(r.dialed_at.timestamp() for r in rows if r.dialed_at)
    if len(dials) <= lines:
        return float("nan")
    start, end = dials[lines - 1], dials[-1]
    busy = sum(max(0.0, min(r.ended_at.timestamp(), end) - max(r.dialed_at.timestamp(), start))
               for r in rows if r.dialed_at and r.ended_at)
    return busy / (lines * (end - start))


@dataclass
class LineIdle:
    """Where the lines' idle time went, averaged over the lines."""

    before_first: float  # seconds from the start to the line's first dial
    turnovers: list[float]  # each gap from a call's end to the next dial on its line
    after_last: float  # seconds from the line's last end to the end of the run
    lines: int

    def report(self) -> str:
        gaps = [1000 * g for g in self.turnovers]
        mean = sum(gaps) / len(gaps) if gaps else float("nan")
        return (f"idle per line: {self.before_first:.2f} s before its first call, "
                f"{len(gaps) / self.lines:.0f} turnovers of {mean:.0f} ms mean "
                f"(p50 {percentile(gaps, 50):.0f} ms, p95 {percentile(gaps, 95):.0f} ms) = "
                f"{sum(gaps) / 1000 / self.lines:.2f} s, {self.after_last:.2f} s after its last")


def line_idle(rows: list[CallRow], lines: int, start: float) -> LineIdle:
    """Give each call the line that has been free longest at its dial (lines are refilled in
    the order they free up), then add up each line's gaps (their sum does not depend on the
    assignment, only how it splits into turnovers does). The ends are the PBX's hangups; the
    dials are recorded after the Originate reply, so a turnover includes that round trip."""
    return idle_of([(r.dialed_at.timestamp(), r.ended_at.timestamp()) for r in rows
                    if r.dialed_at and r.ended_at], lines, start)


def idle_of(spans: list[tuple[float, float]], lines: int, start: float) -> LineIdle:
    """:func:`line_idle` of (dial, end) pairs: a run cut short gives its calls still on the
    line the cut as their end, so their lines do not look free before it."""
    calls = sorted(spans)
    ends: list[float] = []
    first: list[float] = []
    gaps: list[float] = []
    for dialed, ended in calls:
        if len(ends) < lines:
            first.append(dialed - start)
            ends.append(ended)
            continue
        freed = [i for i, end in enumerate(ends) if end <= dialed]
        line = min(freed or range(lines), key=lambda i: ends[i])
        gaps.append(max(0.0, dialed - ends[line]))
        ends[line] = ended
    finish = max(ends, default=start)
    return LineIdle(sum(first) / max(1, len(first)), gaps,
                    sum(finish - end for end in ends) / max(1, len(ends)), lines)
