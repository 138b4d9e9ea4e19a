"""Compatibility path of the grant helpers (the README's earlier examples import it).

Example::

    from alembic_audit import grant_audit_access  # preferred
    from alembic_audit.grants import grant_audit_access  # still works
"""

from .runtime.grants import grant_audit_access, revoke_audit_access

__all__ = ["grant_audit_access", "revoke_audit_access"]
