"""A small shop (customers, products, orders) whose tables keep a change history.

See ``shop.models`` for the tables and ``../README.md`` for the tour.
"""
