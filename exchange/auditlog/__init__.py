"""The audit log's parts: leaf format, Merkle nodes in DuckDB, subject salts, checkpoints,
queries, export and offline verification, archives.

:class:`exchange.audit.AuditLog` is the log itself; these modules are imported by name
(``from exchange.auditlog.checkpoints import Checkpointer``).
"""
