"""The audit log: every exchange is one entry in an RFC 6962 Merkle log.

Modules (imported by name, e.g. ``from exchange.audit.log import AuditLog``):

* ``log`` — :class:`~exchange.audit.log.AuditLog`, the facade: append, recover, trees
  and proofs; ``event`` — :class:`~exchange.audit.event.AuditEvent` and its encoding
  into a row and leaf parts, every subject of an entry (the first in ``subject_hash``,
  the others in ``detail.subjects`` and the ``audit_subjects`` table) and the caps on an
  entry's size; ``writer`` — the group-commit writer behind the log (writer and
  committer threads).
* ``leaf`` — :class:`~exchange.audit.leaf.AuditEntry`, ``ENTRY_FIELDS`` (the one list
  of an entry's members) and the exact bytes a leaf hashes; ``nodes`` — the tree's
  nodes in DuckDB; ``subjects`` — per-subject salts and keyed hashes; ``context`` —
  the HTTP request an entry belongs to; ``latency`` — group-commit figures.
* ``checkpoints`` — signed checkpoints (C2SP) and witnesses; ``trail`` — proving an
  entry against a signed checkpoint (``prove_entry``) and a subject's, case's or
  department's trail; ``tiles`` — the log as C2SP tlog-tiles (hash tiles from the
  nodes, entry bundles), served under ``/log`` by :mod:`exchange.api.routes.log`.
* ``query`` — search and visibility; ``reports`` — the audited reads of the log (entry
  search, the "who used my data" report: newest first, paged, reads apart from
  lookups); ``export`` — an export file; ``verify`` — its
  offline verification; ``archive`` — old entries to Parquet.
"""
