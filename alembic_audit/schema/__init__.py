"""The SQLAlchemy side: the hook that gives every audited ``Table`` its audit ``Table``."""
