"""``alembic-audit log | show | as-of | revert``: the history API from a shell.

The audited tables and their specs are read from the installed trigger functions,
and their columns and types from the database: no models needed.

- ``log TABLE PK...``: one row's versions with their diffs, like ``git log -p``;
- ``show TRANSACTION_ID``: every change of one transaction, across tables;
- ``as-of TABLE WHEN``: the table's rows at a time (or ``--transaction T``);
- ``revert TRANSACTION_ID [--dry-run] [--force] [--set NAME=VALUE]``.

Example::

    $ alembic-audit log order 7
    $ alembic-audit show 7421 --json
    $ alembic-audit as-of order 2025-01-01T12:00:00+00:00
    $ alembic-audit revert 7421 --dry-run
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import uuid
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.spec import AuditSpec
from ..reading import AuditedTable, Version, as_of, changes, history, revert_transaction
from ..reflection.inspector import PGAdvancedInspector
from ..runtime.session import set_session_vars
from .common import CliError, Output, connect, progress

#: Rows read per page by ``show``.
PAGE = 500


def register(commands: Any) -> None:
    """Add ``log``, ``show``, ``as-of`` and ``revert`` to the command line.

    Example::

        register(parser.add_subparsers())
    """
    p = commands.add_parser(
        "log",
        help="one row's history with diffs",
        description="The versions of one row, oldest first, each with what changed (like "
        "git log -p).  TABLE is [schema.]name; PK gives the key's values in key order, or "
        "as column=value.",
    )
    p.add_argument("table", metavar="TABLE")
    p.add_argument("pk", metavar="PK", nargs="+")
    p.set_defaults(handler=log)

    p = commands.add_parser(
        "show",
        help="every change of one transaction",
        description="Every change one transaction made, across the audited tables, in order.",
    )
    p.add_argument("transaction_id", metavar="TRANSACTION_ID", type=_transaction_id)
    p.set_defaults(handler=show)

    p = commands.add_parser(
        "as-of",
        help="a table's rows at a time",
        description="The rows of TABLE as they were at WHEN (a time PostgreSQL reads, e.g. "
        "2025-01-01T12:00:00+00:00; without an offset, in the session's time zone), or right "
        "after a transaction (--transaction).",
    )
    p.add_argument("table", metavar="TABLE")
    p.add_argument("when", metavar="WHEN", nargs="?")
    p.add_argument("--transaction", type=_transaction_id, help="right after this transaction")
    p.add_argument(
        "--include-unknown",
        action="store_true",
        help="list rows whose state was never recorded (flagged) instead of failing",
    )
    p.set_defaults(handler=show_as_of)

    p = commands.add_parser(
        "revert",
        help="undo one transaction",
        description="Undo one transaction's changes with ordinary INSERT, UPDATE and DELETE "
        "statements (recorded by the triggers like any write), last change first.  Refused "
        "when later transactions changed the same rows, unless --force.",
    )
    p.add_argument("transaction_id", metavar="TRANSACTION_ID", type=_transaction_id)
    p.add_argument("--dry-run", action="store_true", help="print the statements, run nothing")
    p.add_argument("--force", action="store_true", help="revert rows changed later too")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a session setting for the revert's audit rows (e.g. --set username=admin)",
    )
    p.set_defaults(handler=revert)


def _transaction_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a transaction id: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a transaction id: {text!r}")
    return value


# -- finding tables ------------------------------------------------------------------------


def audited_specs(conn: Connection) -> dict[tuple[str, str], AuditSpec]:
    """The specs of the audited tables, read from their installed functions.

    Example::

        audited_specs(conn)[("public", "order")].audit_table_name  # 'order_audit'
    """
    catalog = PGAdvancedInspector(conn).reflect()
    return {k: f.spec for k, f in catalog.by_table.items() if f.spec is not None}


def find_table(conn: Connection, name: str) -> AuditedTable:
    """The audited table ``[schema.]name``, reflected; a clear error otherwise.

    Example::

        find_table(conn, "order").name  # 'public.order'
    """
    specs = audited_specs(conn)
    schema, _, table = name.rpartition(".")
    matches = [k for k in specs if k[1] == table and (not schema or k[0] == schema)]
    if len(matches) > 1:
        shown = ", ".join(".".join(k) for k in sorted(matches))
        raise CliError(f"table {name!r} is ambiguous ({shown}); name its schema")
    if matches:
        return AuditedTable.reflect(conn, specs[matches[0]])
    for spec in specs.values():
        if spec.audit_table_name == table and (not schema or spec.effective_audit_schema == schema):
            raise CliError(
                f"{name!r} is the audit table of {'.'.join(spec.qualified_table)!r}; name "
                "the audited table"
            )
    if sa.inspect(conn).has_table(table, schema=schema or None):
        raise CliError(
            f"table {name!r} is not audited (no audit function names it); "
            "'alembic-audit tables' lists the audited tables"
        )
    raise CliError(f"table {name!r} does not exist")


def all_tables(conn: Connection, out: Output) -> list[AuditedTable]:
    """Every audited table, reflected (a progress bar on a terminal).

    Example::

        [t.name for t in all_tables(conn, out)]  # ['public.order', ...]
    """
    specs = audited_specs(conn)
    if not specs:
        raise CliError("the database has no audited table")
    found = []
    with progress(len(specs), "reading tables") as advance:
        for key in sorted(specs):
            found.append(AuditedTable.reflect(conn, specs[key]))
            advance(1)
    return found


def key_values(conn: Connection, source: AuditedTable, given: list[str]) -> dict[str, Any]:
    """The key from the command line's strings, each cast by PostgreSQL to its column's
    type (``7``, ``id=7``; ``1 2`` or ``order_id=1 product_id=2`` for a composite key).

    Example::

        key_values(conn, source, ["7"])  # {'id': 7}
    """
    columns = source.need_key("log")
    named = dict(g.split("=", 1) for g in given if "=" in g)
    if named:
        if len(named) != len(given) or set(named) != set(columns):
            raise CliError(
                f"the key of {source.name!r} is {', '.join(columns)}: give one value per "
                "column, all as column=value or all in key order"
            )
        texts = [named[c] for c in columns]
    elif len(given) != len(columns):
        raise CliError(
            f"the key of {source.name!r} is {', '.join(columns)} ({len(columns)} value(s)); "
            f"got {len(given)}"
        )
    else:
        texts = given
    key: dict[str, Any] = {}
    for column, text in zip(columns, texts, strict=True):
        type_ = source.audit.c[column].type
        try:
            key[column] = conn.execute(
                sa.select(sa.cast(sa.literal(text, sa.Text), type_))
            ).scalar()
        except sa.exc.DBAPIError:
            raise CliError(
                f"bad key: column {column!r} of {source.name!r} ({type_}) cannot hold {text!r}"
            ) from None
    return key


# -- rendering -----------------------------------------------------------------------------


def literal(value: Any) -> str:
    """A value as the log shows it: ``NULL``, ``'text'``, numbers, ISO times, JSON.

    Example::

        literal("new"), literal(None), literal({"a": 1})  # ("'new'", 'NULL', '{"a": 1}')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if hasattr(value, "value") and hasattr(value, "name"):  # a Python enum
        return literal(value.value)
    return str(value)


