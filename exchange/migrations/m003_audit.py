"""Migration 3: the audit log as a verifiable Merkle log.

* ``audit_nodes`` is rebuilt keyed by one ``BIGINT``: the *in-order* position of a node,
  ``id = idx · 2^(level+1) + 2^level − 1`` (leaves are the even ids). Appending leaves
  writes ids in almost increasing order, so DuckDB's zone maps find a node, or the
  contiguous ids of a whole subtree, without an index (an ART primary key made
  inserts and point reads several times slower). The table of migration 1 was never
  written to, so dropping it loses nothing.
* ``audit_subject_salts``: one random salt per data subject, found by a keyed
  reference ``ref = HMAC(K, "ref" ‖ id)``. The subject's entries carry only
  ``HMAC(salt, id)``; deleting the row unlinks them for good without touching a leaf.
* ``audit_archives``: ranges of entries moved to Parquet (their tree nodes stay).
"""

VERSION = 3
DESCRIPTION = "audit Merkle nodes by in-order id, per-subject salts, archives"
SQL = """
DROP TABLE audit_nodes;
CREATE TABLE audit_nodes (id BIGINT NOT NULL, hash BLOB NOT NULL);
CREATE TABLE audit_subject_salts (
  ref VARCHAR PRIMARY KEY, salt BLOB NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE audit_archives (
  first_seq BIGINT PRIMARY KEY, end_seq BIGINT NOT NULL, path VARCHAR NOT NULL,
  sha256 VARCHAR NOT NULL, entries BIGINT NOT NULL, oldest TIMESTAMPTZ NOT NULL,
  newest TIMESTAMPTZ NOT NULL, created_at TIMESTAMPTZ NOT NULL);
"""
