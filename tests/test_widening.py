"""Widen only: the type an audit column keeps, decided from PostgreSQL type text.

The left side is what ``format_type`` says the audit column is, the right side what
SQLAlchemy compiles the audited column's new type to.  Every "holds" here is an implicit
or assignment cast in PostgreSQL (checked against the server in
test_widening_decisions_hold_on_the_server).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic_audit.core.widening import audit_column_type, parse_type
from alembic_audit.types import type_text

CASES = [
    # found (format_type), wanted (SQLAlchemy type), decision, type the audit column gets
    ("character varying(200)", sa.String(20), "keep", None),
    ("character varying(20)", sa.String(200), "widen", "VARCHAR(200)"),
    ("character varying(20)", sa.Text(), "widen", "TEXT"),
    ("character varying(20)", sa.String(), "widen", "VARCHAR"),
    ("text", postgresql.UUID(), "keep", None),
    ("character varying", sa.Integer(), "keep", None),
    ("integer", sa.BigInteger(), "widen", "BIGINT"),
    ("bigint", sa.Integer(), "keep", None),
    ("integer", sa.Numeric(), "widen", "NUMERIC"),
    ("integer", sa.Numeric(12, 2), "widen", "NUMERIC(12, 2)"),
    ("integer", sa.Numeric(5, 2), "widen", "NUMERIC(12, 2)"),
    ("numeric(10,2)", sa.Numeric(12, 2), "widen", "NUMERIC(12, 2)"),
    ("numeric(10,2)", sa.Numeric(10, 3), "widen", "NUMERIC(11, 3)"),
    ("numeric(12,2)", sa.Numeric(10, 2), "keep", None),
    ("numeric", sa.Numeric(10, 2), "keep", None),
    ("real", sa.Float(), "widen", "FLOAT"),
    ("double precision", sa.Float(), "same", None),
    ("double precision", sa.Integer(), "keep", None),
    ("double precision", sa.BigInteger(), "text", "TEXT"),
    (
        "timestamp without time zone",
        sa.DateTime(timezone=True),
        "widen",
        "TIMESTAMP WITH TIME ZONE",
    ),
    ("timestamp with time zone", sa.DateTime(), "keep", None),
    (
        "timestamp(3) with time zone",
        sa.DateTime(timezone=True),
        "widen",
        "TIMESTAMP WITH TIME ZONE",
    ),
    ("date", sa.DateTime(), "widen", "TIMESTAMP WITHOUT TIME ZONE"),
    ("timestamp without time zone", sa.Date(), "keep", None),
    ("jsonb", sa.JSON(), "widen", "JSON"),
    ("json", postgresql.JSONB(), "keep", None),
    ("character varying(30)[]", postgresql.ARRAY(sa.String(30)), "same", None),
    ("character varying(30)[]", postgresql.ARRAY(sa.String(60)), "widen", "VARCHAR(60)[]"),
    ("integer[]", postgresql.ARRAY(sa.BigInteger(), dimensions=2), "widen", "BIGINT[][]"),
    ("integer", postgresql.ARRAY(sa.Integer()), "text", "TEXT"),
    ("character(3)", sa.String(10), "widen", "VARCHAR(10)"),
    ("integer", postgresql.UUID(), "text", "TEXT"),
    ("integer", sa.String(10), "text", "TEXT"),
    ("uuid", postgresql.UUID(), "same", None),
    ("citext", postgresql.CITEXT(), "same", None),
    ("core.account_status", sa.Enum("a", name="account_status", schema="core"), "same", None),
    ('"Status"', sa.Enum("a", name="Status"), "same", None),
    ("core.account_status", sa.Enum("a", name="other_status", schema="core"), "text", "TEXT"),
]


@pytest.mark.parametrize(("found", "wanted", "change", "result"), CASES)
def test_decisions(
    found: str, wanted: sa.types.TypeEngine, change: str, result: str | None
) -> None:
    decision = audit_column_type(found, type_text(wanted))
    assert (decision.change, decision.type) == (change, result)


def test_both_spellings_parse_alike() -> None:
    pairs = [
        ("character varying(20)", "VARCHAR(20)"),
        ("numeric(10,2)", "NUMERIC(10, 2)"),
        ("timestamp(3) with time zone", "TIMESTAMP(3) WITH TIME ZONE"),
        ("double precision", "FLOAT"),
        ("character(1)", "CHAR"),
        ("integer[]", "INTEGER[][]"),
    ]
    for pg, sqla in pairs:
        assert parse_type(pg) == parse_type(sqla), (pg, sqla)
    assert parse_type('"Status"') != parse_type("status")  # quoted names keep their case


#: Enum cases need their types created first: the app schema tests run those.
SERVER_CASES = [c for c in CASES if "account_status" not in c[0] and "Status" not in c[0]]


@pytest.mark.parametrize(("found", "wanted", "change", "result"), SERVER_CASES)
def test_widening_decisions_hold_on_the_server(
    psycopg_engine: sa.Engine,
    found: str,
    wanted: sa.types.TypeEngine,
    change: str,
    result: str | None,
) -> None:
    """What the decision claims, PostgreSQL does: an audit column of the found type is
    altered (without USING) to the decided type, then takes a value of the new type by
    an assignment cast, as the trigger's INSERT does."""
    new_type = type_text(wanted)
    if "citext" in found:
        try:
            with psycopg_engine.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS citext")
        except sa.exc.DBAPIError:
            pytest.skip("the citext extension is not available (install postgresql-contrib)")
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TEMP TABLE live (v {new_type})")
        conn.exec_driver_sql(f"CREATE TEMP TABLE audit (v {found})")
        if result is not None:
            conn.exec_driver_sql(f"ALTER TABLE audit ALTER COLUMN v TYPE {result}")
        conn.exec_driver_sql("INSERT INTO audit SELECT v FROM live")  # assignment cast
        if change != "same":
            kept = conn.exec_driver_sql(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'audit'::regclass AND attname = 'v'"
            ).scalar()
            expected = found if result is None else parse_type(result).text
            assert parse_type(str(kept)) == parse_type(expected)
