"""search_path hijack: a writer shadowing every name the trigger function uses, in a
schema of its own placed first on its search_path and in pg_temp, changes nothing.

The trigger function runs as its owner (SECURITY DEFINER), so any of the writer's
code it could be tricked into running would run with the owner's rights; every
decoy here logs ``current_user`` to ``evil.log`` when called, and the audit rows are
compared value by value.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy import Column, Enum, Integer, MetaData, String, Table, Uuid
from sqlalchemy.engine import Connection

from alembic_audit import grant_audit_access, install_audit_triggers, set_session_vars

if TYPE_CHECKING:
    from tests.fixtures.roles import Roles


AUDIT_COLS = (
    "(id integer, name varchar, audit_operation varchar(1), "
    "audit_operation_timestamp timestamptz, audit_current_user varchar, "
    "audit_username varchar, audit_mood text, audit_request uuid)"
)

# Decoys for every function, operator and relation name the function body uses.  Each
# function logs who ran it; tables shadow the audit table and the transition tables.
DECOYS = """
-- Visible to the function's owner too: without USAGE it would skip the schema.
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.log (who text, what text);
GRANT INSERT ON evil.log TO PUBLIC;
CREATE FUNCTION evil.logit(what text) RETURNS boolean LANGUAGE sql AS
  $$ INSERT INTO evil.log VALUES (current_user, what) RETURNING true $$;
GRANT EXECUTE ON FUNCTION evil.logit(text) TO PUBLIC;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('now') THEN timestamptz '2000-01-01' END $$;
CREATE FUNCTION evil.current_setting(text, boolean) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('current_setting') THEN 'forged' END $$;
CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('current_setting1') THEN 'forged' END $$;
CREATE FUNCTION evil.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('format') THEN 'forged' END $$;
CREATE FUNCTION evil.record_image_ne(record, record) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RETURN CASE WHEN evil.logit('record_image_ne') THEN false END; END $$;
CREATE FUNCTION evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('=') THEN false END $$;
CREATE FUNCTION evil.textne(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('<>') THEN false END $$;
CREATE FUNCTION evil.int4eq(integer, integer) RETURNS boolean LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('int=') THEN false END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.textne);
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.int4eq);
CREATE TABLE evil.item_audit AUDIT_COLS;
CREATE TABLE evil.audit_new (LIKE public.item);
CREATE TABLE evil.audit_old (LIKE public.item);
CREATE DOMAIN evil.mood AS text CHECK (evil.logit('domain ' || VALUE));
CREATE DOMAIN evil.uuid AS pg_catalog.uuid CHECK (evil.logit('domain uuid'));
CREATE DOMAIN evil.int4 AS pg_catalog.int4 CHECK (evil.logit('domain int4'));
"""

# The same in the writer's temporary schema, which a SECURITY DEFINER function with
# pg_temp last on its path still searches for relations and types.
TEMP_DECOYS = """
CREATE TEMP TABLE item_audit AUDIT_COLS;
CREATE TEMP TABLE audit_new (LIKE public.item);
CREATE TEMP TABLE audit_old (LIKE public.item);
INSERT INTO audit_new VALUES (666, 'forged');
INSERT INTO audit_old VALUES (666, 'forged');
CREATE DOMAIN pg_temp.mood AS text CHECK (evil.logit('temp domain ' || VALUE));
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (evil.logit('temp domain uuid'));
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('temp now') THEN timestamptz '2000-01-01' END $$;
CREATE FUNCTION pg_temp.current_setting(text, boolean) RETURNS text LANGUAGE sql AS
  $$ SELECT CASE WHEN evil.logit('temp current_setting') THEN 'forged' END $$;
