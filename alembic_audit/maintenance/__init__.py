"""Maintenance of audit tables: partitions ahead of time, retention, erasure, and the log.

- :func:`create_partitions`, :func:`check_partitions` (``upkeep``): partitions of
  partitioned audit tables, made ahead; rows waiting in the default partition moved;
- :func:`use_pg_partman` (``partman``): pg_partman keeps them instead (optional);
- :func:`prune` (``prune``): the rows older than a cutoff go: whole partitions dropped,
  archived or exported, the rest by batched ``DELETE``;
- :func:`redact` (``redact``): personal data erased from one key's history;
- :func:`maintenance_log` (``log``): what all of the above did, and who;
- ``conversion``: an audit table converted between plain and partitioned (the migration
  ops ``op.partition_audit_table`` / ``op.unpartition_audit_table``).

Example::

    alembic_audit.create_partitions(engine)
    alembic_audit.prune(engine, older_than="365d", archive_schema="audit_archive")
"""

from .log import maintenance_log
from .partman import use_pg_partman
from .prune import PruneReport, PruneStep, prune
from .redact import RedactReport, redact
from .upkeep import PartitionReport, check_partitions, create_partitions

__all__ = [
    "PartitionReport",
    "PruneReport",
    "PruneStep",
    "RedactReport",
    "check_partitions",
    "create_partitions",
    "maintenance_log",
    "prune",
    "redact",
    "use_pg_partman",
]
