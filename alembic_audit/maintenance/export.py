"""Writing audit rows to files: CSV through ``COPY ... TO STDOUT``, with a psql script that
loads them back.

Each export is two files side by side: ``<schema>.<table>.csv`` (UTF-8, a header line,
then PostgreSQL's own CSV: ``NULL`` is an empty unquoted field, an empty string is
``""``, every value in the text form its type reads back exactly, time stamps with their
offset) and ``<schema>.<table>.sql``, which creates the table with the same column types
and ``\\copy``-s the CSV into it::

    cd /backups/audit && psql -d restored -f public.item_audit_p2025_01.sql

An existing file is never overwritten.  Works with psycopg 3 and psycopg2.

Example::

    with open_export(directory, ("public", "item_audit_p2025_01"), columns) as export:
        export.copy(conn, copy_out_sql(...))
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.engine import Connection

from ..core.errors import AuditError
from ..sql.rows import loader_script

_UNSAFE = re.compile(r"[^\w.-]")


def file_stem(table: tuple[str, str]) -> str:
    """A file name (without extension) for a table: ``schema.name``, any character that is
    not a letter, digit, ``_``, ``.`` or ``-`` replaced by ``_``.

    Example::

        file_stem(("public", "item_audit_p2025_01"))  # 'public.item_audit_p2025_01'
    """
    return _UNSAFE.sub("_", f"{table[0]}.{table[1]}")


def copy_to(conn: Connection, statement: str, out: BinaryIO) -> int:
    """Run a ``COPY ... TO STDOUT`` on the connection (in its transaction), writing what it
    sends to ``out``; the number of rows.

    Example::

        copy_to(conn, 'COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)', file)
    """
    raw: Any = conn.connection.dbapi_connection
    module = type(raw).__module__
    cursor = raw.cursor()
    try:
        if module.startswith("psycopg2"):
            cursor.copy_expert(statement, out)
        elif module.startswith("psycopg"):
            with cursor.copy(statement) as copy:
                for data in copy:
                    out.write(bytes(data))
        else:
            raise AuditError(
                f"exporting rows needs the psycopg (3) or psycopg2 driver, not {module}; "
                "connect with postgresql+psycopg:// or postgresql+psycopg2://"
            )
        return int(cursor.rowcount)
    finally:
        cursor.close()


class Export:
    """One CSV file being written (see :func:`open_export`).

    Example::

        rows = export.copy(conn, statement)
    """

    def __init__(self, path: Path, out: BinaryIO) -> None:
        self.path = path
        self.out = out
        self.rows = 0

    def copy(self, conn: Connection, statement: str) -> int:
        """Append what a ``COPY ... TO STDOUT`` sends; flushed to disk before it returns, so
        that the transaction that removes the rows commits only once they are safe.  On a
        failure the file is cut back to where it was.
        """
        mark = self.out.tell()
        try:
            rows = copy_to(conn, statement, self.out)
            self.out.flush()
            os.fsync(self.out.fileno())
        except BaseException:
            self.out.truncate(mark)
            self.out.seek(mark)
            raise
        self.rows += rows
        return rows

    def checkpoint(self) -> tuple[int, int]:
        """Where the file is now (to :meth:`rewind` to if the batch does not commit)."""
        return (self.out.tell(), self.rows)

    def rewind(self, mark: tuple[int, int]) -> None:
        """Cut the file back to a :meth:`checkpoint`: its rows are still in the table."""
        self.out.truncate(mark[0])
        self.out.seek(mark[0])
        self.out.flush()
        os.fsync(self.out.fileno())
        self.rows = mark[1]


def check_free(directory: Path, table: tuple[str, str]) -> Path:
    """The CSV path of ``table`` in ``directory``; refuses one that exists.

    Example::

        check_free(Path("/backups"), ("public", "item_audit_p2025_01"))
    """
    path = directory / f"{file_stem(table)}.csv"
    for existing in (path, path.with_suffix(".sql")):
        if existing.exists():
            raise AuditError(
                f"export: {existing} exists; move it away first (it may hold the rows of an "
                "interrupted prune that are still in the table)"
            )
    return path


@contextmanager
def open_export(
    directory: Path,
    table: tuple[str, str],
    columns: Sequence[tuple[str, str]],
    *,
    comment: str,
) -> Iterator[Export]:
    """Create ``<table>.csv`` (its header written) and its loader ``<table>.sql``; yields
    the :class:`Export` to copy rows into.  Refuses existing files.

    Example::

        with open_export(Path("/backups"), table, [("id", "integer")], comment="...") as e:
            e.copy(conn, statement)
    """
    path = check_free(directory, table)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([name for name, _ in columns])
    with path.open("xb") as out:
        out.write(header.getvalue().encode("utf-8"))
        export = Export(path, out)
        try:
            yield export
        except BaseException:
            # Nothing was removed from the table whose rows the file holds (its
            # transaction rolls back with this error), unless some batch committed.
            if export.rows == 0:
                out.close()
                path.unlink(missing_ok=True)
            raise
    path.with_suffix(".sql").write_text(loader_script(path.name, table, columns, comment))


__all__ = ["Export", "check_free", "copy_to", "file_stem", "open_export"]
