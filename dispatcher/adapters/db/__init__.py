"""PostgreSQL persistence (SQLAlchemy 2.x). The schema is owned by the Alembic migrations."""
