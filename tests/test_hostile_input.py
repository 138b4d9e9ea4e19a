"""Hostile input, property-based: any schema, table, column and setting name, and any
setting value, either audits correctly or is refused with a ``ValueError`` before any
DDL runs, and nothing in a name or value is ever executed as SQL.

A canary table checks the last point: every injection attempt in the samples tries to
drop it or write into it.  Example counts are modest to keep the suite quick; each
example uses its own schemas, dropped afterwards.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection, Engine

from alembic_audit import install_audit_triggers, set_session_vars
from alembic_audit.sql.marker import spec_from_function_body

HOSTILE = [
    'x"; DROP TABLE public.canary; --',
    "x'); INSERT INTO public.canary VALUES (666); --",
    "$audit$; DROP TABLE public.canary; $audit$",
    "*/ DROP TABLE public.canary; /*",
    "%s",
    "%(x)s",
    ":name",
    "a:b",
    "\\",
    "Mixed Case",
    "select",
    "audit_operation",  # clashes with an audit column: refused
    "é日本語🦆",
    " ",
    "x" * 63,
    "é" * 32,  # 64 bytes: PostgreSQL truncates it, consistently
    "a\x00b",  # NUL: refused
]

_chars = st.characters(blacklist_categories=("Cs",))  # any code point but surrogates
names = st.one_of(st.sampled_from(HOSTILE), st.text(_chars, min_size=1, max_size=12))
# Setting names must be identifiers; mostly valid ones, so most examples get audited.
_identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
setting_names = st.one_of(_identifier, _identifier, _identifier, names)
values = st.one_of(
    st.sampled_from(["'; DROP TABLE public.canary; --", "%s", ":x", "\x00", "", "$$"]),
    st.text(_chars, max_size=30),
    st.none(),
)

_schemas = itertools.count()
HYPOTHESIS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run: no flaky suite
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def canary_engine(psycopg_engine: Engine) -> Engine:
    with psycopg_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE public.canary (n integer)")
        conn.exec_driver_sql("INSERT INTO public.canary VALUES (1)")
    return psycopg_engine


def assert_canary_alive(conn: Connection) -> None:
    assert conn.exec_driver_sql("SELECT array_agg(n) FROM public.canary").scalar() == [1]


def user_objects(conn: Connection) -> int:
    return int(
        conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg%%' "
            "AND n.nspname <> 'information_schema') + (SELECT count(*) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT LIKE 'pg%%' "
            "AND n.nspname <> 'information_schema')"
        ).scalar()
    )


def build(
    schema: str, audit_schema: str, table: str, cols: list[str], setting: str, level: str
) -> MetaData:
    md = MetaData()
    Table(
        table,
        md,
        Column(cols[0], Integer, primary_key=True, autoincrement=False),
        *(Column(c, String) for c in cols[1:]),
        schema=schema,
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "schema": audit_schema,
                "session_settings": [Column(setting, String)],
            }
        },
    )
    return md


def test_any_names_audit_correctly_or_are_refused_before_ddl(canary_engine: Engine) -> None:
    outcomes: Counter[str] = Counter()

    @given(
        schema=names,
        audit_schema=names,
        table=names,
        cols=st.lists(names, min_size=1, max_size=3, unique=True),
        setting=setting_names,
        level=st.sampled_from(["row", "statement"]),
    )
    @HYPOTHESIS
    def check(
        schema: str, audit_schema: str, table: str, cols: list[str], setting: str, level: str
    ) -> None:
        outcomes[
            audit_or_refuse(canary_engine, schema, audit_schema, table, cols, setting, level)
        ] += 1

    check()
    # Both outcomes happen, and most examples go all the way through the database.
    assert outcomes["audited"] >= 10 and outcomes["refused"] >= 1, outcomes


def audit_or_refuse(
    engine: Engine,
    schema: str,
    audit_schema: str,
    table: str,
    cols: list[str],
    setting: str,
    level: str,
) -> str:
    # pg_* schema names are reserved by PostgreSQL itself (CREATE SCHEMA refuses them).
    if schema.startswith("pg_") or audit_schema.startswith("pg_"):
        schema, audit_schema = f"s_{schema}", f"s_{audit_schema}"
    # Fresh schemas per example: suffixing keeps hostile content while avoiding reuse.
    n = next(_schemas)
    schema, audit_schema = f"{schema}{n}"[-63:], f"{audit_schema}{n}a"[-63:]
    try:
        md = build(schema, audit_schema, table, cols, setting, level)
    except ValueError as exc:
        # Refused while defining the table: a message naming the culprit, no DDL.
        assert "table " in str(exc) and ("'" in str(exc) or '"' in str(exc))
        return "refused"

    item = md.tables[f"{schema}.{table}"]
    audit = next(t for t in md.tables.values() if t is not item)
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
        conn.execute(sa.schema.CreateSchema(audit_schema))
        md.create_all(conn)
        install_audit_triggers(md, conn)
        spec = item.info["audit.spec"]
        body = conn.execute(
            sa.text(
                "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = :s AND p.proname = :f"
            ),
            {"s": spec.effective_function_schema, "f": spec.function_name},
        ).scalar_one()
        assert spec_from_function_body(body) == spec  # the embedded spec survives any name
    try:
        key, others = cols[0], cols[1:]
        with engine.begin() as conn:
            set_session_vars(conn, **{setting: "v1"})
            conn.execute(item.insert().values({key: 1, **{c: c for c in others}}))
            conn.execute(item.update().values({key: 2, **{c: "new" for c in others}}))
            conn.execute(item.delete())
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(
                    audit.c.audit_operation,
                    audit.c[key],
                    *(audit.c[c] for c in others),
                    audit.c[f"audit_{setting}"],
                )
            ).all()
            assert_canary_alive(conn)
        expected = {
            ("I", 1, *others, "v1"),
            ("U", 2, *(["new"] * len(others)), "v1"),
            ("D", 2, *(["new"] * len(others)), "v1"),
        }
        assert {tuple(r) for r in found} == expected
        return "audited"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
            conn.execute(sa.schema.DropSchema(audit_schema, cascade=True))


def test_refused_names_leave_no_trace(canary_engine: Engine) -> None:
    with canary_engine.connect() as conn:
        before = user_objects(conn)
    for bad in ("a\x00b", "audit_operation"):
        with pytest.raises(ValueError, match="table 'public.item'"):
            build("public", "public", "item", ["id", bad], "username", "row")
    with pytest.raises(ValueError, match="session setting name"):
        build("public", "public", "item", ["id"], "user name", "row")
    with canary_engine.connect() as conn:
        assert user_objects(conn) == before


@pytest.fixture
def audited(canary_engine: Engine) -> tuple[Engine, Table, Table]:
    md = MetaData()
    item = Table(
        "item",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [Column("who", String), Column("why", String)],
            }
        },
    )
    md.create_all(canary_engine)
    install_audit_triggers(md, canary_engine)
    return canary_engine, item, md.tables["item_audit"]


_ids = itertools.count(1)


@given(who=values, why=values)
@HYPOTHESIS
def test_any_setting_value_is_stored_verbatim_never_executed(
    audited: tuple[Engine, Table, Table], who: Any, why: Any
) -> None:
    engine, item, audit = audited
    id_ = next(_ids)
    if any(isinstance(v, str) and "\x00" in v for v in (who, why)):
        with engine.begin() as conn, pytest.raises(ValueError, match="NUL character"):
            set_session_vars(conn, who=who, why=why)
        return
    with engine.begin() as conn:
        set_session_vars(conn, who=who, why=why)
        conn.execute(item.insert().values(id=id_))
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(audit.c.audit_who, audit.c.audit_why).where(audit.c.id == id_)
        ).one()
        assert_canary_alive(conn)
    # '' and None both mean "unset" (a pooled connection reports '' after SET LOCAL).
    assert tuple(row) == tuple(v or None for v in (who, why))
