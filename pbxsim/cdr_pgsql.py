"""What Asterisk's ``cdr_pgsql`` does, for the simulator: one row per CDR in table ``cdr``.

The event consumer's reconciliation reads this table to settle calls that ended while it was
disconnected, so the simulated PBX keeps one too, in the production schema
(:mod:`dispatcher.adapters.db.cdr_schema`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from dispatcher.adapters.db.cdr_schema import SCHEMA


def _time(value: str) -> datetime | None:
    """CDR times are the PBX's local time, without a zone, as Asterisk writes them."""
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").astimezone(UTC)


def _epoch(value: str | None) -> float | None:
    return float(value) if value else None


def _seconds(value: str) -> float | None:
    moment = _time(value)
    return moment.timestamp() if moment else None


class PgCdrWriter:
    """A ``cdr_sink`` for :class:`~pbxsim.SimConfig` writing to PostgreSQL."""

    def __init__(self, database_url: str) -> None:
        if database_url.startswith("postgres://"):  # the short form managed providers give
            database_url = "postgresql://" + database_url[len("postgres://"):]
        self.engine = create_engine(database_url, pool_size=1)
        with self.engine.begin() as conn:
            conn.execute(text(SCHEMA))

    def __call__(self, record: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(
                'INSERT INTO cdr (calldate, clid, src, dst, dcontext, channel, dstchannel, '
                'lastapp, lastdata, answer, "end", duration, billsec, disposition, accountcode, '
                'uniqueid, userfield, hangupcause) VALUES (:calldate, :clid, :src, :dst, '
                ':dcontext, :channel, :dstchannel, :lastapp, :lastdata, :answer, :end, '
                ':duration, :billsec, :disposition, :accountcode, :uniqueid, :userfield, '
                ':hangupcause)'), {
                "calldate": _time(record.get("StartTime", "")) or datetime.now(tz=UTC),
                "clid": record.get("CallerID", ""), "src": record.get("Source", ""),
                "dst": record.get("Destination", ""),
                "dcontext": record.get("DestinationContext", ""),
                "channel": record.get("Channel", ""),
                "dstchannel": record.get("DestinationChannel", ""),
                "lastapp": record.get("LastApplication", ""),
                "lastdata": record.get("LastData", "")[:80],
                "answer": _epoch(record.get("answer_epoch")) or _seconds(
                    record.get("AnswerTime", "")),
                "end": _epoch(record.get("end_epoch")) or _seconds(record.get("EndTime", "")),
                "duration": int(record.get("Duration") or 0),
                "billsec": int(record.get("BillableSeconds") or 0),
                "disposition": record.get("Disposition", ""),
                "accountcode": record.get("AccountCode", ""),
                "uniqueid": record.get("UniqueID", ""), "userfield": record.get("UserField", ""),
                "hangupcause": int(record["hangupcause"]) if record.get("hangupcause") else None,
            })

    def close(self) -> None:
        self.engine.dispose()