OPERATIONS = {"I": "insert", "U": "update", "D": "delete", "T": "truncate", "S": "snapshot"}


def _key_text(key: dict[str, Any]) -> str:
    return " ".join(f"{k}={literal(v)}" for k, v in key.items())


def print_version(out: Output, v: Version) -> None:
    """One version as ``log`` and ``show`` print it: a header, then its diff.

    Example::

        print_version(out, alembic_audit.history(conn, source, {"id": 7})[0])
    """
    where = v.table if v.operation == "T" else f"{v.table} {_key_text(v.key)}"
    header = f"{OPERATIONS.get(v.operation, v.operation)} {where} (audit_id {v.audit_id})"
    out.text(out.paint(header, "yellow"))
    if v.timestamp is not None:
        out.text(f"Date:        {v.timestamp.isoformat()}")
    if v.transaction_id is not None:
        out.text(f"Transaction: {v.transaction_id}")
    out.text(f"User:        {v.user}")
    if v.settings:
        out.text("Settings:    " + "  ".join(f"{k}={literal(x)}" for k, x in v.settings.items()))
    out.text()
    for column, (old, new) in v.changes.items():
        if v.operation in ("U", "S") and old is not None or v.operation in ("D", "T"):
            out.text(out.paint(f"-   {column}: {literal(old)}", "red"))
        if v.operation not in ("D", "T"):
            out.text(out.paint(f"+   {column}: {literal(new)}", "green"))
    out.text()


# -- the commands --------------------------------------------------------------------------


