"""Session setting values: their text form, and whether they fit the setting's column.

A setting travels as text (``set_config`` takes text) and the trigger casts it to the
type of the setting's audit column.  A value that does not fit would fail the write
inside the trigger with a bare PostgreSQL error (``value too long for type character
varying(50)``); :func:`check_values` refuses it in Python first, naming the setting
and the audited table whose column it does not fit.

The check knows each setting's type from the specs of the audited tables defined in
the process (``SessionSetting.type``, PostgreSQL type text) and, for enums, the labels
of the setting's ``Enum`` column.  Types it checks: ``VARCHAR(n)`` / ``CHAR(n)``
(length), ``TEXT`` and unbounded ``VARCHAR`` (anything), ``UUID``, ``SMALLINT`` /
``INTEGER`` / ``BIGINT`` (range), ``NUMERIC(p, s)`` / ``DECIMAL`` (digits before the
point), ``REAL`` / ``FLOAT`` / ``DOUBLE PRECISION``, ``BOOLEAN``, ``DATE``, ``TIME``,
``TIMESTAMP`` (with or without time zone: ISO 8601), ``JSON`` / ``JSONB``, ``INET`` /
``CIDR`` and native enums (the labels).  Anything else (arrays, intervals, domains,
bytea, money, types of your own) is passed through unchecked: PostgreSQL still
refuses a bad value when the trigger casts it.

Example::

    text_value("username", "alice", where="audit_context")  # 'alice'
    check_values({"username": "x" * 60}, where="audit_context")  # AuditError if some
    # audited table stores username as VARCHAR(50)
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Enum, Table

from ..core.constants import OPTIONS_KEY, SPEC
from ..core.errors import AuditError
from ..core.options import table_label
from ..core.spec import AuditSpec, SessionSetting
from ..schema.builder import live_audited_tables, registry_generation

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


def text_value(name: str, value: object, *, where: str) -> str:
    """The text ``set_config`` receives for a Python value; ``None`` becomes ``''`` (unset).

    Example::

        text_value("request_id", uuid.UUID(int=1), where="audit_context")
        # '00000000-0000-0000-0000-000000000001'
    """
    if value is None:
        return ""  # read as unset by the trigger
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; say which setting instead of a driver error.
            raise AuditError(f"{where}: value of {name!r} contains a NUL character")
        return value
    if isinstance(value, (int, float, decimal.Decimal, uuid.UUID, *_IP_TYPES)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(
        f"{where}: value of {name!r} must be str, int, float, Decimal, bool, UUID, date, "
        f"time, datetime, an ipaddress address or network, or None, got {type(value).__name__}"
    )


#: A check of a setting's text value: ``None`` when it fits, else why it does not.
Check = Callable[[str], "str | None"]


def _length(limit: int) -> Check:
    def check(text: str) -> str | None:
        # PostgreSQL cuts trailing spaces that do not fit, and counts characters.
        if len(text) > limit and len(text.rstrip(" ")) > limit:
            return f"{len(text)} characters, at most {limit} fit"
        return None

    return check


_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _integer(bits: int) -> Check:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(text: str) -> str | None:
        if not _INTEGER.fullmatch(text):
            return "not an integer"
        if not low <= int(text) <= high:
            return f"out of range ({low} to {high})"
        return None

    return check


def _number(text: str) -> decimal.Decimal | None:
    # Python reads '1_000'; PostgreSQL (15 and older) does not.
    if "_" in text:
        return None
    try:
        return decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return None


def _numeric(precision: int | None, scale: int) -> Check:
    def check(text: str) -> str | None:
        number = _number(text)
        if number is None:
            return "not a number"
        if precision is None or not number.is_finite():
            return None
        # Rounded to the scale first, as PostgreSQL does (999.995 is 1000.00).
        rounded = number.quantize(decimal.Decimal(1).scaleb(-scale), decimal.ROUND_HALF_UP)
        if len(str(abs(rounded.to_integral_value(decimal.ROUND_DOWN))).lstrip("0")) > (
            precision - scale
        ):
            return f"more than {precision - scale} digits before the decimal point"
        return None

    return check


def _float(smallest: float, largest: float) -> Check:
    def check(text: str) -> str | None:
        number = _number(text)
        if number is None:
            return "not a number"
        if number.is_finite() and number != 0 and not (smallest <= abs(number) <= largest):
            return f"out of range ({smallest:g} to {largest:g} in magnitude)"
        return None

    return check


_REAL = _float(1.4e-45, 3.4028235e38)
_DOUBLE = _float(4.9e-324, 1.7976931348623157e308)

# PostgreSQL's uuid input: 32 hex digits, a hyphen allowed after any group of four,
# the whole optionally in braces.
_UUID = re.compile(r"\s*(\{)?[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}(?(1)\})\s*")


def _uuid(text: str) -> str | None:
    return None if _UUID.fullmatch(text) else "not a UUID"


# PostgreSQL's boolean input: these words, any unique prefix of them, any case.
_BOOL_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")


def _boolean(text: str) -> str | None:
    word = text.strip().lower()
    # Unique prefixes count ('tr', 'of'); 'o' is ambiguous (on, off), '1' and '0' only whole.
    matches = [w for w in _BOOL_WORDS if word and w.startswith(word)]
    if word in _BOOL_WORDS or (len(matches) == 1 and len(matches[0]) > 1):
        return None
    return "not a boolean (true, false, yes, no, on, off, 1, 0)"


# ISO 8601 as datetime.isoformat() writes it and PostgreSQL reads it; PostgreSQL reads
# more (words, other orders), which is refused here on purpose: give a date or datetime.
_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_TIME = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
_ZONE = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)"
_ISO_TIMESTAMP = re.compile(rf"\s*{_DATE}(?:[T ]{_TIME}\s*{_ZONE}?)?\s*")
_ISO_TIME = re.compile(rf"\s*{_TIME}\s*{_ZONE}?\s*")


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _valid_time(hour: str | None, minute: str | None, second: str | None) -> bool:
    return hour is None or (int(hour) < 24 and int(minute or 0) < 60 and int(second or 0) < 60)


def _timestamp_of(what: str) -> Check:
    def check(text: str) -> str | None:
        found = _ISO_TIMESTAMP.fullmatch(text)
        if found and _valid_date(*found.groups()[:3]) and _valid_time(*found.groups()[3:]):
            return None
        return f"not an ISO 8601 {what} (give a {what} object or its isoformat())"

    return check


def _time(text: str) -> str | None:
    found = _ISO_TIME.fullmatch(text)
    if found and _valid_time(*found.groups()):
        return None
    return "not an ISO 8601 time (give a time object or its isoformat())"


def _refuse_constant(name: str) -> object:
    raise ValueError(name)


def _json(text: str) -> str | None:
    try:
        # NaN and Infinity are Python's extensions of JSON; PostgreSQL refuses them.
        json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return "not JSON"
    return None


def _inet(text: str) -> str | None:
    try:
        ipaddress.ip_interface(text.strip())
    except ValueError:
        return "not an IP address"
    return None


def _cidr(text: str) -> str | None:
    try:
        ipaddress.ip_network(text.strip())
    except ValueError:
        return "not an IP network (host bits must be zero)"
    return None


def _labels(labels: tuple[str, ...]) -> Check:
    def check(text: str) -> str | None:
        if text not in labels:
            return f"not one of the enum's labels {list(labels)}"
        return None

    return check


_FIXED: dict[str, Check] = {
    "SMALLINT": _integer(16),
    "INT2": _integer(16),
    "INTEGER": _integer(32),
    "INT": _integer(32),
    "INT4": _integer(32),
    "BIGINT": _integer(64),
    "INT8": _integer(64),
    "REAL": _REAL,
    "FLOAT4": _REAL,
    "FLOAT": _DOUBLE,
    "FLOAT8": _DOUBLE,
    "DOUBLE PRECISION": _DOUBLE,
    "UUID": _uuid,
    "BOOLEAN": _boolean,
    "BOOL": _boolean,
    # PostgreSQL reads a date from a timestamp's text too (the time is dropped).
    "DATE": _timestamp_of("date"),
    "TIMESTAMP": _timestamp_of("datetime"),
    "TIMESTAMP WITHOUT TIME ZONE": _timestamp_of("datetime"),
    "TIMESTAMP WITH TIME ZONE": _timestamp_of("datetime"),
    "TIMESTAMPTZ": _timestamp_of("datetime"),
    "TIME": _time,
    "TIME WITHOUT TIME ZONE": _time,
    "TIME WITH TIME ZONE": _time,
    "TIMETZ": _time,
    "JSON": _json,
    "JSONB": _json,
    "INET": _inet,
    "CIDR": _cidr,
}

_LENGTH = re.compile(
    r"(VARCHAR|CHARACTER VARYING|CHAR|CHARACTER|NCHAR|NATIONAL CHARACTER|BPCHAR)"
    r"(?:\s*\(\s*(\d+)\s*\))?(?:\s+COLLATE\s+.*)?"
)
_NUMERIC = re.compile(r"(?:NUMERIC|DECIMAL)(?:\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?")
_TIME_PRECISION = re.compile(r"\s*\(\s*\d+\s*\)")


def check_for_type(type_text: str, enum_labels: tuple[str, ...] | None = None) -> Check | None:
    """The check of a PostgreSQL type (as ``SessionSetting.type`` spells it), or ``None``
    when values of that type are not checked.

    Example::

        check_for_type("VARCHAR(3)")("abcd")  # '4 characters, at most 3 fit'
        check_for_type("INTERVAL")  # None: not checked
    """
    if enum_labels is not None:
        return _labels(enum_labels)
    text = " ".join(type_text.upper().split())
    length = _LENGTH.fullmatch(text)
    if length:
        kind, limit = length.groups()
        if limit is not None:
            return _length(int(limit))
        # CHAR without a length is character(1); VARCHAR without one has no limit.
        return None if kind.startswith("VARCHAR") or "VARYING" in kind else _length(1)
    if text == "TEXT":
        return None
    numeric = _NUMERIC.fullmatch(text)
    if numeric:
        precision, scale = numeric.groups()
        return _numeric(int(precision) if precision else None, int(scale or 0))
    if text.startswith("FLOAT("):
        return _FIXED["FLOAT"]
    # TIMESTAMP(3) WITH TIME ZONE: the fractional precision does not limit the input.
    return _FIXED.get(_TIME_PRECISION.sub("", text))


@dataclass(frozen=True)
class _SettingCheck:
    table: str
    type: str
    check: Check


def _enum_labels(table: Table, setting: SessionSetting) -> tuple[str, ...] | None:
    options = table.info.get(OPTIONS_KEY) or {}
    for column in options.get("session_settings") or ():
        if getattr(column, "name", None) == setting.name and isinstance(column.type, Enum):
            # Native enums only: a non-native Enum is a VARCHAR with a CHECK elsewhere.
            return tuple(column.type.enums) if column.type.native_enum else None
    return None


_cache: tuple[object, dict[str, tuple[_SettingCheck, ...]]] | None = None


def _checks() -> dict[str, tuple[_SettingCheck, ...]]:
    """Checks per setting name (lower case: PostgreSQL folds setting names), over every
    live audited table; rebuilt when a table is audited or collected."""
    global _cache
    key = registry_generation()
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    checks: dict[str, list[_SettingCheck]] = {}
    for table in live_audited_tables():
        # The spec as last built: options edited since (valid or not) are the models'
        # business until something syncs them, not a reason to refuse a value here.
        spec = table.info.get(SPEC)
        if not isinstance(spec, AuditSpec):
            continue
        for setting in spec.session_settings:
            check = check_for_type(setting.type, _enum_labels(table, setting))
            if check is not None:
                checks.setdefault(setting.name.lower(), []).append(
                    _SettingCheck(table_label(table), setting.type, check)
                )
    built = {name: tuple(found) for name, found in checks.items()}
    _cache = (key, built)
    return built


def check_values(values: Mapping[str, str], *, where: str) -> None:
    """Refuse a value that does not fit its setting's column in some audited table.

    ``values`` are text values (:func:`text_value`); ``''`` (unset) always fits.  The
    error names the setting, the table and the type, e.g. ``audit_context: value of
    'username' does not fit VARCHAR(50), the type of audit.username in table
    'product' (60 characters, at most 50 fit)``.

    Example::

        check_values({"request_id": "not-a-uuid"}, where="audit_context")  # AuditError
    """
    if not values:
        return
    checks = _checks()
    for name, text in values.items():
        if not text:
            continue
        for found in checks.get(name.lower(), ()):
            problem = found.check(text)
            if problem is not None:
                shown = text if len(text) <= 40 else text[:37] + "..."
                raise AuditError(
                    f"{where}: value {shown!r} of setting {name!r} does not fit {found.type}, "
                    f"the type of audit.{name} in table {found.table!r} ({problem}); "
                    "pass a value of that type"
                )


__all__ = ["Check", "check_for_type", "check_values", "text_value"]
