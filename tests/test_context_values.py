"""Context values that do not fit their setting's column fail in Python, before the write.

The checks are compared with the truth: the audit trigger itself, fed each sample
through ``set_session_vars`` (which does not check), on real PostgreSQL.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import CIDR, INET, INTERVAL, JSON, JSONB, UUID
from sqlalchemy.engine import Engine

import alembic_audit
from alembic_audit import AuditError, audit_context
from alembic_audit.runtime.values import check_for_type

#: One setting per checked type (names unique to this module: the checks span every
#: audited table alive in the process).
TYPES: dict[str, Any] = {
    "cv_varchar": sa.String(5),
    "cv_char": sa.CHAR(3),
    "cv_text": sa.Text(),
    "cv_uuid": UUID(),
    "cv_smallint": sa.SmallInteger(),
    "cv_int": sa.Integer(),
    "cv_bigint": sa.BigInteger(),
    "cv_numeric": sa.Numeric(5, 2),
    "cv_real": sa.REAL(),
    "cv_double": sa.Double(),
    "cv_bool": sa.Boolean(),
    "cv_date": sa.Date(),
    "cv_time": sa.Time(),
    "cv_ts": sa.DateTime(),
    "cv_tstz": sa.DateTime(timezone=True),
    "cv_json": JSON(),
    "cv_jsonb": JSONB(),
    "cv_inet": INET(),
    "cv_cidr": CIDR(),
    "cv_enum": sa.Enum("new", "done", name="cv_status"),
}

SAMPLES: dict[str, list[str]] = {
    "cv_varchar": ["abcde", "abcdef", "abcde   ", "ééééé", "éééééé", ""],
    "cv_char": ["abc", "abcd", "abc  ", "a"],
    "cv_text": ["x" * 10_000],
    "cv_uuid": [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "a-0eebc999c0b4ef8bb6d6bb9bd380a11",
        "urn:uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "not a uuid",
    ],
    "cv_smallint": ["32767", "-32768", "32768", " 12 ", "+7", "1.0", "1e3", "x"],
    "cv_int": ["2147483647", "2147483648", "-2147483648", "-2147483649", "007"],
    "cv_bigint": ["9223372036854775807", "9223372036854775808", "-9223372036854775808"],
    "cv_numeric": ["999.99", "999.994", "999.995", "1000", "-999.99", "0.001", "NaN", "x"],
    "cv_real": ["1.5", "3.4e38", "3.5e38", "1e-50", "NaN", "-Infinity", "inf", "1_0", "abc"],
    "cv_double": ["1e308", "1e309", "1e-400", "-0", "2.5"],
    "cv_bool": [
        "true",
        "FALSE",
        "t",
        "tr",
        "yes",
        "y",
        "on",
        "of",
        "off",
        "o",
        "1",
        "0",
        "2",
        " no ",
    ],
    "cv_date": ["2024-01-02", "2024-02-30", "2024-01-02 10:00", "2024-13-01", "x"],
    "cv_time": ["10:11", "10:11:12.123456", "10:11:12+02", "25:00", "10:60", "x"],
    "cv_ts": [
        "2024-01-02T03:04:05",
        "2024-01-02 03:04:05.123456",
        "2024-01-02",
        "2024-01-02T03:04:05+02:00",
        "2024-01-02 03:04:61",
        "2024-01-32 03:04:05",
        "x",
    ],
    "cv_tstz": ["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05-0530"],
    "cv_json": ['{"a": [1, 2.5, null]}', "3", '"s"', "{a}", "NaN", "Infinity", ""],
    "cv_jsonb": ['{"a": 1}', "[1,", "true"],
    "cv_inet": ["192.168.0.1", "192.168.0.1/24", "::1", "2001:db8::/32", "300.1.1.1", "host"],
    "cv_cidr": ["10.0.0.0/8", "10.0.0.1/8", "::/0", "2001:db8::1/32", "x"],
    "cv_enum": ["new", "done", "NEW", "gone"],
}

#: Accepted by PostgreSQL, refused on purpose: timestamps, dates and times must be ISO
#: 8601 (what isoformat() writes), not the words and orders PostgreSQL also reads.
#: Refused on purpose, whatever the server: PostgreSQL 16 reads digits grouped with
#: underscores in integers and numerics, 15 does not.
STRICTER_ON_SOME_VERSIONS = [("cv_numeric", "1_000.5"), ("cv_int", "1_000"), ("cv_int", "0x1F")]
STRICTER_ACCEPTED_BY_POSTGRESQL = [
    ("cv_ts", "now"),
    ("cv_ts", "Jan 2 2024 03:04"),
    ("cv_date", "today"),
    ("cv_time", "allballs"),
]


def audited_model(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "typed",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [sa.Column(name, type_) for name, type_ in TYPES.items()],
            }
        },
    )


def postgresql_accepts(engine: Engine, table: sa.Table, setting: str, text: str) -> bool:
    """Whether the audit trigger takes ``text`` for ``setting`` (set without any check)."""
    with engine.connect() as conn:
        trans = conn.begin()
        alembic_audit.set_session_vars(conn, **{setting: text})
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(id=1))
        except sa.exc.DBAPIError:
            return False
        finally:
            trans.rollback()
    return True


def test_checks_agree_with_the_audit_trigger(psycopg_engine: Engine) -> None:
    md = sa.MetaData()
    table = audited_model(md)
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    spec = alembic_audit.get_audit_spec(table)
    types = {s.name: s.type for s in spec.session_settings}
    disagree = []
    for setting, samples in SAMPLES.items():
        labels = ("new", "done") if setting == "cv_enum" else None
        check = check_for_type(types[setting], labels)
        for text in samples:
            # '' is "unset" (the trigger's NULLIF): never checked, always taken.
            ours = text == "" or check is None or check(text) is None
            theirs = postgresql_accepts(psycopg_engine, table, setting, text)
            if ours != theirs:
                disagree.append((setting, types[setting], text, ours, theirs))
    assert disagree == []
    for setting, text in STRICTER_ACCEPTED_BY_POSTGRESQL:
        check = check_for_type(types[setting])
        assert check is not None and check(text) is not None
        assert postgresql_accepts(psycopg_engine, table, setting, text)
    for setting, text in STRICTER_ON_SOME_VERSIONS:
        check = check_for_type(types[setting])
        assert check is not None and check(text) is not None


def test_every_checked_type_has_samples() -> None:
    md = sa.MetaData()
    spec = alembic_audit.get_audit_spec(audited_model(md))
    for setting in spec.session_settings:
        labels = ("new", "done") if setting.name == "cv_enum" else None
        checked = check_for_type(setting.type, labels) is not None
        assert checked == (setting.name != "cv_text"), setting
        assert SAMPLES[setting.name]


def test_unchecked_types_pass_through() -> None:
    assert check_for_type("INTERVAL") is None
    assert check_for_type("VARCHAR[]") is None
    assert check_for_type("my_domain") is None
    assert check_for_type("TEXT") is None


def make_table(metadata: sa.MetaData, name: str, **settings: Any) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [sa.Column(k, v) for k, v in settings.items()],
            }
        },
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"cw_user": "x" * 9},
            r"audit_context: value 'xxxxxxxxx' of setting 'cw_user' does not fit VARCHAR\(8\), "
            r"the type of audit.cw_user in table 'orders' \(9 characters, at most 8 fit\); "
            "pass a value of that type",
        ),
        ({"cw_request": "nope"}, r"'cw_request' does not fit UUID.*\(not a UUID\)"),
        ({"cw_tenant": "12a"}, r"'cw_tenant' does not fit INTEGER.*\(not an integer\)"),
        ({"cw_tenant": 2**31}, r"'cw_tenant' does not fit INTEGER.*out of range"),
        ({"cw_flag": "maybe"}, r"'cw_flag' does not fit BOOLEAN.*not a boolean"),
        ({"cw_at": "yesterday"}, r"'cw_at' does not fit TIMESTAMP WITHOUT TIME ZONE.*ISO 8601"),
        ({"cw_state": "archived"}, r"'cw_state' does not fit cw_state.*labels \['open', 'shut'\]"),
    ],
)
def test_bad_value_fails_when_the_context_is_made(values: dict[str, Any], message: str) -> None:
    md = sa.MetaData()
    make_table(
        md,
        "orders",
        cw_user=sa.String(8),
        cw_request=UUID(),
        cw_tenant=sa.Integer(),
        cw_flag=sa.Boolean(),
        cw_at=sa.DateTime(),
        cw_state=sa.Enum("open", "shut", name="cw_state"),
    )
    with pytest.raises(AuditError, match=message):
        audit_context(**values)


def test_good_python_values_pass() -> None:
    md = sa.MetaData()
    make_table(
        md,
        "orders",
        cw_user=sa.String(8),
        cw_request=UUID(),
        cw_tenant=sa.Integer(),
        cw_flag=sa.Boolean(),
        cw_at=sa.DateTime(timezone=True),
        cw_day=sa.Date(),
        cw_price=sa.Numeric(6, 2),
        cw_addr=INET(),
        cw_wait=INTERVAL(),
    )
    with audit_context(
        cw_user="alice",
        cw_request=uuid.uuid4(),
        cw_tenant=7,
        cw_flag=False,
        cw_at=datetime.datetime.now(datetime.timezone.utc),
        cw_day=datetime.date(2024, 1, 2),
        cw_price=decimal.Decimal("1234.5"),
        cw_addr=ipaddress.ip_address("10.1.2.3"),
        cw_wait="3 days",  # not checked
    ) as values:
        assert values["cw_flag"] == "false"
        assert values["cw_addr"] == "10.1.2.3"


def test_the_strictest_table_decides() -> None:
    md = sa.MetaData()
    make_table(md, "wide", cx_user=sa.String(50))
    make_table(md, "narrow", cx_user=sa.String(4))
    with pytest.raises(
        AuditError, match=r"VARCHAR\(4\), the type of audit.cx_user in table 'narrow'"
    ):
        audit_context(cx_user="alice")


def test_no_audit_row_is_written_with_a_bad_value(psycopg_engine: Engine) -> None:
    md = sa.MetaData()
    table = make_table(md, "orders", cy_user=sa.String(8))
    md.create_all(psycopg_engine)
    alembic_audit.install_audit_triggers(md, psycopg_engine)
    alembic_audit.install_context(psycopg_engine)
    try:
        with (
            pytest.raises(AuditError, match="'cy_user' does not fit VARCHAR"),
            audit_context(cy_user="a much too long name"),
            psycopg_engine.begin() as conn,
        ):
            conn.execute(table.insert().values(id=1))
    finally:
        alembic_audit.uninstall_context(psycopg_engine)
    with psycopg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_names_and_types_of_values_are_checked() -> None:
    with pytest.raises(AuditError, match="session setting name 'user name' is not a valid"):
        audit_context(**{"user name": "x"})
    with pytest.raises(AuditError, match="'Cz' and 'cz' are the same setting"):
        audit_context(Cz="a", cz="b")
    with pytest.raises(TypeError, match="audit_context: value of 'cz' must be str"):
        audit_context(cz=object())
    with pytest.raises(AuditError, match="value of 'cz' contains a NUL character"):
        audit_context(cz="a\x00b")
