"""Line capacity shared by every process on every host: waiting line, leases and pacing in Redis.

Calls wait in a sorted set ordered by priority, then source (API before campaign), then age.
Admission is one Lua script, so it is atomic across all workers: drop expired leases, and while
a line is free (and the calls-per-second budget allows) move the best waiting call to the lease
set. Only admitted calls are handed to Celery, so nothing busy-polls and no worker waits for a
line. Leases expire, so a crashed holder cannot keep a line forever; the event consumer releases
them when calls end and reconciles them with the PBX's live channels. Times come from the Redis
server's clock, never from a client's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis

API, CAMPAIGN = 0, 1
MAX_PRIORITY = 9

_ADMIT = """
-- KEYS: waiting, leases, admitted, foreign, paused, limit, watched
-- ARGV: lines, cps, lease ms, most to admit, watch required (0/1), then (call, score) pairs
for i = 6, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'NX', tonumber(ARGV[i + 1]), ARGV[i]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
local lines = tonumber(ARGV[1])
local limit = redis.call('GET', KEYS[6])
if limit then lines = math.min(lines, tonumber(limit)) end
local cps = tonumber(ARGV[2])
local foreign = tonumber(redis.call('GET', KEYS[4]) or '0')
local free = lines - redis.call('ZCARD', KEYS[2]) - foreign
if redis.call('EXISTS', KEYS[5]) == 1 then free = 0 end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[7]) == 0 then free = 0 end
local result = {'-1'}
while free > 0 and #result <= tonumber(ARGV[4]) do
  if cps > 0 then
    local recent = redis.call('ZRANGEBYSCORE', KEYS[3], now - 999, '+inf', 'WITHSCORES')
    if #recent / 2 >= cps then
      result[1] = tostring(tonumber(recent[2]) + 1000 - now)
      break
    end
  end
  local top = redis.call('ZPOPMIN', KEYS[1])
  if #top == 0 then break end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), top[1])
  redis.call('ZADD', KEYS[3], now, top[1])
  result[#result + 1] = top[1]
  free = free - 1
end
return result
"""

_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
"""

_IN_USE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCOUNT', KEYS[2], now - 60000, '+inf'),
        tonumber(redis.call('GET', KEYS[3]) or '0'), redis.call('ZCARD', KEYS[4]),
        redis.call('EXISTS', KEYS[5]), tonumber(redis.call('GET', KEYS[6]) or '-1'),
        redis.call('EXISTS', KEYS[7])}
"""

_UNCONFIRMED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, now + tonumber(ARGV[1]))
"""


def waiting_score(priority: int, source: int, created: datetime) -> float:
    """Lower is served first: priority (high first), then API before campaign, then age."""
    return ((MAX_PRIORITY - priority) * 2 + source) * 1e13 + created.timestamp() * 1000


@dataclass(frozen=True)
class Admission:
    call_ids: list[uuid.UUID]
    retry_after: float | None  # seconds until the calls-per-second budget allows more


@dataclass(frozen=True)
class Usage:
    in_use: int
    foreign: int
    waiting: int
    admitted_last_minute: int
    paused: bool = False
    line_limit: int | None = None  # lines in use at most, when an operator set fewer
    watched: bool = True  # an event consumer is connected to the trunk's PBX (or none needed)


