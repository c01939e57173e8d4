"""Migration 12: every version of a resource's schema, and the version each batch was
validated against.

A resource's schema is versioned ``major.minor``; the catalog keeps every version, not
only the latest (``resources.definition`` stays the latest). The resources already in
the catalog start at 1.0, and so do the batches already stored (a batch without a row
in ``batch_schemas`` was validated against 1.0).
"""

VERSION = 12
DESCRIPTION = "resource schema versions; the schema version of each batch"
SQL = """
CREATE TABLE resource_versions (
  code VARCHAR NOT NULL, major INTEGER NOT NULL, minor INTEGER NOT NULL,
  definition JSON NOT NULL, created_at TIMESTAMPTZ NOT NULL, created_by VARCHAR NOT NULL,
  PRIMARY KEY (code, major, minor));
INSERT INTO resource_versions
  SELECT code, 1, 0, definition, now(), 'migration' FROM resources;
CREATE TABLE batch_schemas (
  batch_id VARCHAR PRIMARY KEY, resource VARCHAR NOT NULL, schema_version VARCHAR NOT NULL);
"""
