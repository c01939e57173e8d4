"""Migration 17: an operator's decision on a quarantined record.

``quarantine_decisions``: release or discard, with the reason, who and when, keyed by
the row's content reference (:mod:`exchange.records.quarantine`), so that in a cluster
the decision finds the same row on every node (each quarantines under ids of its own).
"""

VERSION = 17
DESCRIPTION = "quarantine decisions (release, discard)"
SQL = """
CREATE TABLE quarantine_decisions (
  ref VARCHAR PRIMARY KEY, decision VARCHAR NOT NULL, reason VARCHAR NOT NULL,
  decided_by VARCHAR NOT NULL, decided_at TIMESTAMPTZ NOT NULL);
"""
