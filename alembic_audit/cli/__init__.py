"""The ``alembic-audit`` command line: read and maintain audit history from a shell.

Each command group is a module of this package with a ``register(commands)`` function
that adds its subcommands (see :data:`COMMAND_MODULES`); :mod:`.common` holds what they
share: finding the database, printing tables, JSON and progress, and errors that end
in one line and a non-zero exit code, never a traceback.

Example::

    $ alembic-audit --url postgresql+psycopg://app@db/shop tables
    $ alembic-audit tables --json        # $DATABASE_URL, else alembic.ini's sqlalchemy.url
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import common, history, maintenance, tables

#: The command groups, in the order ``--help`` lists them.
COMMAND_MODULES = (tables, history, maintenance)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed, 2 bad usage).

    Example::

        main(["--url", "postgresql+psycopg://postgres@localhost/shop", "tables"])  # 0
    """
    parser = common.parser()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    args = parser.parse_args(argv)
    return common.run(args)


def entry_point() -> None:
    """The ``alembic-audit`` console script.

    Example::

        $ alembic-audit --help
    """
    sys.exit(main())


__all__ = ["COMMAND_MODULES", "entry_point", "main"]
