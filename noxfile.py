"""Developer entry points.  From a fresh clone with only Python 3.10+:

    python3 -m venv .venv && .venv/bin/pip install -q nox && .venv/bin/nox -s tests
    python3 -m venv .venv && .venv/bin/pip install -q nox && .venv/bin/nox -s demo

Without ``ALEMBIC_AUDIT_TEST_URL`` (or ``--test-url``) the tests and the demo start
an embedded PostgreSQL from the ``pgserver`` package.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (latest SQLAlchemy), on $ALEMBIC_AUDIT_TEST_URL or embedded."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-minimum")
def tests_minimum(session: nox.Session) -> None:
    """The test suite on the oldest supported SQLAlchemy (2.0.x) and Alembic (1.20.1).

    CI runs it with ``--force-python 3.10`` where that interpreter exists.
    """
    session.install("-e", ".[test]", "SQLAlchemy[asyncio]>=2.0,<2.1", "alembic==1.20.1")
    session.run("pytest", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The sample shop end to end: sample_project/demo.py (embedded PostgreSQL unless a URL)."""
    session.install("-e", ".[psycopg,embedded]")
    session.run("python", "sample_project/demo.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (format and lint) and mypy --strict."""
    # Pinned: a new ruff or mypy release may format or check differently, and CI
    # must not fail on a release that happened after the last commit.
    session.install("-e", ".[test]", "mypy==2.4.1", "ruff==0.17.6")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")
