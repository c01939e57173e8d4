"""The audit log: every exchange is one entry in an RFC 6962 Merkle log.

Modules (imported by name, e.g. ``from exchange.audit.log import AuditLog``):

* ``log`` — :class:`~exchange.audit.log.AuditLog`, the facade: append, open, trees
  and proofs; ``segments`` — the append-only segment files, the system of record (one
  ``fdatasync`` per group); ``tilestore`` — the tree's nodes in one file per level
  beside them, the C2SP hash tiles among them; ``recovery`` — opening: torn tails,
  migration of database-only stores, tree files and index rebuilt from the segments,
  work that never committed voided; ``event`` —
  :class:`~exchange.audit.event.AuditEvent` and its encoding into a row and leaf parts,
  every subject of an entry (the first in ``subject_hash``,
  the others in ``detail.subjects`` and the ``audit_subjects`` table) and the caps on an
  entry's size; ``writer`` — the group-commit writer behind the log (writer and
  syncer threads); ``indexer`` — its indexer thread, DuckDB as the searchable index
  filled in large batches, and the read barrier; ``tables`` — the index's rows, made by
  DuckDB from the log's bytes (each entry's JSON read by name).
* ``leaf`` — :class:`~exchange.audit.leaf.AuditEntry`, ``ENTRY_FIELDS`` (the one list
  of an entry's members) and the exact bytes a leaf hashes; ``subjects`` — per-subject
  salts and keyed hashes; ``context`` — the HTTP request an entry belongs to;
  ``latency`` — group-commit figures.
* ``checkpoints`` — signed checkpoints (C2SP) and witnesses; ``trail`` — proving an
  entry against a signed checkpoint (``prove_entry``) and a subject's, case's or
  department's trail; ``tiles`` — the log as C2SP tlog-tiles (hash tiles read from
  the tree's files, entry bundles), served under ``/log`` by :mod:`exchange.api.routes.log`.
* ``query`` — search and visibility; ``reports`` — the audited reads of the log (entry
  search, the "who used my data" report: newest first, paged, reads apart from
  lookups); ``export`` — an export file; ``verify`` — its
  offline verification, ``entrylines`` — its hot loop (a run of entry lines checked at
  once, the tree's levels built in ranges by the workers); ``archive`` — old entries to Parquet.
* ``cluster`` — :class:`~exchange.audit.cluster.ClusterAuditLog`, one log for every node
  of a cluster (``govex serve --cluster``): entries published to the audit partition,
  applied by every node's replica in its order; ``bus`` — that partition (Kafka's, or
  one in memory) and the outbox that publishes a node's concurrent calls as one
  message; ``salts`` — subject salts drawn once for the cluster.
"""
