"""Migration 10: case numbers (办件编号) belong to the approving department.

Two departments may number their cases alike; one department's case number names one
case. The key was ``case_no`` alone, checked by a SELECT before the INSERT, so two
departments collided and concurrent resolutions of one number failed at the INSERT.
"""

VERSION = 10
DESCRIPTION = "cases keyed by (approver, case_no)"
SQL = """
CREATE TABLE cases_scoped (
  case_no VARCHAR NOT NULL, matter VARCHAR NOT NULL, approver VARCHAR NOT NULL,
  required INTEGER NOT NULL, obtained INTEGER NOT NULL, to_bring INTEGER NOT NULL,
  bundle VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (approver, case_no));
INSERT INTO cases_scoped SELECT * FROM cases;
DROP INDEX cases_matter_idx;
DROP TABLE cases;
ALTER TABLE cases_scoped RENAME TO cases;
CREATE INDEX cases_matter_idx ON cases (matter);
"""
