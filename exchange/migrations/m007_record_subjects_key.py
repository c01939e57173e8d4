"""Migration 7: record_subjects gets a primary key, so ingest adds a batch's subjects with
``ON CONFLICT DO NOTHING`` (one index probe per row) instead of an anti-join that scanned
the whole table on every batch and grew with it."""

VERSION = 7
DESCRIPTION = "primary key on record_subjects (resource, subject, key)"
SQL = """
CREATE TABLE record_subjects_keyed (
  resource VARCHAR NOT NULL, subject VARCHAR NOT NULL, key VARCHAR NOT NULL,
  PRIMARY KEY (resource, subject, key));
INSERT INTO record_subjects_keyed SELECT DISTINCT resource, subject, key FROM record_subjects;
DROP INDEX record_subjects_idx;
DROP TABLE record_subjects;
ALTER TABLE record_subjects_keyed RENAME TO record_subjects;
CREATE INDEX record_subjects_idx ON record_subjects (subject);
"""
