"""Migration 15: ``audit_nodes`` goes.

The audit tree's nodes live in files beside the log's segments
(:mod:`exchange.audit.tilestore`), rebuilt from the segments when they are missing;
nothing reads or writes the table any more.
"""

VERSION = 15
DESCRIPTION = "drop audit_nodes (the audit tree lives in its level files)"
SQL = """
DROP TABLE IF EXISTS audit_nodes;
"""
