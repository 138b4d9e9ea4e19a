"""What every ``alembic-audit`` command shares.

- the database: ``--url``, else ``$DATABASE_URL``, else ``sqlalchemy.url`` of an
  ``alembic.ini`` (``-c``, default ``./alembic.ini``);
- output: readable tables and colour on a terminal, plain text when piped, ``--json``;
- progress: a bar on a terminal (stderr), nothing when piped;
- errors: :class:`CliError` and the library's own errors end as one line on stderr and
  exit code 1 (2 for bad usage), never a traceback.

A command is a function ``(args, out) -> int`` set as the ``handler`` default of its
subparser; it gets an :class:`Output` and opens connections with :func:`connect`.

Example::

    def handler(args: argparse.Namespace, out: Output) -> int:
        with connect(args) as conn:
            out.table(["a"], [(1,)])
        return 0
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from ..core.errors import AuditError
from ..core.progress import progress

PROG = "alembic-audit"

Handler = Callable[[argparse.Namespace, "Output"], int]


class CliError(Exception):
    """A failure to report as one line (``alembic-audit: error: ...``), exit code 1.

    Example::

        raise CliError("table 'nope' is not audited")
    """


def parser() -> argparse.ArgumentParser:
    """The top-level parser with the options every command shares.

    Example::

        parser().parse_args(["--json", "tables"])
    """
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Read and maintain the audit history of PostgreSQL tables audited by "
        "alembic-audit.",
    )
    p.add_argument(
        "--url",
        help="database URL (default: $DATABASE_URL, else sqlalchemy.url of the alembic.ini)",
    )
    p.add_argument(
        "-c",
        "--config",
        default="alembic.ini",
        help="alembic.ini to read sqlalchemy.url from (default: ./alembic.ini)",
    )
    p.add_argument("--json", action="store_true", help="print JSON, for machines")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (default: on a terminal, unless NO_COLOR is set)",
    )
    return p


def database_url(args: argparse.Namespace) -> str:
    """The URL to connect to: ``--url``, ``$DATABASE_URL``, then the alembic.ini's.

    Example::

        database_url(parser().parse_args(["--url", "postgresql://h/db", "tables"]))
    """
    if args.url:
        return str(args.url)
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    ini = Path(args.config)
    if ini.is_file():
        config = configparser.ConfigParser(defaults={"here": str(ini.resolve().parent)})
        config.read(ini)
        url = config.get("alembic", "sqlalchemy.url", fallback="").strip()
        if url:
            return url
        raise CliError(f"{ini} has no sqlalchemy.url; pass --url or set DATABASE_URL")
    raise CliError(f"no database: pass --url, set DATABASE_URL, or run where {ini} is")


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    """A connection to the command's database (read-only work: no transaction kept).

    Example::

        with connect(args) as conn:
            conn.execute(sa.text("SELECT 1"))
    """
    url = database_url(args)
    try:
        engine = sa.create_engine(make_url(url), poolclass=sa.NullPool)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise CliError(f"not a usable database URL {url!r}: {exc}") from None
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise CliError(f"cannot use the database {shown}: {first}") from None
    finally:
        engine.dispose()


class Output:
    """Where a command prints: tables and text on a terminal, JSON with ``--json``.

    Example::

        out.table(["id", "name"], [(1, "pen")])
        out.data({"rows": 1})  # printed only with --json
    """

    def __init__(self, args: argparse.Namespace, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.json = bool(args.json)
        tty = self.stream.isatty()
        self.color = args.color == "always" or (
            args.color == "auto" and tty and not os.environ.get("NO_COLOR")
        )

    def text(self, line: str = "") -> None:
        """One line of human output (nothing with ``--json``)."""
        if not self.json:
            print(line, file=self.stream)

    def paint(self, text: str, color: str) -> str:
        """``text`` in ``color`` (red, green, yellow, bold, dim) when colour is on."""
        codes = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
        return f"\033[{codes[color]}m{text}\033[0m" if self.color else text

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A readable table (nothing with ``--json``)."""
        if self.json:
            return
        cells = [[str(h) for h in headers]] + [[show(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for n, row in enumerate(cells):
            line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            self.text(self.paint(line, "bold") if n == 0 else line)
        if not rows:
            self.text(self.paint("(none)", "dim"))

    def data(self, payload: Any) -> None:
        """The machine output (only with ``--json``): one JSON document."""
        if self.json:
            print(json.dumps(payload, default=show, indent=2), file=self.stream)


def show(value: Any) -> str:
    """A value as text for tables and JSON (None as ``NULL``; dates in ISO form).

    Example::

        show(None), show(1.5)  # ('NULL', '1.5')
    """
    if value is None:
        return "NULL"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def run(args: argparse.Namespace) -> int:
    """Run the chosen command's handler; errors become one line and an exit code.

    Example::

        run(parser().parse_args([...]))  # 0
    """
    out = Output(args)
    handler: Handler = args.handler
    try:
        return handler(args, out)
    except (CliError, AuditError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(f"{PROG}: error: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``alembic-audit log ... | head``): stop quietly; point
        # stdout at nothing so that the interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = [
    "PROG",
    "CliError",
    "Handler",
    "Output",
    "connect",
    "database_url",
    "parser",
    "progress",
    "run",
    "show",
]
