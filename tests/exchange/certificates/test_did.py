"""did:web issuers: names, DID documents with Multikey methods, and the old urn: form.

A department's DID document lists every cert key it had — the current one, a rotated one
(``expires``), a revoked one (``revoked``) — each the key its X.509 seal certificate
certifies. A proof's ``verificationMethod`` names a method of the issuer's own document;
a method of another department is refused. Credentials of the urn: form (issued before
did:web) still verify, online and offline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.context import context_url
from exchange.certificates.did import (
    department_did,
    document_url,
    exchange_did,
    issuer_uscc,
    method_id,
    method_kid,
)
from exchange.certificates.models import CertificateRequest
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import (
    CONTEXTS,
    TrustError,
    certificate_id_of,
    certificate_key,
    credential_digest,
    key_urn,
    schema_url,
    uscc_urn,
)
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.departments.registry import KeyState
from exchange.service import Exchange
from schemas.certificates import certificate_type
from schemas.errors import IdentifierError
from signing.keys import generate_key, kid_of
from signing.multibase import decode_multikey, encode_multikey
from signing.proofs import add_proof, format_created
from tests.schemas.test_certificates import SUBJECTS

USCC = "11411500000001070F"


@pytest.mark.parametrize(
    ("issuer", "did", "url"),
    [
        ("https://ex.example", "did:web:ex.example", "https://ex.example/.well-known/did.json"),
        ("https://ex.example:8443/govex/", "did:web:ex.example%3A8443:govex",
         "https://ex.example:8443/govex/did.json"),
    ],
)  # fmt: skip
def test_names_follow_the_did_web_method(issuer: str, did: str, url: str) -> None:
    assert exchange_did(issuer) == did
    assert document_url(did) == url
    department = department_did(issuer, USCC)
    assert department == f"{did}:departments:{USCC}"
    assert document_url(department) == f"{issuer.rstrip('/')}/departments/{USCC}/did.json"
    assert issuer_uscc(department) == issuer_uscc(uscc_urn(USCC)) == USCC
    assert method_kid(method_id(department, "abc-1")) == (department, "abc-1")
    assert method_kid(key_urn("abc-1")) == (None, "abc-1")


@pytest.mark.parametrize(
    "bad",
    ["did:web:ex.example", f"did:web::departments:{USCC}", "did:key:z6Mk", "urn:uscc:123",
     f"did:web:ex.example:departments:{USCC[:-1]}0"],
)  # fmt: skip
def test_an_issuer_that_names_no_department_is_refused(bad: str) -> None:
    with pytest.raises((TrustError, IdentifierError)):
        issuer_uscc(bad)


@pytest.fixture
def fresh(tmp_path: Path) -> Exchange:
    return create_demo(Settings(data=tmp_path / "data"))


def _issue(ex: Exchange, code: str = "resident_id_card") -> dict[str, Any]:
    ctype = certificate_type(code)
    uscc = ex.registry.by_code(ctype.department).uscc
    request = CertificateRequest(type=code, subject=SUBJECTS[code])
    return ex.certificates.issue(uscc, request).credential


def test_a_department_document_lists_current_and_past_keys_as_its_certificates_do(
    fresh: Exchange,
) -> None:
    gongan = fresh.registry.by_code("gongan")
    first = _issue(fresh)
    old_kid = fresh.registry.current_key(gongan.uscc, "cert").kid
    new_key = generate_key("Ed25519")
    fresh.registry.add_key(gongan.uscc, "cert", new_key.public_key())
    fresh.certificates.seals.deposit(new_key)
    rotated_at = datetime.now(UTC) - timedelta(seconds=1)
    old_key = fresh.registry.key(old_kid, "cert")
    assert old_key is not None
    with fresh.store.transaction() as cur:
        fresh.registry.write_key_state(cur, old_key, KeyState.ROTATED, rotated_at, "rotated")
    fresh.registry.reload()
    second = _issue(fresh)
    document = fresh.certificates.did_document(gongan.uscc)
    did = department_did(fresh.identity.issuer, gongan.uscc)
    assert document["id"] == did
    assert document["alsoKnownAs"] == [uscc_urn(gongan.uscc)]
    methods = {m["id"]: m for m in document["verificationMethod"]}
    assert document["assertionMethod"] == list(methods)
    assert list(methods) == [method_id(did, old_kid), method_id(did, kid_of(new_key.public_key()))]
    for credential in (first, second):
        method = methods[credential["proof"]["verificationMethod"]]
        assert method["type"] == "Multikey"
        assert method["controller"] == did
        # the DID document and the X.509 chain state the same key
        seal = fresh.certificates.trust_bundle().seal(method_kid(method["id"])[1])
        assert seal is not None
        assert method["publicKeyMultibase"] == encode_multikey(certificate_key(seal.certificate))
        assert kid_of(decode_multikey(method["publicKeyMultibase"])) == seal.kid
    old, new = methods.values()
    assert old["expires"] == format_created(rotated_at)  # its retirement: no longer used
    assert new["expires"] > old["expires"]  # the end of its seal certificate
    fresh.certificates.revoke_seal_key(fresh.identity.uscc, kid_of(new_key.public_key()), "lost")
    revoked = fresh.certificates.did_document(gongan.uscc)["verificationMethod"][1]
    assert "revoked" in revoked
    exchange_doc = fresh.certificates.did_document()
    assert exchange_doc["id"] == exchange_did(fresh.identity.issuer)
    assert [m["type"] for m in exchange_doc["verificationMethod"]] == ["Multikey"]
    fresh.close()


def _resealed(ex: Exchange, doc: dict[str, Any], method: str) -> dict[str, Any]:
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    return add_proof(
        unsigned, DemoDepartment.load(ex, "gongan").cert_key, verification_method=method
    )


def test_a_proof_by_a_key_named_under_another_department_is_refused(fresh: Exchange) -> None:
    doc = _issue(fresh)
    kid = method_kid(doc["proof"]["verificationMethod"])[1]
    other = department_did(fresh.identity.issuer, fresh.registry.by_code("minzheng").uscc)
    forged = _resealed(fresh, doc, method_id(other, kid))
    verdict = fresh.certificates.verifier.check(forged)
    failed = {c.name: c.reason for c in verdict.failures}
    assert "issuer_chain" in failed
    assert "not the issuer" in (failed["issuer_chain"] or "")
    fresh.close()


def test_a_credential_of_the_urn_form_still_verifies_online_and_offline(fresh: Exchange) -> None:
    doc = _issue(fresh)
    assert doc["@context"][1] == context_url(fresh.identity.issuer)
    uscc = doc["metadata"]["issuer_uscc"]
    legacy = {k: v for k, v in doc.items() if k != "proof"}
    legacy["@context"] = list(CONTEXTS)
    legacy["issuer"] = {"id": uscc_urn(uscc), "name": doc["issuer"]["name"]}
    legacy["credentialSchema"] = {
        "id": schema_url(certificate_type("resident_id_card")),
        "type": "JsonSchema",
    }
    kid = method_kid(doc["proof"]["verificationMethod"])[1]
    old = _resealed(fresh, legacy, key_urn(kid))
    # as the register of an exchange from before did:web holds it
    fresh.store.execute(
        "UPDATE certificates SET document = ?, digest = ? WHERE id = ?",
        [orjson.dumps(old).decode(), credential_digest(old), certificate_id_of(old["id"])],
    )
    offline = Verifier(
        TrustBundle.from_json(json.dumps(fresh.certificates.trust_bundle().to_json()))
    )
    for verifier in (fresh.certificates.verifier, offline):
        verdict = verifier.check(old)
        assert verdict.valid, verdict.failures
    # mixing the forms is refused: a urn: issuer naming the new context
    mixed = _resealed(fresh, {**legacy, "@context": doc["@context"]}, key_urn(kid))
    assert "schema" in {c.name for c in fresh.certificates.verifier.check(mixed).failures}
    fresh.close()
