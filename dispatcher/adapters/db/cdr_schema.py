"""The ``cdr`` table Asterisk's ``cdr_pgsql`` writes and reconciliation reads.

Asterisk's documented ``cdr_pgsql`` table plus the ``answer`` and ``end`` columns, which
cdr_pgsql fills when present (as epoch seconds with microseconds when the column is a float:
``calldate`` and a time column get whole seconds), and ``hangupcause``, which it fills from a
``CDR(hangupcause)`` variable (see asterisk-conf). Our migrations do not own it (it is
Asterisk's schema): ``dispatcher asterisk cdr-table`` creates it, and the simulated PBX writes
into the same one.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS cdr (
    calldate timestamptz NOT NULL DEFAULT now(),
    clid varchar(80) NOT NULL DEFAULT '',
    src varchar(80) NOT NULL DEFAULT '',
    dst varchar(80) NOT NULL DEFAULT '',
    dcontext varchar(80) NOT NULL DEFAULT '',
    channel varchar(80) NOT NULL DEFAULT '',
    dstchannel varchar(80) NOT NULL DEFAULT '',
    lastapp varchar(80) NOT NULL DEFAULT '',
    lastdata varchar(80) NOT NULL DEFAULT '',
    answer double precision,
    "end" double precision,
    duration bigint NOT NULL DEFAULT 0,
    billsec bigint NOT NULL DEFAULT 0,
    disposition varchar(45) NOT NULL DEFAULT '',
    amaflags bigint NOT NULL DEFAULT 0,
    accountcode varchar(20) NOT NULL DEFAULT '',
    uniqueid varchar(150) NOT NULL DEFAULT '',
    userfield varchar(255) NOT NULL DEFAULT '',
    hangupcause integer
);
CREATE INDEX IF NOT EXISTS cdr_uniqueid ON cdr (uniqueid);
"""
