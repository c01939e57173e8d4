"""Migration 2: e-certificates, their status lists, and revoked seal keys.

- ``certificates``: one row per issued credential. ``id`` is the GB/T 36904
  identifier (without the ``urn:govex:cert:`` prefix); ``document`` is the signed
  credential as canonical JSON, never changed after issuance; ``status`` is the
  current state (``active`` | ``suspended`` | ``revoked``) and mirrors the bits
  of its two status lists (``revocation_list``/``suspension_list`` at
  ``status_index``).
- ``status_lists``: the Bitstring Status Lists the exchange publishes, one row
  per list with its purpose and raw bits.
- ``seal_key_revocations``: seal keys withdrawn by the operator; every proof by
  such a key is refused from then on.
"""

VERSION = 2
DESCRIPTION = "certificates, status lists, seal key revocations"
SQL = """
CREATE TABLE certificates (
  id VARCHAR PRIMARY KEY, type VARCHAR NOT NULL, type_code VARCHAR NOT NULL,
  issuer VARCHAR NOT NULL, serial BIGINT NOT NULL, holder_code VARCHAR NOT NULL,
  holder_name VARCHAR NOT NULL, status VARCHAR NOT NULL, status_reason VARCHAR,
  status_changed_at TIMESTAMPTZ, revocation_list INTEGER NOT NULL,
  suspension_list INTEGER NOT NULL, status_index INTEGER NOT NULL,
  valid_from TIMESTAMPTZ NOT NULL, valid_until TIMESTAMPTZ, document VARCHAR NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL);
CREATE INDEX certificates_holder_idx ON certificates (holder_code);
CREATE TABLE status_lists (
  list_no INTEGER PRIMARY KEY, purpose VARCHAR NOT NULL, length INTEGER NOT NULL,
  bits BLOB NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE seal_key_revocations (
  kid VARCHAR PRIMARY KEY, revoked_at TIMESTAMPTZ NOT NULL, reason VARCHAR NOT NULL);
"""