SET search_path = pg_temp, evil, public, pg_catalog;
"""

DECOYS = DECOYS.replace("AUDIT_COLS", AUDIT_COLS)
TEMP_DECOYS = TEMP_DECOYS.replace("AUDIT_COLS", AUDIT_COLS)


def make_model(level: str) -> tuple[MetaData, Table, Table]:
    md = MetaData()
    item = Table(
        "item",
        md,
        Column("id", Integer, primary_key=True),
        Column("name", String),
        info={
            "audit.options": {
                "enabled": True,
                "level": level,
                "skip_unchanged": True,  # exercises record_image_ne and the key join
                "session_settings": [
                    Column("username", String, nullable=False),
                    # Types of their own and built-in ones, both shadowed by the
                    # writer's logging domains (mood, uuid) below.
                    Column("mood", Enum("happy", "sad", name="mood")),
                    Column("request", Uuid),
                ],
            }
        },
    )
    return md, item, md.tables["item_audit"]


REQUEST = uuid.UUID("12345678-1234-5678-1234-567812345678")


def _now(conn: Connection) -> object:
    return conn.exec_driver_sql("SELECT pg_catalog.now()").scalar()


@pytest.mark.parametrize("level", ["row", "statement"])
def test_shadowing_names_on_the_search_path_and_in_pg_temp_changes_nothing(
    roles: Roles, level: str
) -> None:
    owner = roles.create("owner")
    writer = roles.create("writer")
    su = roles.superuser_engine()
    with su.begin() as conn:
        conn.exec_driver_sql(f'GRANT CREATE, USAGE ON SCHEMA public TO "{owner}"')
        conn.exec_driver_sql(f'CREATE SCHEMA evil AUTHORIZATION "{writer}"')
    md, item, audit = make_model(level)
    owner_engine = roles.engine(owner)
    with owner_engine.begin() as conn:
        md.create_all(conn)
        install_audit_triggers(md, conn)
        grant_audit_access(md, writer, conn)
        conn.exec_driver_sql(f'GRANT USAGE ON TYPE public.mood TO "{writer}"')
        conn.exec_driver_sql(f'GRANT TRUNCATE ON public.item TO "{writer}"')

    expected: list[tuple[object, ...]] = []
    with roles.engine(writer).connect() as conn:
        conn.exec_driver_sql(DECOYS)
        conn.exec_driver_sql(TEMP_DECOYS)
        conn.commit()
        assert conn.exec_driver_sql("SELECT current_schemas(true)").scalar()[:2] == [
            conn.exec_driver_sql(
                "SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()"
            ).scalar(),
            "evil",
        ]
        conn.rollback()
        with conn.begin():
            set_session_vars(conn, username="alice", mood="happy", request=REQUEST)
            conn.execute(item.insert().values([{"id": 1, "name": "a"}, {"id": 2, "name": "B"}]))
            now = _now(conn)
            expected += [
                ("I", 1, "a", now, "alice", "happy", REQUEST),
                ("I", 2, "B", now, "alice", "happy", REQUEST),
            ]
        with conn.begin():
            set_session_vars(conn, username="bob", mood="sad", request=REQUEST)
            # The writer's own statements avoid = and <>: on its path they are the decoys.
            # Row 1 changes, row 2 ('B') does not and is skipped (skip_unchanged).
            conn.execute(item.update().values(name=sa.func.upper(item.c.name)))
            now = _now(conn)
            expected.append(("U", 1, "A", now, "bob", "sad", REQUEST))
        with conn.begin():
            set_session_vars(conn, username="carol")
            conn.execute(item.delete().where(item.c.id > 1))
            now = _now(conn)
            expected.append(("D", 2, "B", now, "carol", None, None))
        with conn.begin():
            set_session_vars(conn, username="dave", request=REQUEST)
            conn.exec_driver_sql("TRUNCATE public.item")
            now = _now(conn)
            expected.append(("T", None, None, now, "dave", None, REQUEST))
        assert conn.exec_driver_sql("SELECT count(*) FROM evil.item_audit").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_temp.item_audit").scalar() == 0

    with su.connect() as conn:
        assert conn.exec_driver_sql("SELECT * FROM evil.log").all() == []
        found = conn.execute(
            sa.select(
                audit.c.audit_operation,
                audit.c.id,
                audit.c.name,
                audit.c.audit_operation_timestamp,
                audit.c.audit_username,
                audit.c.audit_mood,
                audit.c.audit_request,
                audit.c.audit_current_user,
            )
        ).all()
    assert sorted((tuple(r[:7]) for r in found), key=repr) == sorted(expected, key=repr)
    assert {r[7] for r in found} == {writer}
