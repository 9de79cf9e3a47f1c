"""Alembic environment: the URL comes from the caller (``dispatcher migrate``) or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from dispatcher.adapters.db.engine import make_engine
from dispatcher.adapters.db.tables import Base
from dispatcher.config import load_settings

config = context.config
url = (config.get_main_option("sqlalchemy.url")
       or load_settings().require("database_url").database_url)


def run_migrations_online() -> None:
    engine = make_engine(url, poolclass=pool.NullPool)  # one-shot: no pooling
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
