"""Migration 9: the ``jti`` of every accepted client assertion, kept until it expires.

Keyed by ``(issuer, jti)``: a department's assertion is refused when its ``jti`` comes
again before ``expires`` — also after a restart — and one department's ``jti`` never
blocks another's. Accepting an assertion is one insert; a primary-key conflict is the
replay. Rows past ``expires`` are pruned (the assertion itself is refused as expired by
then)."""

VERSION = 9
DESCRIPTION = "assertion_jti: client-assertion jti per issuer until it expires (replay check)"
SQL = """
CREATE TABLE assertion_jti (
  issuer VARCHAR NOT NULL, jti VARCHAR NOT NULL, expires TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (issuer, jti));
"""
