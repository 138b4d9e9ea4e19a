"""Calendar intervals of partitioned audit tables, and the ages retention is given in.

Partitions are whole calendar months, ISO weeks (from Monday) or days **in UTC**, so
that their bounds never depend on the ``TimeZone`` of the session that made them.
Names follow pg_partman's (``_p2025_01``, ``_p2025w03``, ``_p2025_01_31``), so a table
looks the same whichever of the two made its partitions.

Example::

    start = interval_start("month", datetime(2025, 1, 15, tzinfo=timezone.utc))
    start, next_start("month", start)  # 2025-01-01, 2025-02-01 (UTC)
    partition_suffix("month", start)  # '_p2025_01'
    parse_age("90d")  # timedelta(days=90)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import AuditError

UTC = timezone.utc


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken as UTC already.

    Example::

        utc(datetime(2025, 1, 1))  # datetime(2025, 1, 1, tzinfo=timezone.utc)
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def interval_start(by: str, moment: datetime) -> datetime:
    """The start (UTC midnight) of the month, ISO week or day holding ``moment``.

    Example::

        interval_start("week", datetime(2025, 1, 15, 12, tzinfo=timezone.utc))
        # datetime(2025, 1, 13, 0, 0, tzinfo=timezone.utc)  (a Monday)
    """
    moment = utc(moment)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if by == "day":
        return day
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    raise AuditError(f"unknown partition interval {by!r}; use 'month', 'week' or 'day'")


def next_start(by: str, start: datetime) -> datetime:
    """The start of the interval after the one starting at ``start``.

    Example::

        next_start("month", datetime(2025, 12, 1, tzinfo=timezone.utc))
        # datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    """
    if by == "day":
        return start + timedelta(days=1)
    if by == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def intervals(by: str, first: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` consecutive intervals, the first one holding ``first``.

    Example::

        intervals("day", datetime(2025, 1, 1, tzinfo=timezone.utc), 2)
        # [(2025-01-01, 2025-01-02), (2025-01-02, 2025-01-03)]
    """
    start = interval_start(by, first)
    out = []
    for _ in range(count):
        end = next_start(by, start)
        out.append((start, end))
        start = end
    return out


def partition_suffix(by: str, start: datetime) -> str:
    """The end of a partition's name: pg_partman's, for the interval starting at ``start``.

    Example::

        partition_suffix("week", datetime(2025, 1, 13, tzinfo=timezone.utc))  # '_p2025w03'
    """
    if by == "month":
        return start.strftime("_p%Y_%m")
    if by == "week":
        year, week, _ = start.isocalendar()
        return f"_p{year:04d}w{week:02d}"
    return start.strftime("_p%Y_%m_%d")


def bound_literal(moment: datetime) -> str:
    """A partition bound as a SQL literal, in UTC and without a colon (scripts must hold
    no ``:word``): a midnight is its date and zone (``'2025-01-01+00'``), any other
    moment (a bound made by hand) ISO 8601's basic form (``'2025-01-01T101530.000000Z'``).

    Example::

        bound_literal(datetime(2025, 1, 1, tzinfo=timezone.utc))  # "'2025-01-01+00'"
    """
    moment = utc(moment)
    if moment == moment.replace(hour=0, minute=0, second=0, microsecond=0):
        return f"'{moment.strftime('%Y-%m-%d')}+00'"
    return f"'{moment.strftime('%Y-%m-%dT%H%M%S.%f')}Z'"


_AGE = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks|h|hour|hours|y|year|years)\s*$", re.I)
_UNITS = {"d": 1.0, "w": 7.0, "h": 1 / 24, "y": 365.0}


def parse_age(value: str | timedelta) -> timedelta:
    """An age such as ``"90d"``, ``"12w"``, ``"36h"`` or ``"2y"`` (365 days a year).

    Example::

        parse_age("90d")  # timedelta(days=90)
    """
    if isinstance(value, timedelta):
        age = value
    else:
        match = _AGE.match(str(value))
        if match is None:
            raise AuditError(
                f"age {value!r} is not understood; write a number and a unit: 90d (days), "
                "12w (weeks), 36h (hours) or 2y (years of 365 days)"
            )
        age = timedelta(days=int(match.group(1)) * _UNITS[match.group(2)[0].lower()])
    if age <= timedelta(0):
        raise AuditError(f"age {value!r} must be more than zero")
    return age


__all__ = [
    "UTC",
    "bound_literal",
    "interval_start",
    "intervals",
    "next_start",
    "parse_age",
    "partition_suffix",
    "utc",
]
