"""``python -m alembic_audit.cli``: the ``alembic-audit`` command line.

Example::

    $ python -m alembic_audit.cli tables
"""

from . import entry_point

entry_point()
