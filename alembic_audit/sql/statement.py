"""Running and collecting the statements rendered by this package.

Example::

    for stmt in audit_objects(spec).create_statements():
        connection.execute(AuditDDL(stmt))
    print(script(audit_objects(spec).create_statements()))
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement


class AuditDDL(ExecutableDDLElement):
    """Executable wrapper for one statement rendered by :mod:`alembic_audit.sql`.

    Unlike ``text()`` it does not treat ``:name`` as a bind parameter (a column
    may be called ``"a:b"``), and unlike ``DDL()`` it does not %-format.

    Example::

        for stmt in audit_objects(spec).create_statements():
            connection.execute(AuditDDL(stmt))
    """

    inherit_cache = False

    def __init__(self, statement: str) -> None:
        self.statement = statement


@compiles(AuditDDL)
def _compile_audit_ddl(element: AuditDDL, compiler: Any, **kw: Any) -> str:
    # post_process_text doubles '%' exactly when the dialect's paramstyle needs it.
    return str(compiler.sql_compiler.post_process_text(element.statement))


def script(statements: list[str]) -> str:
    """Join statements into one SQL script (``;`` terminated).

    Example::

        script(["SELECT 1", "SELECT 2"])  # 'SELECT 1;\\n\\nSELECT 2;\\n\\n'
    """
    return "".join(f"{s};\n\n" for s in statements)


__all__ = ["AuditDDL", "script"]
