"""``credentialSchema`` per VC JSON Schema: the named schema validates the whole credential.

Every issued credential (one of each type) names its type's schema at the exchange, and
validates against it with an independent JSON Schema 2020-12 validator (``jsonschema``);
the old subject-only schema judged them all invalid. A credential of another type, one
without its metadata or with a changed subject, does not validate.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from exchange.certificates.credential_schema import credential_schema, credential_schema_url
from exchange.service import Exchange
from schemas.certificates import certificate_type


def _schema(exchange: Exchange, code: str) -> dict[str, Any]:
    schema = credential_schema(exchange.identity.issuer, certificate_type(code))
    Draft202012Validator.check_schema(schema)
    return schema


def test_every_issued_credential_validates_against_the_schema_it_names(
    exchange: Exchange, every_type: dict[str, dict[str, Any]]
) -> None:
    for code, credential in every_type.items():
        url = credential_schema_url(exchange.identity.issuer, certificate_type(code))
        assert credential["credentialSchema"] == {"id": url, "type": "JsonSchema"}
        schema = _schema(exchange, code)
        assert schema["$id"] == url
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(credential)]
        assert errors == [], code
        # VC JSON Schema validates the credential; secured or not, both pass
        bare = {k: v for k, v in credential.items() if k != "proof"}
        assert Draft202012Validator(schema).is_valid(bare), code
    print(f"credentialSchema: {len(every_type)} types, every credential valid")


def _broken(credential: dict[str, Any], how: str) -> dict[str, Any]:
    doc = copy.deepcopy(credential)
    if how == "no metadata":
        del doc["metadata"]
    elif how == "extra subject field":
        doc["credentialSubject"]["nickname"] = "小明"
    elif how == "other type":
        doc["type"] = ["VerifiableCredential", "MarriageCertificateCredential"]
    elif how == "urn issuer":
        doc["issuer"]["id"] = "urn:uscc:" + doc["metadata"]["issuer_uscc"]
    elif how == "one status entry":
        doc["credentialStatus"] = doc["credentialStatus"][:1]
    return doc


@pytest.mark.parametrize(
    "how", ["no metadata", "extra subject field", "other type", "urn issuer", "one status entry"]
)
def test_a_credential_that_differs_from_its_type_does_not_validate(
    exchange: Exchange, every_type: dict[str, dict[str, Any]], how: str
) -> None:
    schema = _schema(exchange, "resident_id_card")
    assert not Draft202012Validator(schema).is_valid(_broken(every_type["resident_id_card"], how))
