"""Do-not-call lists and their numbers (E.164, like contacts and calls)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from dispatcher.adapters.db.tables import DncListRow, DncNumberRow


class DncRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_list(self, row: DncListRow) -> None:
        self.session.add(row)
        self.session.flush()

    def lists(self) -> list[tuple[DncListRow, int]]:
        stmt = (select(DncListRow, func.count(DncNumberRow.number))
                .outerjoin(DncNumberRow).group_by(DncListRow.id).order_by(DncListRow.name))
        return [(row, int(n)) for row, n in self.session.execute(stmt)]

    def by_name(self, name: str) -> DncListRow | None:
        return self.session.scalars(select(DncListRow).where(DncListRow.name == name)).first()

    def existing(self, names: Sequence[str]) -> set[str]:
        if not names:
            return set()
        return set(self.session.scalars(select(DncListRow.name)
                                        .where(DncListRow.name.in_(names))))

    def add_numbers(self, list_id: uuid.UUID, numbers: Sequence[str]) -> int:
        if not numbers:
            return 0
        result = self.session.execute(
            text("INSERT INTO dnc_numbers (list_id, number) SELECT :l, unnest(:n) "
                 "ON CONFLICT DO NOTHING"), {"l": list_id, "n": list(numbers)})
        return int(result.rowcount)  # type: ignore[attr-defined]

    def remove_number(self, list_id: uuid.UUID, number: str) -> bool:
        result = self.session.execute(
            text("DELETE FROM dnc_numbers WHERE list_id = :l AND number = :n"),
            {"l": list_id, "n": number})
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def numbers(self, list_id: uuid.UUID, limit: int, after: str | None) -> list[str]:
        stmt = select(DncNumberRow.number).where(DncNumberRow.list_id == list_id)
        if after:
            stmt = stmt.where(DncNumberRow.number > after)
        return list(self.session.scalars(stmt.order_by(DncNumberRow.number).limit(limit)))

    def contains(self, list_id: uuid.UUID, number: str) -> bool:
        stmt = select(DncNumberRow.number).where(DncNumberRow.list_id == list_id,
                                                 DncNumberRow.number == number)
        return self.session.scalars(stmt).first() is not None

    def on_lists(self, list_names: Sequence[str], numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on any of the named lists."""
        if not list_names or not numbers:
            return set()
        stmt = (select(DncNumberRow.number).join(DncListRow)
                .where(DncListRow.name.in_(list_names), DncNumberRow.number.in_(numbers)))
        return set(self.session.scalars(stmt))
