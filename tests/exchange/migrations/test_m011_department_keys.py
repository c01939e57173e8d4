"""Migration 11 on a database as it stood before keys had purposes (schema version 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from exchange.departments.registry import DepartmentState, KeyState, Registry
from exchange.keyring import Keyring, default_identity, seal_validity
from exchange.store import DB_FILE, MIGRATIONS, Store
from schemas.identifiers import make_uscc
from signing.algorithms import PrivateKey
from signing.ca import certificate_to_pem
from signing.keys import generate_key, kid_of, public_pem
from signing.purposes import KeyPurposeError, key_usage_for, purpose_of, require_purpose

PW = b"migration-test-passphrase"


def _legacy_seal_certificate(keyring: Keyring, key: PrivateKey, uscc: str) -> x509.Certificate:
    """A seal certificate as the root issued them before key purposes: no EKU."""
    start, end = seal_validity(keyring.ca_certificate)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "公安局"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "公安局"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(keyring.ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage_for("seal"), critical=True)
        .sign(keyring.ca_key, None)
    )


def _old_database(data: Path) -> None:
    """Migrations up to 7 only, as a data directory made before this change holds."""
    conn = duckdb.connect(str(data / DB_FILE))
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for version, description, sql in MIGRATIONS:
        if version > 7:
            break
        conn.execute(sql)
        conn.execute(
            "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
            [version, description],
        )
    conn.close()


def test_existing_seal_keys_become_seal_and_cert_keys_and_revocations_carry_over(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    uscc = make_uscc("1", "1", "411500", 101)
    Keyring.create(data, PW, default_identity("x", "411500", uscc, demo=True))
    keyring = Keyring(data, PW)
    _old_database(data)
    now = datetime.now(UTC)
    conn = duckdb.connect(str(data / DB_FILE))
    conn.execute(
        "INSERT INTO departments VALUES (?, 'gongan', '公安局', '411500', ['department'], ?)",
        [uscc, now],
    )
    auth, seal, old_seal = generate_key(), generate_key(), generate_key()
    for purpose, key in (("auth", auth), ("seal", seal), ("seal", old_seal)):
        cert = _legacy_seal_certificate(keyring, key, uscc) if purpose == "seal" else None
        conn.execute(
            "INSERT INTO department_keys VALUES (?, ?, ?, 'Ed25519', ?, ?, ?, ?, ?)",
            [
                kid_of(key.public_key()),
                uscc,
                purpose,
                public_pem(key.public_key()),
                certificate_to_pem(cert) if cert is not None else None,
                cert.not_valid_before_utc if cert else None,
                cert.not_valid_after_utc if cert else None,
                now,
            ],
        )
    conn.execute(
        "INSERT INTO seal_key_revocations VALUES (?, ?, 'leaked')",
        [kid_of(old_seal.public_key()), now],
    )
    conn.close()

    with Store(data) as store:
        assert store.migrate() >= 11
        registry = Registry(store, keyring)
        keys = {(k.purpose, k.kid): k for k in registry.keys(uscc)}
        seal_kid, old_kid = kid_of(seal.public_key()), kid_of(old_seal.public_key())
        assert set(keys) == {
            ("auth", kid_of(auth.public_key())),
            ("seal", seal_kid),
            ("cert", seal_kid),
            ("seal", old_kid),
            ("cert", old_kid),
        }
        assert keys[("cert", seal_kid)].state is KeyState.ACTIVE
        for purpose in ("seal", "cert"):
            revoked = keys[(purpose, old_kid)]
            assert (revoked.state, revoked.reason) == (KeyState.REVOKED, "leaked")
            assert revoked.ended_at is not None
        assert registry.current_key(uscc, "cert").kid == seal_kid
        assert registry.status(uscc).state is DepartmentState.ACTIVE
        assert registry.is_active(uscc)
        assert registry.public(uscc).cert_kids == [seal_kid]
        certificate = keys[("cert", seal_kid)].certificate
        assert certificate is not None
        require_purpose(certificate, "cert")
        assert purpose_of(certificate) is None  # a pre-purpose seal certificate
        with pytest.raises(KeyPurposeError):
            require_purpose(certificate, "auth")
