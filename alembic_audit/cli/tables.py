"""``alembic-audit tables``: the audited tables the database holds, read from their
installed functions (no models needed).

Example::

    $ alembic-audit tables
    table          audit table         level      rows
    public.order   public.order_audit  statement  3
"""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from ..reflection.inspector import PGAdvancedInspector
from ..sql.quoting import qualify
from .common import Output, connect


def register(commands: Any) -> None:
    """Add ``tables`` to the command line.

    Example::

        register(parser.add_subparsers())
    """
    p = commands.add_parser(
        "tables",
        help="list the audited tables and their audit tables",
        description="The audited tables found in the database (from their installed audit "
        "functions), with their audit tables, level and number of audit rows.",
    )
    p.set_defaults(handler=list_tables)


def list_tables(args: argparse.Namespace, out: Output) -> int:
    with connect(args) as conn:
        catalog = PGAdvancedInspector(conn).reflect()
        rows = []
        for key in sorted(catalog.by_table):
            spec = catalog.by_table[key].spec
            if spec is None:
                continue
            count = conn.execute(
                sa.text(f"SELECT count(*) FROM {qualify(*spec.qualified_audit_table)}")
            ).scalar()
            rows.append(
                {
                    "table": ".".join(spec.qualified_table),
                    "audit_table": ".".join(spec.qualified_audit_table),
                    "level": spec.level,
                    "rows": count,
                }
            )
    out.table(["table", "audit table", "level", "rows"], [list(r.values()) for r in rows])
    out.data(rows)
    return 0


__all__ = ["register"]
