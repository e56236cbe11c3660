"""Search filters: validated from request JSON into a small condition tree both stores translate.

Request form: ``{"lang": "en", "tags": ["a", "b"], "year": {"gte": 2020}, "page": 3}``. A list
matches any of its values; an object is a numeric range. Built-in fields (``document_id``,
``source``, ``section``, ``page``) filter chunk payload; every other key filters the metadata the
document was ingested with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ragfleet.errors import InvalidFilterError

BUILTIN_FIELDS = frozenset({"document_id", "source", "section", "page"})
RANGE_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
MAX_CONDITIONS = 16
MAX_VALUES = 256
_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")

Scalar = str | int | bool


@dataclass(frozen=True, slots=True)
class Match:
    """The field equals one of ``values`` (for list fields: contains one of them)."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True, slots=True)
class Exclude:
    """The field equals none of ``values``."""

    key: str
    values: tuple[Scalar, ...]


Condition = Match | Range | Exclude


def payload_key(key: str) -> str:
    return key if key in BUILTIN_FIELDS else f"meta.{key}"


def _scalar(key: str, value: Any) -> Scalar:
    if isinstance(value, bool | int | str) and not (isinstance(value, str) and len(value) > 512):
        return value
    raise InvalidFilterError(
        f"filter {key!r}: values must be strings (up to 512 characters), integers or booleans"
    )


def _range(key: str, spec: dict[str, Any]) -> Range:
    unknown = set(spec) - RANGE_OPERATORS
    if unknown or not spec:
        raise InvalidFilterError(
            f"filter {key!r}: a range takes gt, gte, lt or lte, got {sorted(spec) or 'nothing'}"
        )
    bounds: dict[str, float] = {}
    for op, value in spec.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFilterError(f"filter {key!r}: {op} needs a number, got {value!r}")
        bounds[op] = float(value)
    return Range(payload_key(key), **bounds)


def parse_filters(raw: dict[str, Any] | None) -> list[Condition]:
    """Validate request filters; raise ``InvalidFilterError`` naming the offending key."""
    if not raw:
        return []
    if len(raw) > MAX_CONDITIONS:
        raise InvalidFilterError(f"at most {MAX_CONDITIONS} filter keys are allowed")
    conditions: list[Condition] = []
    for key, value in raw.items():
        if not _KEY.fullmatch(key):
            raise InvalidFilterError(
                f"filter key {key!r} must be 1-64 characters of letters, digits and '_'"
            )
        if isinstance(value, dict):
            conditions.append(_range(key, value))
        elif isinstance(value, list):
            if not value or len(value) > MAX_VALUES:
                raise InvalidFilterError(f"filter {key!r}: give 1 to {MAX_VALUES} values")
            conditions.append(Match(payload_key(key), tuple(_scalar(key, v) for v in value)))
        else:
            conditions.append(Match(payload_key(key), (_scalar(key, value),)))
    return conditions
