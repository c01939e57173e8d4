"""Versioned schema migrations: one module per version, ``mNNN_name.py`` with VERSION,
DESCRIPTION and SQL. Applied in order by :meth:`exchange.store.Store.migrate`."""
