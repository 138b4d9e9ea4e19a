"""Exact rendered text of the audit ops, and their reverse() / to_diff_tuple()."""

from __future__ import annotations

import textwrap

from alembic.autogenerate import render_op_text
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext

from alembic_audit import AuditColumn, AuditSpec, SessionSetting
from alembic_audit.autogen.render import IMPORT
from alembic_audit.migration import CreateAuditTrigger, DropAuditTrigger, ReplaceAuditTrigger

SPEC = AuditSpec(
    table_name="item",
    schema=None,
    audit_table_name="item_audit",
    audit_schema=None,
    function_name="public_item_audit",
    trigger_name="public_item_audit",
    columns=(AuditColumn("id", "INTEGER"), AuditColumn('Name "x"', "VARCHAR(80)")),
    session_settings=(SessionSetting("username", "VARCHAR(50)", True),),
    primary_key=("id",),
)


def _render(*operations: ops.MigrateOperation) -> tuple[str, set[str]]:
    migration_context = MigrationContext.configure(dialect_name="postgresql")
    context = AutogenContext(migration_context, autogenerate=False)
    text = "\n".join(render_op_text(context, op) for op in operations)
    return text, context.imports


def _fields(indent: str, level: str = "statement", skip_unchanged: bool = False) -> str:
    # Every field of the spec, in to_dict() order: defaults included on purpose.
    data = SPEC.to_dict()
    assert list(data)[:8] == [
        "table_name",
        "schema",
        "audit_table_name",
        "audit_schema",
        "function_name",
        "trigger_name",
        "columns",
        "session_settings",
    ]
    extra = {k: v for k, v in data.items() if k not in ("table_name", "schema")}
    extra["level"] = level
    extra["skip_unchanged"] = skip_unchanged
    lines = []
    for key, value in extra.items():
        if key == "columns":
            lines += [
                f"{key}=[",
                '    ("id", "INTEGER"),',
                '    ("Name \\"x\\"", "VARCHAR(80)"),',
                "],",
            ]
        elif key == "session_settings":
            lines += [f"{key}=[", '    ("username", "VARCHAR(50)", True),', "],"]
        elif key == "primary_key":
            lines.append(f'{key}=["id"],')
        elif key == "indexes":
            lines.append(f'{key}=["row", "time", "transaction"],')
        elif isinstance(value, str):
            lines.append(f'{key}="{value}",')
        else:
            lines.append(f"{key}={value!r},")
    return textwrap.indent("\n".join(lines), indent)


def test_render_create_exact_text() -> None:
    text, imports = _render(CreateAuditTrigger(SPEC))
    expected = 'op.create_audit_trigger(\n    "item",\n    schema=None,\n' + _fields("    ") + "\n)"
    assert text == expected
    assert imports == {IMPORT}
    assert IMPORT.startswith("import alembic_audit.operations")


def test_render_create_exact_text_literal_head() -> None:
    # The fields the issue promises, spelled out once without helpers.
    text, _ = _render(CreateAuditTrigger(SPEC))
    assert text.startswith(
        "op.create_audit_trigger(\n"
        '    "item",\n'
        "    schema=None,\n"
        '    audit_table_name="item_audit",\n'
        "    audit_schema=None,\n"
        '    function_name="public_item_audit",\n'
        '    trigger_name="public_item_audit",\n'
        "    columns=[\n"
        '        ("id", "INTEGER"),\n'
        '        ("Name \\"x\\"", "VARCHAR(80)"),\n'
        "    ],\n"
        "    session_settings=[\n"
        '        ("username", "VARCHAR(50)", True),\n'
        "    ],\n"
        '    level="statement",\n'
        "    skip_unchanged=False,\n"
        "    record_truncate=True,\n"
        '    primary_key=["id"],\n'
        "    function_schema=None,\n"
    )


def test_render_create_with_audit_table() -> None:
    text, _ = _render(CreateAuditTrigger(SPEC, create_audit_table=True))
    assert text.endswith("    create_audit_table=True,\n)")


def test_render_drop_exact_text() -> None:
    text, imports = _render(DropAuditTrigger(SPEC))
    assert (
        text == 'op.drop_audit_trigger(\n    "item",\n    schema=None,\n' + _fields("    ") + "\n)"
    )
    assert imports == {IMPORT}


