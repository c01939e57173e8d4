"""The audit log's parts: leaf format, Merkle nodes in DuckDB, subject salts, checkpoints,
queries, export and offline verification, archives.

:class:`exchange.audit.log.AuditLog` is the log itself; these modules are imported by name
(``from exchange.audit.checkpoints import Checkpointer``).
"""
