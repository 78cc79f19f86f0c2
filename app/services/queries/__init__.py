"""Read-only views for the operator console and the search API: small, paged, indexed queries.

Nothing here writes; each function is one or two statements that alembic 0012's indexes (or a
primary key) answer without scanning a large table.
"""