def log(args: argparse.Namespace, out: Output) -> int:
    """``alembic-audit log TABLE PK...``: one row's versions with their diffs.

    Example::

        $ alembic-audit log order 7
    """
    with connect(args) as conn:
        source = find_table(conn, args.table)
        key = key_values(conn, source, args.pk)
        versions = history(conn, source, key)
    if not versions:
        raise CliError(f"{source.name} {_key_text(key)} has no audit rows")
    for v in versions:
        print_version(out, v)
    out.data([v.as_dict() for v in versions])
    return 0


def show(args: argparse.Namespace, out: Output) -> int:
    """``alembic-audit show TRANSACTION_ID``: every change of one transaction.

    Example::

        $ alembic-audit show 7421 --json
    """
    with connect(args) as conn:
        sources = all_tables(conn, out)
        usable = [s for s in sources if s.spec.transaction_id and s.spec.identity]
        left_out = [s.name for s in sources if s not in usable]
        items: list[Version] = []
        cursor = None
        while True:
            page = changes(
                conn, usable, transaction_id=args.transaction_id, after=cursor, limit=PAGE
            )
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    if not items:
        raise CliError(f"transaction {args.transaction_id} wrote no audit row")
    tables = sorted({v.table for v in items})
    out.text(
        out.paint(
            f"transaction {args.transaction_id}: {len(items)} change(s) in {', '.join(tables)}",
            "bold",
        )
    )
    if left_out:
        out.text(out.paint(f"(not searched, no transaction ids: {', '.join(left_out)})", "dim"))
    out.text()
    for v in items:
        print_version(out, v)
    out.data({"transaction_id": args.transaction_id, "changes": [v.as_dict() for v in items]})
    return 0


def show_as_of(args: argparse.Namespace, out: Output) -> int:
    """``alembic-audit as-of TABLE WHEN``: the table's rows at a time, or after a transaction.

    Example::

        $ alembic-audit as-of order 2025-01-01T12:00:00+00:00
    """
    if (args.when is None) == (args.transaction is None):
        raise CliError("as-of: give a time (WHEN) or --transaction, not both")
    unknown: Literal["raise", "include"] = "include" if args.include_unknown else "raise"
    with connect(args) as conn:
        source = find_table(conn, args.table)
        if args.when is not None:
            try:
                when = conn.execute(
                    sa.select(sa.cast(sa.literal(args.when, sa.Text), sa.DateTime(timezone=True)))
                ).scalar_one()
            except sa.exc.DBAPIError:
                raise CliError(
                    f"not a time: {args.when!r} (e.g. 2025-01-01T12:00:00+00:00)"
                ) from None
            q = as_of(source, when, unknown=unknown)
        else:
            q = as_of(source, transaction_id=args.transaction, unknown=unknown)
        columns = list(source.value_columns)
        if args.include_unknown:
            columns.append("audit_state_known")
        query = sa.select(*(q.c[c] for c in columns)).order_by(
            *(q.c[c] for c in source.key_columns)
        )
        rows = [dict(r) for r in conn.execute(query).mappings()]
    out.table(columns, [[r[c] for c in columns] for r in rows])
    out.data(rows)
    return 0


def revert(args: argparse.Namespace, out: Output) -> int:
    """``alembic-audit revert TRANSACTION_ID``: undo one transaction (or print how).

    Example::

        $ alembic-audit revert 7421 --dry-run
    """
    settings: dict[str, str] = {}
    for item in args.settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--set takes NAME=VALUE, got {item!r}")
        settings[name] = value
    with connect(args) as conn:
        sources = [s for s in all_tables(conn, out) if s.spec.transaction_id]
        conn.commit()  # end the reads' transaction: the revert gets one of its own
        with conn.begin() as transaction:
            if settings:
                set_session_vars(conn, **settings)
            writes = revert_transaction(
                conn, args.transaction_id, sources, force=args.force, dry_run=args.dry_run
            )
            if args.dry_run:
                transaction.rollback()
    verb = "would run" if args.dry_run else "ran"
    out.text(
        out.paint(
            f"transaction {args.transaction_id}: {verb} {len(writes)} statement(s)"
            + (" (nothing changed: dry run)" if args.dry_run else ""),
            "bold",
        )
    )
    for w in writes:
        out.text(f"{w.sql};")
    out.data(
        {
            "transaction_id": args.transaction_id,
            "dry_run": args.dry_run,
            "statements": [w.as_dict() for w in writes],
        }
    )
    return 0


__all__ = ["audited_specs", "find_table", "key_values", "literal", "print_version", "register"]
