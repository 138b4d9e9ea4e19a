"""Tested recipes of the README (section "Audit context"): web frameworks and jobs."""
