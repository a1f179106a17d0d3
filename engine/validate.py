"""Small validators shared by every definition (stocks, values, risk rules).

Each raises :class:`~engine.errors.InvalidDefinition` naming the field, the value and what was
expected, so every definition error in Couponlab reads the same way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from engine.errors import InvalidDefinition

E = TypeVar("E", bound=StrEnum)


def require_int(field_name: str, value: object, minimum: int) -> None:
    """``value`` is an ``int`` (not a bool) and at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidDefinition(field_name, value, f"an integer >= {minimum}")


def parse_enum(enum: type[E], field_name: str, value: object) -> E:
    """The member of ``enum`` whose value is the string ``value`` (or ``value`` itself)."""
    if isinstance(value, enum):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidDefinition(field_name, value, f"one of {allowed}") from None
