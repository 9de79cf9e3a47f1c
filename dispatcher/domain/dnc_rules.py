"""What a do-not-call list's description and a batch of numbers for it may be."""

from __future__ import annotations

import re

from dispatcher.domain.errors import ValidationFailed

E164 = re.compile(r"^\+[0-9]{1,15}$")  # how numbers are stored, and the cursor of a page
MAX_BATCH = 1000  # numbers per request; an import of more is sent in batches


def parse_description(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 200
                              or not value.isprintable()):
        raise ValidationFailed("description must be up to 200 printable characters",
                               field="description")
    return value


def parse_numbers(value: object) -> list[str]:
    """The shape only: each number is then checked on its own, and a bad one is reported by
    its index without refusing the rest."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH:
        raise ValidationFailed(f"numbers must be a list of 1-{MAX_BATCH} phone numbers",
                               field="numbers")
    if not all(isinstance(n, str) and len(n) <= 32 for n in value):
        raise ValidationFailed("numbers must be strings of at most 32 characters",
                               field="numbers")
    return value
