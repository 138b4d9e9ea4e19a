"""The audit Table builder and option validation: pure SQLAlchemy, no database needed."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

import alembic_audit
from alembic_audit import AuditSpec, get_audit_spec
from alembic_audit.core.constants import (
    AUDIT_TABLE,
    CREATE_DDL,
    DROP_DDL,
    IS_AUDIT_TABLE,
    IS_AUDITED,
    TARGET_TABLE,
)
from alembic_audit.core.naming import fit_identifier


def audited(name: str, md: sa.MetaData, *cols: sa.Column, schema: str | None = None, **opts):
    return sa.Table(
        name, md, *cols, schema=schema, info={"audit.options": {"enabled": True, **opts}}
    )


def test_audit_table_shape():
    md = sa.MetaData()
    item = audited(
        "item",
        md,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True, server_default="x"),
        sa.Column("price", sa.Numeric(10, 2), sa.CheckConstraint("price > 0")),
        session_settings=[
            sa.Column("username", sa.String(30), nullable=False),
            sa.Column("request_id", UUID),
        ],
    )
    audit = md.tables["item_audit"]
    assert [c.name for c in audit.c] == [
        "id",
        "name",
        "price",
        "audit_id",
        "audit_operation",
        "audit_operation_timestamp",
        "audit_current_user",
        "audit_transaction_id",
        "audit_change_timestamp",
        "audit_username",
        "audit_request_id",
    ]
    assert audit.c.audit_id.identity is not None and not audit.c.audit_id.nullable
    assert audit.c.audit_transaction_id.nullable and audit.c.audit_change_timestamp.nullable
    assert {
        i.name: ([c.name for c in i.columns], i.dialect_options["postgresql"]["using"])
        for i in audit.indexes
    } == {
        "item_audit_row_idx": (["id", "audit_id"], "btree"),
        "item_audit_time_idx": (["audit_change_timestamp", "audit_id"], "btree"),
        "item_audit_transaction_idx": (["audit_transaction_id"], "btree"),
    }
    for name in ("id", "name", "price"):
        col = audit.c[name]
        assert type(col.type) is type(item.c[name].type)
        assert col.nullable and not col.primary_key and col.server_default is None
        assert col.identity is None and not col.unique
    assert str(audit.c.name.type) == "VARCHAR(50)"
    assert audit.c.audit_operation_timestamp.type.timezone is True
    assert not audit.c.audit_operation.nullable
    assert audit.c.audit_username.nullable  # settings stay nullable in the audit table
    assert not audit.constraints - {audit.primary_key} and not audit.primary_key.columns


def test_seed_info_keys_and_spec():
    md = sa.MetaData()
    item = audited("item", md, sa.Column("id", sa.Integer, primary_key=True))
    audit = md.tables["item_audit"]
    assert item.info[IS_AUDITED] is True
    assert audit.info[IS_AUDIT_TABLE] is True
    assert audit.info[TARGET_TABLE] is item
    assert item.info[AUDIT_TABLE] is audit
    assert "CREATE OR REPLACE FUNCTION" in item.info[CREATE_DDL]
    assert "DROP FUNCTION" in item.info[DROP_DDL]
    spec = get_audit_spec(item)
    assert isinstance(spec, AuditSpec)
    assert spec == AuditSpec.from_dict(spec.to_dict())
    assert hash(spec) == hash(AuditSpec.from_dict(spec.to_dict()))
    assert (spec.audit_table_name, spec.function_name, spec.trigger_name) == (
        "item_audit",
        "public_item_audit",
        "public_item_audit",
    )
    assert spec.qualified_audit_table == ("public", "item_audit")


def test_options_dict_is_not_mutated_and_info_repr_renders():
    md = sa.MetaData()
    options = {"enabled": True, "session_settings": [sa.Column("username", sa.String)]}
    before = dict(options)
    item = sa.Table(
        "item", md, sa.Column("id", sa.Integer), info={"audit.options": options, "owner": "me"}
    )
    assert options == before and len(options) == 2
    # Alembic renders table.info with repr into create_table(...): it must be a literal.
    assert eval(repr(item.info)) == {"owner": "me"}  # noqa: S307
    assert eval(repr(md.tables["item_audit"].info)) == {}  # noqa: S307


def test_not_audited_without_enabled():
    md = sa.MetaData()
    sa.Table("a", md, sa.Column("id", sa.Integer), info={"audit.options": {"enabled": False}})
    sa.Table("b", md, sa.Column("id", sa.Integer))
    assert sorted(md.tables) == ["a", "b"]


def test_naming_conventions_and_schema():
    md = sa.MetaData(
        naming_convention={
            "audit.table": "%(table_name)s_audr",
            "audit.function": "fn_%(schema)s_%(table_name)s",
            "audit.trigger": "tr_%(table_name)s",
        }
    )
    audited("order", md, sa.Column("id", sa.Integer), schema="shop", schema_name="history")
    audit = md.tables["history.order_audr"]
    spec = get_audit_spec(md.tables["shop.order"])
    assert audit.schema == "history"
    assert spec.qualified_function == ("history", "fn_shop_order")
    assert spec.trigger_names == (
        "tr_order_insert",
        "tr_order_update",
        "tr_order_delete",
        "tr_order_truncate",
    )
    assert spec.replace(level="row").trigger_names == ("tr_order", "tr_order_truncate")


def test_default_naming_uses_public_for_no_schema():
    md = sa.MetaData()
    spec = get_audit_spec(audited("t", md, sa.Column("id", sa.Integer)))
    assert spec.function_name == "public_t_audit"
    assert spec.schema is None and spec.effective_schema == "public"


def test_long_names_are_shortened_deterministically_and_distinct():
    md = sa.MetaData()
    a = "x" * 60 + "_first"
    b = "x" * 60 + "_second"
    sa_ = get_audit_spec(audited(a, md, sa.Column("id", sa.Integer)))
    sb = get_audit_spec(audited(b, md, sa.Column("id", sa.Integer)))
    for name in (sa_.audit_table_name, sa_.function_name, *sa_.trigger_names):
        assert len(name.encode()) <= 63
    assert sa_.function_name != sb.function_name
    assert sa_.audit_table_name != sb.audit_table_name
    assert fit_identifier(a + "_audit") == sa_.audit_table_name  # deterministic
    assert fit_identifier("é" * 40).encode("utf-8").decode("utf-8")  # never splits a character


def test_colliding_function_names_are_refused():
    md = sa.MetaData(naming_convention={"audit.function": "audit_fn"})
    audited("a", md, sa.Column("id", sa.Integer))
    with pytest.raises(ValueError, match=r"table 'b'.*same name as that of table 'a'"):
        audited("b", md, sa.Column("id", sa.Integer))


def test_audit_table_clashing_with_existing_table_is_refused():
    md = sa.MetaData()
    sa.Table("item_audit", md, sa.Column("id", sa.Integer))
    with pytest.raises(ValueError, match=r"table 'item'.*'item_audit' clashes"):
        audited("item", md, sa.Column("id", sa.Integer))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"enabled": True, "bogus": 1}, r"table 'item': unknown audit option\(s\) \['bogus'\]"),
        ({"enabled": "yes"}, r"table 'item': audit option 'enabled' must be True or False"),
        ({"enabled": True, "level": "each"}, r"table 'item': audit option 'level' must be one of"),
        ({"enabled": True, "skip_unchanged": 1}, r"'skip_unchanged' must be a bool"),
        ({"enabled": True, "exclude": ["nope"]}, r"'exclude' names unknown column\(s\) \['nope'\]"),
        ({"enabled": True, "exclude": "name"}, r"'exclude' must be a list"),
        ({"enabled": True, "schema": ""}, r"audit option 'schema' must be a non-empty string"),
        ({"enabled": True, "schema": "a", "schema_name": "b"}, r"'schema' or 'schema_name'"),
        ({"enabled": True, "session_settings": "username"}, r"'session_settings' must be a list"),
        ({"enabled": True, "session_settings": ["username"]}, r"must be sqlalchemy Column"),
        (
            {"enabled": True, "session_settings": [sa.Column("user name", sa.String)]},
            r"session setting name 'user name' is not a valid identifier",
        ),
        (
            {"enabled": True, "session_settings": [sa.Column("name", sa.String)]},
            r"",
        ),
        (
            {"enabled": True, "session_settings": [sa.Column("x", sa.String)]},
            r"'x' needs the audit column 'audit_x', which clashes",
        ),
        (
            {
                "enabled": True,
                "session_settings": [sa.Column("User", sa.String), sa.Column("user", sa.String)],
            },
            r"'User' and 'user', which PostgreSQL treats as the same setting",
        ),
    ],
)
def test_bad_options_fail_at_definition_naming_table_and_key(options, message):
    md = sa.MetaData()
    cols = [
        sa.Column("id", sa.Integer),
        sa.Column("name", sa.String),
        sa.Column("audit_x", sa.Integer),
    ]
    if message == "":
        # 'name' as a setting is fine: its column is audit_name, not name.
        sa.Table("item", md, *cols, info={"audit.options": options})
        return
    with pytest.raises(ValueError, match=message):
        sa.Table("item", md, *cols, info={"audit.options": options})
    assert "item_audit" not in md.tables


def test_column_clashing_with_audit_columns_is_refused():
    md = sa.MetaData()
    with pytest.raises(ValueError, match=r"table 'item'.*\['audit_operation'\] clash"):
        audited("item", md, sa.Column("audit_operation", sa.String))


def test_statement_level_skip_unchanged_needs_primary_key():
    md = sa.MetaData()
    with pytest.raises(ValueError, match=r"table 'item'.*'skip_unchanged'.*primary key"):
        audited("item", md, sa.Column("id", sa.Integer), skip_unchanged=True)
    audited("item2", md, sa.Column("id", sa.Integer), skip_unchanged=True, level="row")


def test_exclude_removes_columns_from_audit():
    md = sa.MetaData()
    item = audited(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("secret", sa.String),
        exclude=["secret"],
    )
    assert "secret" not in md.tables["item_audit"].c
    assert get_audit_spec(item).column_names == ("id",)


def test_orm_declarative_with_mixin():
    class Base(DeclarativeBase):
        pass

    class Audited:
        @declared_attr.directive
        def __table_args__(cls):
            return {
                "info": {
                    "audit.options": {
                        "enabled": True,
                        "session_settings": [sa.Column("username", sa.String, nullable=False)],
                    }
                }
            }

    class Customer(Audited, Base):
        __tablename__ = "customer"
        id: Mapped[int] = mapped_column(primary_key=True)
        email: Mapped[str] = mapped_column(sa.String(200))

    class Note(Base):
        __tablename__ = "note"
        __table_args__ = {"info": {"audit.options": {"enabled": True}}, "schema": "docs"}
        id: Mapped[int] = mapped_column(primary_key=True)

    md = Base.metadata
    assert [c.name for c in md.tables["customer_audit"].c][:2] == ["id", "email"]
    assert "audit_username" in md.tables["customer_audit"].c
    assert md.tables["docs.note_audit"].schema == "docs"
    assert get_audit_spec(Customer.__table__).session_settings[0].required


def test_column_appended_later_reaches_audit_table_and_spec():
    md = sa.MetaData()
    item = audited("item", md, sa.Column("id", sa.Integer, primary_key=True))
    item.append_column(sa.Column("late", sa.Text))
    assert "late" in md.tables["item_audit"].c
    assert get_audit_spec(item).column_names == ("id", "late")
    assert '"late"' in item.info[CREATE_DDL]


def test_to_metadata_copies_reuse_audit_table():
    md = sa.MetaData()
    audited("item", md, sa.Column("id", sa.Integer, primary_key=True))
    other = sa.MetaData()
    for t in md.sorted_tables:
        t.to_metadata(other)
    assert sorted(other.tables) == ["item", "item_audit"]
    assert get_audit_spec(other.tables["item"]).audit_table_name == "item_audit"


def test_enable_is_idempotent_and_thread_safe():
    threads = [threading.Thread(target=alembic_audit.enable) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    md = sa.MetaData()
    audited("item", md, sa.Column("id", sa.Integer))
    assert sorted(md.tables) == ["item", "item_audit"]  # one audit table, one listener


def test_get_audit_spec_of_unaudited_table_explains():
    t = sa.Table("plain", sa.MetaData(), sa.Column("id", sa.Integer))
    with pytest.raises(ValueError, match=r"'plain' is not audited; .* alembic_audit.audit\(\)"):
        get_audit_spec(t)


def test_to_metadata_copy_of_the_audited_table_alone_gets_its_own_audit_table():
    md = sa.MetaData()
    item = audited("item", md, sa.Column("id", sa.Integer, primary_key=True))
    other = sa.MetaData()
    copy = item.to_metadata(other, schema="tenant1")
    assert [t.name for t in alembic_audit.audited_tables(other)] == ["item"]
    assert sorted(other.tables) == ["tenant1.item", "tenant1.item_audit"]
    assert copy.info[AUDIT_TABLE] is other.tables["tenant1.item_audit"]
    assert get_audit_spec(copy).qualified_function == ("tenant1", "tenant1_item_audit")
    assert get_audit_spec(item).qualified_table == ("public", "item")  # original untouched


def test_column_typed_by_a_later_foreign_key_is_audited_once_typed():
    # Core association tables often leave the type to the foreign key; the table it
    # points to may come later.
    md = sa.MetaData()
    link = sa.Table(
        "link",
        md,
        sa.Column("box_id", sa.ForeignKey("box.id"), primary_key=True),
        info={"audit.options": {"enabled": True}},
    )
    assert "link_audit" not in md.tables  # waits for box
    sa.Table("box", md, sa.Column("id", sa.BigInteger, primary_key=True))
    assert str(md.tables["link_audit"].c.box_id.type) == "BIGINT"
    assert get_audit_spec(link).columns[0].type == "BIGINT"
    orphan = sa.Table(
        "orphan",
        sa.MetaData(),
        sa.Column("box_id", sa.ForeignKey("box.id")),
        info={"audit.options": {"enabled": True}},
    )
    with pytest.raises(ValueError, match=r"table 'orphan': column\(s\) \['box_id'\] have no type"):
        get_audit_spec(orphan)
