"""Migration 18: the further subjects of audit entries are found by index.

A "who used my data" search asks ``audit_entries`` (by the first subject, indexed since
migration 1) and ``audit_subjects`` (by every further subject, migration 13). The
second had no index, so each search scanned every row of it, and it grows with every
by-subject read and bulk answer. An ART index on ``subject_hash`` makes that half a
lookup too. ``IF NOT EXISTS``: a store that already has it (made by hand) upgrades.
"""

VERSION = 18
DESCRIPTION = "index audit_subjects by subject hash"
SQL = """
CREATE INDEX IF NOT EXISTS audit_subjects_hash_idx ON audit_subjects (subject_hash);
"""
