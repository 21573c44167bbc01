"""Alembic migrations: the only way a griddispatch schema is built (see ``dispatch.migrate``)."""
