"""The govex JSON-LD context defines every term a govex credential uses, and cannot drift.

The shipped file is what :func:`build_context` makes of the certificate types; every
member of every issued credential (one of each type) is a JSON-LD keyword, a VC 2.0 term
or a govex term. The interop test (tests/interop/test_jsonld_vc.py) expands the same
credentials with jsonld.js in safe mode.
"""

from __future__ import annotations

from typing import Any

from exchange.certificates.context import (
    CONTEXT_FILE,
    build_context,
    context_url,
    packaged_context,
    render,
    subject_terms,
)
from exchange.certificates.vocabulary import VC2_CONTEXT, credential_type_name
from schemas.certificates import CertificateType, load_certificate_types

# the VC 2.0 context's terms a govex credential uses (https://www.w3.org/ns/credentials/v2)
VC2_TERMS = {
    "id", "type", "name", "issuer", "validFrom", "validUntil", "credentialSchema",
    "credentialSubject", "credentialStatus", "proof", "statusPurpose", "statusListIndex",
    "statusListCredential", "cryptosuite", "verificationMethod", "proofPurpose", "created",
    "proofValue", "VerifiableCredential", "JsonSchema", "BitstringStatusListEntry",
    "DataIntegrityProof",
}  # fmt: skip


def test_the_shipped_context_is_the_generated_one() -> None:
    shipped = packaged_context()
    assert shipped == build_context(), (
        f"{CONTEXT_FILE} is stale: python -m exchange.certificates.context > "
        f"exchange/certificates/{CONTEXT_FILE}"
    )
    print(f"govex context: {len(shipped['@context']) - 2} terms")


def _undefined(value: Any, terms: set[str], path: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "@context":
                if key not in terms:
                    out.append(f"{path}{key}")
                out += _undefined(item, terms, f"{path}{key}.")
    elif isinstance(value, list):
        for item in value:
            out += _undefined(item, terms, path)
    return out


def test_every_member_and_type_of_every_issued_credential_is_defined(
    every_type: dict[str, dict[str, Any]],
) -> None:
    terms = set(packaged_context()["@context"]) | VC2_TERMS
    assert set(every_type) == set(load_certificate_types())
    for code, credential in every_type.items():
        assert credential["@context"][1].endswith("/ns/credentials/v1")
        assert _undefined(credential, terms) == [], code
        undefined_types = {t for t in credential["type"] if t not in terms}
        assert undefined_types == set(), code
    print(f"credentials checked: {len(every_type)} types, no undefined term")


def test_a_new_field_or_type_is_in_the_context_without_an_edit() -> None:
    base = load_certificate_types()["resident_id_card"]
    schema = {**base.json_schema}
    schema["properties"] = {
        **schema["properties"],
        "photo_taken": {"type": "string", "format": "date"},
        "aliases": {"type": "array", "items": {"type": "object",
                                                "properties": {"alias": {"type": "string"}}}},
    }  # fmt: skip
    data = base.model_dump(by_alias=True) | {"code": "pet_licence", "schema": schema}
    new = CertificateType.model_validate(data)
    context = build_context({"pet_licence": new})["@context"]
    assert context[credential_type_name(new)] == {"@id": "govex:PetLicenceCredential"}
    assert context["photo_taken"]["@type"] == "http://www.w3.org/2001/XMLSchema#date"
    assert context["alias"] == "govex:alias"
    assert {"aliases", "holder_code", "issue_date", "metadata"} <= set(context)
    assert "id" not in subject_terms([new])  # the VC context's @id


def test_the_url_is_versioned_under_the_issuer_and_the_file_renders_stably() -> None:
    assert context_url("https://ex.example/govex/") == "https://ex.example/govex/ns/credentials/v1"
    assert render(build_context()).endswith("}\n")
    assert VC2_CONTEXT not in render(build_context())
