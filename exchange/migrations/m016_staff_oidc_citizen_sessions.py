"""Migration 15: staff sign-in through a department's own identity provider; citizen
sessions in the store.

* ``department_oidc``: a department's own OpenID Connect provider for its staff's
  console sign-in — issuer, client id and secret, and the ID-token claim that names the
  staff id (one row per department).
* ``console_sessions.kind``: ``console`` (the staff's) or ``citizen`` (a data subject's
  own view); ``console_sessions.sealed``: what a kind keeps beyond the columns (a
  citizen's verified claims), AES-GCM under a key derived from the session id, which only
  the browser's cookie holds.
"""

VERSION = 16
DESCRIPTION = "department_oidc; console_sessions.kind and .sealed (citizen sessions)"
SQL = """
CREATE TABLE department_oidc (
  uscc VARCHAR PRIMARY KEY, issuer VARCHAR NOT NULL, client_id VARCHAR NOT NULL,
  client_secret VARCHAR, staff_claim VARCHAR NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
ALTER TABLE console_sessions ADD COLUMN kind VARCHAR DEFAULT 'console';
ALTER TABLE console_sessions ADD COLUMN sealed BLOB;
"""