class TrunkCapacity:
    """The shared line counter of one trunk."""

    def __init__(self, client: redis.Redis, trunk: str, lines: int, cps: int = 0,
                 require_watch: bool = False) -> None:
        self.client = client
        self.lines = lines
        self.cps = cps
        self.require_watch = require_watch
        tag = f"dispatcher:{{{trunk}}}"  # one hash slot per trunk, so Lua works on a cluster
        self.waiting_key = f"{tag}:waiting"
        self.leases_key = f"{tag}:leases"
        self.admitted_key = f"{tag}:admitted"
        self.foreign_key = f"{tag}:foreign"
        self.paused_key = f"{tag}:paused"
        self.limit_key = f"{tag}:limit"
        self.watched_key = f"{tag}:watched"
        self.ami_key = f"{tag}:ami"
        self._admit = client.register_script(_ADMIT)
        self._extend = client.register_script(_EXTEND)
        self._in_use = client.register_script(_IN_USE)
        self._unconfirmed = client.register_script(_UNCONFIRMED)

    def load_scripts(self) -> None:
        """Put the Lua scripts in the server's cache now, so the first admission does not
        pay for a NOSCRIPT round trip."""
        for script in (self._admit, self._extend, self._in_use):
            self.client.script_load(script.script)

    def enqueue(self, call_id: uuid.UUID, score: float) -> None:
        """Put a call in line; a call already waiting keeps its place."""
        self.client.zadd(self.waiting_key, {str(call_id): score}, nx=True)

    def admit(self, lease_seconds: float, limit: int = 1000,
              enqueue: Sequence[tuple[uuid.UUID, float]] = ()) -> Admission:
        """Admit what fits; ``enqueue`` first puts calls in line, in the same round trip."""
        keys = [self.waiting_key, self.leases_key, self.admitted_key, self.foreign_key,
                self.paused_key, self.limit_key, self.watched_key]
        args: list[object] = [self.lines, self.cps, int(lease_seconds * 1000), limit,
                              1 if self.require_watch else 0]
        for call_id, score in enqueue:
            args += (str(call_id), score)
        raw = self._admit(keys=keys, args=args)
        retry_ms = int(raw[0])
        ids = [uuid.UUID(x.decode() if isinstance(x, bytes) else x) for x in raw[1:]]
        return Admission(ids, retry_ms / 1000 if retry_ms >= 0 else None)

    def extend(self, call_id: uuid.UUID, seconds: float) -> bool:
        """Stretch a held lease (an answered call can last long); never creates one."""
        return bool(self._extend(keys=[self.leases_key], args=[str(call_id), int(seconds * 1000)]))

    def release(self, call_id: uuid.UUID) -> bool:
        return bool(self.client.zrem(self.leases_key, str(call_id)))

    def release_many(self, call_ids: Sequence[uuid.UUID]) -> int:
        """Take calls out of line and free their lines in one round trip; how many lines."""
        members = [str(call_id) for call_id in call_ids]
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.waiting_key, *members)
        pipe.zrem(self.leases_key, *members)
        return int(pipe.execute()[1])

    def holders(self) -> list[uuid.UUID]:
        return [uuid.UUID(m.decode()) for m in self.client.zrange(self.leases_key, 0, -1)]

    def unconfirmed(self, lease_seconds: float, older_than: float) -> set[uuid.UUID]:
        """Live leases granted more than ``older_than`` seconds ago (under a policy of
        ``lease_seconds``) and never extended since: a worker that takes up a call extends
        its lease before dialling, so these are calls admitted whose task no worker has
        taken."""
        window = int((lease_seconds - older_than) * 1000)
        if window <= 0:
            return set()
        raw = self._unconfirmed(keys=[self.leases_key], args=[window])
        return {uuid.UUID(m.decode() if isinstance(m, bytes) else m) for m in raw}

    def waiting(self) -> list[uuid.UUID]:
        return [uuid.UUID(m.decode()) for m in self.client.zrange(self.waiting_key, 0, -1)]

    def is_tracked(self, call_id: uuid.UUID) -> bool:
        member = str(call_id)
        return (self.client.zscore(self.waiting_key, member) is not None
                or self.client.zscore(self.leases_key, member) is not None)

    def pause(self) -> None:
        """Admit nothing until :meth:`resume`: calls keep their place in line, and calls
        already admitted (at most the lines) still dial. Kept in Redis, so every process on
        every host sees it, and it survives their restarts."""
        self.client.set(self.paused_key, 1)

    def resume(self) -> None:
        self.client.delete(self.paused_key)

    def limit_lines(self, lines: int | None) -> None:
        """Use at most ``lines`` of the configured lines (None: all of them again), for when
        the carrier loses a span or asks for less. Calls on the wire are never cut: above the
        limit, new calls wait until enough of them end. Kept in Redis, like :meth:`pause`."""
        if lines is None:
            self.client.delete(self.limit_key)
            return
        if not 0 < lines <= self.lines:
            raise ValueError(f"a line limit must be between 1 and the {self.lines} configured "
                             "lines")
        self.client.set(self.limit_key, lines)

    def set_foreign(self, count: int) -> None:
        """Live trunk channels that are not ours (another client, a leaked lease) still occupy
        physical lines."""
        self.client.set(self.foreign_key, max(0, count))

    def usage(self) -> Usage:
        in_use, admitted, foreign, waiting, paused, limit, watched = self._in_use(
            keys=[self.leases_key, self.admitted_key, self.foreign_key, self.waiting_key,
                  self.paused_key, self.limit_key, self.watched_key])
        return Usage(int(in_use), int(foreign), int(waiting), int(admitted), bool(paused),
                     int(limit) if int(limit) >= 0 else None,
                     bool(watched) or not self.require_watch)

    def watched(self, seconds: float) -> None:
        """An event consumer sees this trunk's PBX: admit for ``seconds`` more. Renewed while
        its AMI session lasts, so admission pauses that long after the session is lost."""
        self.client.set(self.watched_key, 1, px=max(1, int(seconds * 1000)))

    def report_ami(self, state: str, seconds: int = 45) -> None:
        """The event consumer's AMI session state, for operators (expires if it dies)."""
        self.client.set(self.ami_key, state, ex=seconds)

    def ami_state(self) -> str:
        raw = self.client.get(self.ami_key)
        return raw.decode() if raw else "unknown"

    def resync(self, keep: Iterable[uuid.UUID]) -> int:
        """Drop leases not in ``keep`` (their calls are over); return how many were dropped."""
        wanted = {str(k) for k in keep}
        stale = [m for m in self.client.zrange(self.leases_key, 0, -1)
                 if m.decode() not in wanted]
        if stale:
            self.client.zrem(self.leases_key, *stale)
        return len(stale)
