"""Migration 11: department keys by purpose, with state; departments with state.

- ``department_keys`` is keyed by ``(kid, purpose)``: a department holds an ``auth``, a
  ``seal`` and a ``cert`` key. Each key has a ``state``: ``active``, ``rotated`` (out of
  use since ``ended_at``; what it signed before stays valid while its certificate is)
  or ``revoked`` (at ``ended_at``, for ``reason``; refused from then on).
- Existing seal keys made both batch seals and certificate proofs; each becomes the
  department's ``seal`` key and also its ``cert`` key, so certificates already issued
  keep verifying. Seal keys revoked under migration 2 (``seal_key_revocations``) carry
  their revocation into both rows.
- ``departments`` gets a ``state`` (``active`` | ``suspended`` | ``removed``), when it
  changed and why.
"""

VERSION = 11
DESCRIPTION = "department keys by purpose with state; department state"
SQL = """
CREATE TABLE department_keys_v11 (
  kid VARCHAR NOT NULL, uscc VARCHAR NOT NULL, purpose VARCHAR NOT NULL, alg VARCHAR NOT NULL,
  public_pem VARCHAR NOT NULL, certificate_pem VARCHAR, not_before TIMESTAMPTZ,
  not_after TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL,
  state VARCHAR NOT NULL DEFAULT 'active', ended_at TIMESTAMPTZ, reason VARCHAR,
  PRIMARY KEY (kid, purpose));
INSERT INTO department_keys_v11
  SELECT k.kid, k.uscc, p.purpose, k.alg, k.public_pem, k.certificate_pem, k.not_before,
         k.not_after, k.created_at,
         CASE WHEN r.kid IS NULL THEN 'active' ELSE 'revoked' END, r.revoked_at, r.reason
  FROM department_keys k
  JOIN (SELECT 'auth' AS kind, 'auth' AS purpose UNION ALL SELECT 'seal', 'seal'
        UNION ALL SELECT 'seal', 'cert') p ON p.kind = k.purpose
  LEFT JOIN seal_key_revocations r ON r.kid = k.kid;
DROP TABLE department_keys;
ALTER TABLE department_keys_v11 RENAME TO department_keys;
ALTER TABLE departments ADD COLUMN state VARCHAR DEFAULT 'active';
ALTER TABLE departments ADD COLUMN state_changed_at TIMESTAMPTZ;
ALTER TABLE departments ADD COLUMN state_reason VARCHAR;
"""
