"""Reading the database: the advanced inspector, a constant number of catalog queries."""

from .inspector import PGAdvancedInspector

__all__ = ["PGAdvancedInspector"]
