"""Small helpers over the tests' real PostgreSQL: a fresh database from the migrated template,
and a count."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from dispatcher.devstack.embedded import EmbeddedPostgres


def clone(postgres: EmbeddedPostgres, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}";')
    return postgres.url_for(name)


def count(sessions: sessionmaker[Session], sql: str, **params: object) -> int:
    with sessions() as session:
        return int(session.execute(text(sql), params).scalar() or 0)
