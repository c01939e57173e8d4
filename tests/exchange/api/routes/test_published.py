"""What verifiers resolve, served at the URLs credentials name: context, schemas, DIDs.

Each document is public, has its media type and a ``Cache-Control``, and is the one the
trust bundle carries (so an offline verifier has the same). A proof's
``verificationMethod`` dereferences: the did:web URL of its DID, on this exchange,
answers a document holding that method, whose key is the one the seal certificate
certifies. Unknown types and departments are 404 problem+json.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.did import document_url, method_kid
from exchange.certificates.vocabulary import certificate_key
from exchange.service import Exchange
from signing.multibase import encode_multikey
from tests.support.certificates import issue_every_type


@pytest.fixture(scope="module")
def every_type(exchange: Exchange) -> dict[str, dict[str, Any]]:
    return issue_every_type(exchange)


def _path(url: str, exchange: Exchange) -> str:
    """The path on this exchange of a URL below its issuer URL."""
    issuer = exchange.identity.issuer.rstrip("/")
    assert url.startswith(issuer + "/"), url
    return urlsplit(url).path.removeprefix(urlsplit(issuer).path)


def test_a_credential_names_documents_the_exchange_serves(
    client: TestClient, exchange: Exchange, every_type: dict[str, dict[str, Any]]
) -> None:
    bundle = exchange.certificates.trust_bundle()
    credential = every_type["resident_id_card"]
    context = client.get(_path(credential["@context"][1], exchange))
    assert context.status_code == 200
    assert context.headers["content-type"] == "application/ld+json"
    assert context.headers["cache-control"] == "public, max-age=86400"
    assert context.json() == bundle.document(credential["@context"][1])
    for code, doc in every_type.items():
        schema = client.get(_path(doc["credentialSchema"]["id"], exchange))
        assert schema.status_code == 200, code
        assert schema.headers["content-type"] == "application/schema+json"
        assert "max-age" in schema.headers["cache-control"]
        assert schema.json() == bundle.document(doc["credentialSchema"]["id"])
        # the proof's method dereferences to the issuer's DID document
        method = doc["proof"]["verificationMethod"]
        did, kid = method_kid(method)
        assert did == doc["issuer"]["id"]
        answer = client.get(_path(document_url(did), exchange).replace("https://", ""))
        assert answer.status_code == 200, code
        assert answer.headers["content-type"] == "application/did+ld+json"
        assert answer.json() == bundle.document(method)
        found = [m for m in answer.json()["verificationMethod"] if m["id"] == method]
        seal = bundle.seal(kid)
        assert seal is not None
        assert [m["publicKeyMultibase"] for m in found] == [
            encode_multikey(certificate_key(seal.certificate))
        ]
    # the bundle a verifier exports keeps them through its JSON
    again = TrustBundle.from_json(json.dumps(bundle.to_json()))
    assert again.documents == bundle.documents
    assert len(again.documents) == 1 + len(every_type) + 1 + len(exchange.registry.departments())
    print(f"published: context, {len(every_type)} schemas and DID documents dereference")


def test_the_exchange_did_document_is_served_at_both_did_web_paths(
    client: TestClient, exchange: Exchange
) -> None:
    at_root = client.get("/.well-known/did.json")
    with_path = client.get("/did.json")
    assert at_root.status_code == with_path.status_code == 200
    assert at_root.json() == with_path.json() == exchange.certificates.did_document()
    signer = exchange.certificates.trust_bundle().status_signers
    assert [m["id"].partition("#")[2] for m in at_root.json()["verificationMethod"]] == list(signer)


@pytest.mark.parametrize(
    "path",
    ["/schemas/credentials/v1/pet_licence.json", "/departments/91350100M000100Y43/did.json",
     "/departments/x/did.json", "/ns/credentials/v2"],
)  # fmt: skip
def test_what_is_not_published_is_a_404_problem(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
