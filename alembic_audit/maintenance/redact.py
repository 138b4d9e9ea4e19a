"""Erasure of personal data from history (GDPR): :func:`redact`.

Every audit row of one key loses the values of the named columns: NULL, or a keyed
SHA-256 of the value (equal values stay equal within one key, so a change is still
visible without the value).  It is recorded in the audit-maintenance log (the key, the
columns, how many rows), and the log row is what lets the ``UPDATE`` past the
append-only guard, in that transaction only: for every other statement, and every other
role, the audit table stays append-only.

Erase the live row first (delete or update it): that change is audited too, and its
audit row holds the values, until ``redact`` runs.

Example::

    with engine.begin() as conn:
        conn.execute(customer.delete().where(customer.c.id == 42))
    alembic_audit.redact(engine, "customer", 42, columns=["email", "phone"])
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from ..core.constants import RESERVED_COLUMNS
from ..core.errors import AuditError
from ..core.spec import AuditSpec
from ..reflection.inspector import PGAdvancedInspector
from ..sql.maintenance import advisory_lock_query
from ..sql.rows import count_query, hash_sql, key_predicate, redact_query
from .log import LogEntry, setting_names, write_log
from .session import audit_targets, connected

MODES = ("null", "hash")


@dataclass(frozen=True)
class RedactReport:
    """What :func:`redact` did.

    Example::

        RedactReport("public.customer_audit", {"id": 42}, ("email",), 3, "null", 17)
    """

    audit_table: str
    key: dict[str, Any]
    columns: tuple[str, ...]
    rows: int
    mode: str
    log_id: int


def _key(spec: AuditSpec, pk: object) -> dict[str, Any]:
    where = f"redact({'.'.join(spec.qualified_table)!r})"
    if not spec.primary_key:
        raise AuditError(f"{where}: the table has no primary key, so no row's history can be named")
    if not set(spec.primary_key) <= set(spec.column_names):
        raise AuditError(f"{where}: the audit table does not copy every primary key column")
    if isinstance(pk, Mapping):
        if set(pk) != set(spec.primary_key):
            raise AuditError(
                f"{where}: the key must give exactly the primary key columns "
                f"{list(spec.primary_key)}, got {sorted(map(str, pk))}"
            )
        return {c: pk[c] for c in spec.primary_key}
    values = tuple(pk) if isinstance(pk, (tuple, list)) else (pk,)
    if len(values) != len(spec.primary_key):
        raise AuditError(
            f"{where}: the primary key is {list(spec.primary_key)}; give one value per column "
            f"(a tuple, or a dict), got {pk!r}"
        )
    return dict(zip(spec.primary_key, values, strict=True))


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def redact(
    bind: Engine | Connection,
    table: str | Table | AuditSpec,
    pk: object,
    columns: Sequence[str],
    *,
    mode: str = "null",
    hash_key: str | bytes | None = None,
    note: str | None = None,
) -> RedactReport:
    """Replace the values of ``columns`` in every audit row of the key ``pk`` of ``table``
    (an audited table's name, ``Table`` or spec; ``pk`` a value, a tuple in primary key
    order, or a dict) with NULL (``mode="null"``) or a hash (``mode="hash"``: the hex
    SHA-256 of ``hash_key`` + the value, for text, ``varchar`` (cut to its length),
    ``json``/``jsonb`` and ``bytea`` columns; without ``hash_key`` a random one is used
    and forgotten).  One transaction, recorded in the audit-maintenance log.

    ``columns`` are columns the audit table copies, or session setting columns
    (``audit_username``); not the primary key (it names the history) and not the audit
    table's own columns.  Runs as the owner of the audit table.

    Example::

        alembic_audit.redact(engine, "customer", 42, columns=["email"], mode="hash")
    """
    if mode not in MODES:
        raise AuditError(f"redact: mode must be one of {list(MODES)}, got {mode!r}")
    if isinstance(columns, str) or not columns:
        raise AuditError(
            f"redact: columns must be a non-empty list of column names, got {columns!r}"
        )
    with connected(bind) as work:
        (target,) = audit_targets(work.conn, [table], caller="redact")
        spec = target.spec
        where = f"redact({'.'.join(spec.qualified_table)!r})"
        key = _key(spec, pk)
        types = dict(PGAdvancedInspector(work.conn).column_types(*spec.qualified_audit_table))
        allowed = (set(spec.column_names) | {s.column_name for s in spec.session_settings}) - set(
            spec.primary_key
        )
        assignments: list[tuple[str, str]] = []
        for column in dict.fromkeys(columns):
            if column in spec.primary_key:
                raise AuditError(
                    f"{where}: column {column!r} is part of the primary key, which names the "
                    "history; it cannot be redacted"
                )
            if column in RESERVED_COLUMNS or column not in allowed or column not in types:
                raise AuditError(
                    f"{where}: no column {column!r} to redact; the audit table's data columns "
                    f"are {sorted(c for c in allowed if c in types)}"
                )
            if mode == "null":
                assignments.append((column, "NULL"))
                continue
            expr = hash_sql(column, types[column])
            if expr is None:
                raise AuditError(
                    f"{where}: column {column!r} is {types[column]}, which cannot hold a hash "
                    "(text, varchar, json, jsonb and bytea can); use mode='null'"
                )
            assignments.append((column, expr))
        key_types = [(c, types[c]) for c in spec.primary_key]
        params: dict[str, Any] = {f"key_{n}": value for n, value in enumerate(key.values())}
        if mode == "hash":
            secret = hash_key if hash_key is not None else secrets.token_bytes(32)
            params["hash_key"] = secret.encode("utf-8") if isinstance(secret, str) else secret
        with work.unit() as conn:
            conn.execute(
                advisory_lock_query("alembic_audit prune " + ".".join(spec.qualified_audit_table))
            )
            rows = int(
                conn.execute(
                    count_query(spec.qualified_audit_table, key_predicate(key_types)), params
                ).scalar()
                or 0
            )
            log_id = write_log(
                conn,
                LogEntry(
                    "redact",
                    spec.qualified_audit_table,
                    relation=".".join(spec.qualified_audit_table),
                    row_count=rows,
                    destination=mode,
                    row_key={c: _json_value(v) for c, v in key.items()},
                    columns=[c for c, _ in assignments],
                    note=note,
                ),
                settings=setting_names(spec),
            )
            changed = conn.execute(
                redact_query(spec.qualified_audit_table, assignments, key_types), params
            ).rowcount
            if changed != rows:
                raise RuntimeError(
                    f"{where}: counted {rows} audit rows of the key, changed {changed}"
                )
    return RedactReport(
        ".".join(spec.qualified_audit_table),
        key,
        tuple(c for c, _ in assignments),
        rows,
        mode,
        log_id,
    )


__all__ = ["MODES", "RedactReport", "redact"]
