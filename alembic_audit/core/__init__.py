"""The vocabulary: constants, errors, names, options and the :class:`AuditSpec`.

Everything else in the package consumes what is defined here; nothing here
imports from another stage.
"""
