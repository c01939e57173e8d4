"""Migration 8: the register keeps the digest of each issued certificate.

``certificates.digest`` is the SHA-256 (hex) of the issued credential's canonical JSON
(RFC 8785) without its ``proof``: what the exchange issued under the id. The verifier
refuses a credential whose content differs, whoever signed it. Rows issued before this
migration get their digest when the exchange opens (computed from ``document``).
"""

VERSION = 8
DESCRIPTION = "digest of each issued certificate"
SQL = """
ALTER TABLE certificates ADD COLUMN digest VARCHAR;
"""
