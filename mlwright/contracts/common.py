"""Types shared by several contracts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=365)
_DURATION_HELP = "a duration like 90s, 10m, 72h, 2d or ISO 8601 (P2D)"
_TIMEDELTA = TypeAdapter(timedelta)


def _parse_duration(value: object) -> object:
    """Accept "90s", "10m", "72h", "2d" besides what pydantic takes (seconds, ISO 8601).

    Bounds are checked on the number before a timedelta is built: "99999999999d" would otherwise
    raise OverflowError, which pydantic does not turn into a validation error.
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return _bounded_seconds(float(match[1]) * _UNIT_SECONDS[match[2]], value)
        try:
            return _TIMEDELTA.validate_python(value)
        except ValidationError as e:  # pydantic's own words here are about ISO 8601 internals
            raise ValueError(f"expected {_DURATION_HELP}, got {value!r}") from e
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounded_seconds(float(value), value)
    return value


def _bounded_seconds(seconds: float, shown: object) -> timedelta:
    if seconds != seconds:  # NaN
        raise ValueError(f"expected {_DURATION_HELP}, got {shown!r}")
    if seconds < 0:
        raise ValueError(f"must not be negative, got {shown!r} (expected {_DURATION_HELP})")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"must be at most 365 days, got {shown!r}")
    return timedelta(seconds=seconds)


def _within_bounds(value: timedelta) -> timedelta:
    # ISO 8601 strings and timedelta objects skip _parse_duration's arithmetic: bound them here.
    if value < timedelta(0):
        raise ValueError(f"must not be negative (expected {_DURATION_HELP})")
    if value > MAX_DURATION:
        raise ValueError("must be at most 365 days")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be positive (expected {_DURATION_HELP})")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_within_bounds)]
"""A span of time between 0 and 365 days: "90s", "10m", "72h", "2d", ISO 8601 or seconds."""

PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
"""A Duration that must be more than zero (a timeout, a watch window)."""

ModelName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        description="Registry name: lowercase letters, digits, '_', '.', '-'; at most 64 characters.",
    ),
]


class Contract(BaseModel):
    """Base of every contract: unknown fields are errors, so a typo in CLI JSON is named."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field by its JSON path: what a CLI user needs."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


TagValue = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]


class Tags(Contract):
    """Who a run is for: copied onto every step-ledger row of the run (cost attribution).

    Operator-chosen labels, never data: the pattern keeps them to short identifiers.
    """

    team: TagValue | None = None
    project: TagValue | None = None