def test_render_replace_exact_text_with_raw_definitions() -> None:
    new = SPEC.replace(level="row", skip_unchanged=True)
    op = ReplaceAuditTrigger(
        new,
        SPEC,
        old_function_sql=(
            "CREATE OR REPLACE FUNCTION public.f()\n RETURNS trigger\nAS $x$ 'q' $x$\n"
        ),
        old_trigger_sqls=('CREATE TRIGGER "T" AFTER INSERT ON public.item FOR EACH ROW',),
    )
    text, _ = _render(op)

    def as_dict(args: tuple[str, bool]) -> str:
        # The same fields as keyword arguments, written as "keyword": value entries.
        out = []
        for line in _fields("", *args).splitlines():
            if "=" in line and not line.startswith(" ") and line.split("=", 1)[0].isidentifier():
                key, value = line.split("=", 1)
                out.append(f'"{key}": {value}')
            else:
                out.append(line)
        return textwrap.indent("\n".join(out), "        ")

    expected = (
        "op.replace_audit_trigger(\n"
        '    "item",\n'
        "    schema=None,\n"
        "    old={\n" + as_dict(("statement", False)) + "\n    },\n"
        "    new={\n" + as_dict(("row", True)) + "\n    },\n"
        "    old_function_sql=(\n"
        '        "CREATE OR REPLACE FUNCTION public.f()\\n"\n'
        '        " RETURNS trigger\\n"\n'
        "        \"AS $x$ 'q' $x$\\n\"\n"
        "    ),\n"
        "    old_trigger_sqls=[\n"
        '        "CREATE TRIGGER \\"T\\" AFTER INSERT ON public.item FOR EACH ROW",\n'
        "    ],\n"
        ")"
    )
    assert text == expected


def test_rendered_text_evaluates_to_the_same_definition() -> None:
    # The rendered call, run against a recorder, rebuilds exactly the spec.
    from alembic_audit.migration.arguments import build_spec

    text, _ = _render(CreateAuditTrigger(SPEC))
    calls: list[tuple[str, dict[str, object]]] = []

    class Recorder:
        def create_audit_trigger(self, table_name: str, **kw: object) -> None:
            calls.append((table_name, kw))

    exec(text, {"op": Recorder()})
    ((table_name, kw),) = calls
    schema = kw.pop("schema")
    assert build_spec(None, "create_audit_trigger", table_name, schema, kw) == SPEC  # type: ignore[arg-type]


def test_reverse_and_diff_tuples() -> None:
    new = SPEC.replace(level="row")
    create, drop = CreateAuditTrigger(SPEC), DropAuditTrigger(SPEC)
    assert create.to_diff_tuple() == ("add_audit_trigger", SPEC)
    assert drop.to_diff_tuple() == ("remove_audit_trigger", SPEC)
    assert isinstance(create.reverse(), DropAuditTrigger) and create.reverse().spec == SPEC
    assert isinstance(drop.reverse(), CreateAuditTrigger) and drop.reverse().spec == SPEC
    assert CreateAuditTrigger(SPEC, create_audit_table=True).reverse().drop_audit_table
    replace = ReplaceAuditTrigger(new, SPEC, old_function_sql="F", old_trigger_sqls=("T",))
    assert replace.to_diff_tuple() == ("modify_audit_trigger", SPEC, new)
    back = replace.reverse()
    assert (back.spec, back.old_spec) == (SPEC, new)
    assert (back.function_sql, back.trigger_sqls) == ("F", ("T",))
    assert (back.old_function_sql, back.old_trigger_sqls) == (None, None)
    again = back.reverse()
    assert (again.spec, again.old_spec, again.old_function_sql, again.old_trigger_sqls) == (
        new,
        SPEC,
        "F",
        ("T",),
    )


def test_typed_module_matches_the_registered_operations() -> None:
    # alembic_audit.op is the typed spelling of op.*_audit_trigger: same parameters.
    import inspect

    from alembic.operations import Operations

    from alembic_audit import op as audit_op

    for name in ("create_audit_trigger", "drop_audit_trigger", "replace_audit_trigger"):
        registered = inspect.signature(getattr(Operations, name))
        typed = inspect.signature(getattr(audit_op, name))
        expected = [(p.name, p.kind, p.default) for p in registered.parameters.values()][1:]
        assert [(p.name, p.kind, p.default) for p in typed.parameters.values()] == expected
        assert getattr(audit_op, name).__doc__
