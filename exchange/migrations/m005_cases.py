"""Migration 5: resolved cases (一件事一次办) and their signed bundles."""

VERSION = 5
DESCRIPTION = "cases and their bundles"
SQL = """
CREATE TABLE cases (
  case_no VARCHAR PRIMARY KEY, matter VARCHAR NOT NULL, approver VARCHAR NOT NULL,
  required INTEGER NOT NULL, obtained INTEGER NOT NULL, to_bring INTEGER NOT NULL,
  bundle VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE INDEX cases_matter_idx ON cases (matter);
"""
