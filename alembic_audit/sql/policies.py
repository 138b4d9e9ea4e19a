"""Row-level security copied from an audited table onto its audit table.

An audit table holds every version of every row; a reader allowed ``SELECT`` on it
(``read_history``) would see rows the audited table's policies hide from it.  With
the ``row_security`` option, the audit table carries a copy of each policy of the
table that applies to ``SELECT`` (commands ``SELECT`` and ``ALL``, with a ``USING``
expression), as a ``FOR SELECT`` policy with the same name, roles, kind (permissive
or restrictive) and expression, and row-level security is enabled on it exactly when
it is on the table.  The audit table has the table's column names, so an expression
reads the audit row's copy of the values: a reader sees the versions of the rows
whose values it could see.  The trigger function writes as its owner, to whom the
policies do not apply (no ``FORCE``).

The policies are read when the statement runs, so it is a ``DO`` block (like the
partition triggers): the audit table's policies are all dropped and copied afresh.
It runs under the migration role's search_path: every function and operator in it
is qualified, and it holds no ``%`` and no ``:word``.  Autogenerate compares the
copies with the table's (one of the inspector's two queries) and reports a
difference as drift.

Example::

    copy_row_security_sql(spec)  # 'DO $audit$ ... $audit$'
"""

from __future__ import annotations

from ..core.spec import AuditSpec
from .quoting import dollar_quote, literal, qualify, regclass_literal


def copy_row_security_sql(spec: AuditSpec) -> str:
    """``DO`` block replacing the audit table's policies with copies of the table's.

    Example::

        copy_row_security_sql(spec.replace(row_security=True))
    """
    audit = qualify(*spec.qualified_audit_table)
    table = ".".join(spec.qualified_table)
    on_audit = literal(f" ON {audit}")
    body = [
        "",
        "DECLARE",
        "    audit_policy record;",
        f"    audit_source pg_catalog.oid := CAST(pg_catalog.to_regclass("
        f"{regclass_literal(*spec.qualified_table)}) AS pg_catalog.oid);",
        f"    audit_copy pg_catalog.oid := CAST(pg_catalog.to_regclass("
        f"{regclass_literal(*spec.qualified_audit_table)}) AS pg_catalog.oid);",
        "BEGIN",
        "    FOR audit_policy IN",
        "        SELECT p.polname FROM pg_catalog.pg_policy AS p",
        "        WHERE p.polrelid OPERATOR(pg_catalog.=) audit_copy",
        "    LOOP",
        "        EXECUTE pg_catalog.concat("
        f"'DROP POLICY ', pg_catalog.quote_ident(audit_policy.polname), {on_audit});",
        "    END LOOP;",
        "    FOR audit_policy IN",
        "        SELECT p.polname, p.polpermissive,",
        "               pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual,",
        "               pg_catalog.array_to_string(ARRAY(",
        "                 SELECT CASE WHEN x.r OPERATOR(pg_catalog.=) CAST(0 AS pg_catalog.oid)",
        "                        THEN 'PUBLIC'",
        "                        ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.r)) END",
        "                 FROM pg_catalog.unnest(p.polroles) AS x(r) ORDER BY 1), ', ') AS roles",
        "        FROM pg_catalog.pg_policy AS p",
        "        WHERE p.polrelid OPERATOR(pg_catalog.=) audit_source",
        "          AND (p.polcmd OPERATOR(pg_catalog.=) 'r'",
        "               OR p.polcmd OPERATOR(pg_catalog.=) '*')",
        "          AND p.polqual IS NOT NULL",
        "        ORDER BY p.polname",
        "    LOOP",
        "        BEGIN",
        "            EXECUTE pg_catalog.concat(",
        "                'CREATE POLICY ', pg_catalog.quote_ident(audit_policy.polname),",
        f"                {on_audit},",
        "                CASE WHEN audit_policy.polpermissive THEN ' AS PERMISSIVE'"
        " ELSE ' AS RESTRICTIVE' END,",
        "                ' FOR SELECT TO ', audit_policy.roles,",
        "                ' USING (', audit_policy.qual, ')');",
        "        EXCEPTION WHEN undefined_column THEN",
        "            RAISE EXCEPTION USING",
        "                ERRCODE = 'undefined_column',",
        "                MESSAGE = pg_catalog.concat("
        + literal("row_security: policy ")
        + ", pg_catalog.quote_ident(audit_policy.polname), "
        + literal(f" of table {table} reads a column that audit table {audit} lacks: ")
        + ", SQLERRM),",
        "                HINT = 'an excluded column cannot be used by a copied policy; "
        "stop excluding it, or change the policy';",
        "        END;",
        "    END LOOP;",
        "    IF (SELECT c.relrowsecurity FROM pg_catalog.pg_class AS c",
        "        WHERE c.oid OPERATOR(pg_catalog.=) audit_source) THEN",
        f"        EXECUTE {literal(f'ALTER TABLE {audit} ENABLE ROW LEVEL SECURITY')};",
        "    ELSE",
        f"        EXECUTE {literal(f'ALTER TABLE {audit} DISABLE ROW LEVEL SECURITY')};",
        "    END IF;",
        "END;",
        "",
    ]
    return "DO " + dollar_quote("\n".join(body))


def drop_row_security_sql(spec: AuditSpec) -> str:
    """``DO`` block dropping every policy of the audit table and disabling its row-level
    security (the ``row_security`` option turned off).

    Example::

        drop_row_security_sql(spec)
    """
    audit = qualify(*spec.qualified_audit_table)
    on_audit = literal(f" ON {audit}")
    body = [
        "",
        "DECLARE",
        "    audit_policy record;",
        "BEGIN",
        "    FOR audit_policy IN",
        "        SELECT p.polname FROM pg_catalog.pg_policy AS p",
        "        WHERE p.polrelid OPERATOR(pg_catalog.=) CAST(pg_catalog.to_regclass("
        f"{regclass_literal(*spec.qualified_audit_table)}) AS pg_catalog.oid)",
        "    LOOP",
        "        EXECUTE pg_catalog.concat("
        f"'DROP POLICY ', pg_catalog.quote_ident(audit_policy.polname), {on_audit});",
        "    END LOOP;",
        f"    EXECUTE {literal(f'ALTER TABLE {audit} DISABLE ROW LEVEL SECURITY')};",
        "END;",
        "",
    ]
    return "DO " + dollar_quote("\n".join(body))


__all__ = ["copy_row_security_sql", "drop_row_security_sql"]
