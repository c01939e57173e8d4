"""Migration 13: every subject of an audit entry can be found, not only the first.

An entry about several people or companies (both parties of a marriage, the owners of
a property, every record of an answer by subject) keeps the keyed hash of its first
subject in ``audit_entries.subject_hash`` and those of the others in its ``detail``
(``subjects``), inside the leaf. ``audit_subjects`` repeats the others, one row per
``(seq, subject_hash)``, so the "who used my data" report finds the entry by any of
them. An entry with at most one subject writes no row here. The rows stay when their
entries are archived (they are small), so a trail finds archived entries too.

``case_subjects`` keeps the keyed hashes of a case's applicants (办件申请人), so a
re-read of the case bundle is an entry about each of them; no identifier is stored.
"""

VERSION = 13
DESCRIPTION = "audit_subjects: further subjects of an entry; case_subjects: a case's applicants"
SQL = """
CREATE TABLE audit_subjects (seq BIGINT NOT NULL, subject_hash VARCHAR NOT NULL);
CREATE TABLE case_subjects (
  approver VARCHAR NOT NULL, case_no VARCHAR NOT NULL, subject_hash VARCHAR NOT NULL);
"""
