"""API keys: stored by hash, revoked rather than deleted (the audit trail keeps their ids)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import ApiKeyRow


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ApiKeyRow) -> None:
        self.session.add(row)

    def by_hash(self, key_hash: str) -> ApiKeyRow | None:
        """A usable key: not revoked, not expired."""
        stmt = select(ApiKeyRow).where(
            ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None),
            or_(ApiKeyRow.expires_at.is_(None), ApiKeyRow.expires_at > func.now()))
        return self.session.scalars(stmt).first()

    def all(self) -> list[ApiKeyRow]:
        return list(self.session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))

    def revoke(self, id_or_prefix: str) -> int:
        """Revoke by id or by the key's shown prefix; returns how many keys it matched."""
        result = self.session.execute(
            update(ApiKeyRow).where(_key_match(id_or_prefix), ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=func.now()))
        return int(result.rowcount)

    def revoke_named(self, name: str, keep: uuid.UUID) -> int:
        """Revoke every active key called ``name`` but ``keep``."""
        result = self.session.execute(
            update(ApiKeyRow).where(ApiKeyRow.name == name, ApiKeyRow.id != keep,
                                    ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=func.now()))
        return int(result.rowcount)

    def set_callback_secret(self, id_or_prefix: str, secret: str) -> bool:
        result = self.session.execute(
            update(ApiKeyRow).where(_key_match(id_or_prefix), ApiKeyRow.revoked_at.is_(None))
            .values(callback_secret=secret))
        return int(result.rowcount) == 1


def _key_match(id_or_prefix: str) -> ColumnElement[bool]:
    match = ApiKeyRow.prefix == id_or_prefix
    try:
        return or_(match, ApiKeyRow.id == uuid.UUID(id_or_prefix))
    except ValueError:
        return match
