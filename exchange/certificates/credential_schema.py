"""``credentialSchema`` after VC JSON Schema: one JSON Schema per certificate type.

A credential names ``{"id": "<issuer>/schemas/credentials/v1/<code>.json", "type":
"JsonSchema"}`` (:func:`credential_schema_url`). The schema (JSON Schema 2020-12, its
``$id`` that URL) validates the *whole* credential, as VC JSON Schema requires: the two
contexts, the two types, the GB/T 36904 ``id``, the issuer, the validity, this very
``credentialSchema``, the type's ``credentialSubject`` schema, the GB/T 36903
``metadata``, the two status entries, and a ``proof`` when the credential is secured.
The exchange serves each schema at its URL and the trust bundle carries them all.

Credentials issued before this module (``https://govex.dev/schemas/…``, a schema of the
subject alone) still verify: the verifier knows both forms
(:mod:`exchange.certificates.did`).
"""

from __future__ import annotations

import re
from typing import Any

from exchange.certificates.context import context_url
from exchange.certificates.vocabulary import VC2_CONTEXT, credential_type_name
from schemas.certificates import CertificateType
from schemas.identifiers import CERTIFICATE_ID_PREFIX
from signing.proofs import ECDSA_JCS_2019, EDDSA_JCS_2022, SM2_JCS_2025

__all__ = ["SCHEMA_PATH", "credential_schema", "credential_schema_url"]

SCHEMA_PATH = "/schemas/credentials/v1"
"""Where the exchange serves the schemas, below its issuer URL: ``<path>/<code>.json``."""
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_STAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def credential_schema_url(issuer: str, ctype: CertificateType) -> str:
    """The ``credentialSchema`` id of type ``ctype`` at the exchange ``issuer``."""
    return f"{issuer.rstrip('/')}{SCHEMA_PATH}/{ctype.code}.json"


def _string(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern}


def _status_entry(purpose: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "type", "statusPurpose", "statusListIndex", "statusListCredential"],
        "properties": {
            "id": {"type": "string"},
            "type": {"const": "BitstringStatusListEntry"},
            "statusPurpose": {"const": purpose},
            "statusListIndex": _string(r"^[0-9]{1,10}$"),
            "statusListCredential": {"type": "string", "format": "uri"},
        },
    }


def credential_schema(issuer: str, ctype: CertificateType) -> dict[str, Any]:
    """The JSON Schema of a whole ``ctype`` credential issued by the exchange ``issuer``."""
    url = credential_schema_url(issuer, ctype)
    subject = {k: v for k, v in ctype.json_schema.items() if k != "$schema"}
    department = r"^did:web:[^#?/]+:departments:[0-9A-HJ-NPQRTUWXY]{18}$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "title": f"{ctype.name} ({ctype.name_en}): govex credential",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "@context",
            "id",
            "type",
            "name",
            "issuer",
            "validFrom",
            "credentialSchema",
            "credentialSubject",
            "metadata",
            "credentialStatus",
        ],
        "properties": {
            "@context": {"const": [VC2_CONTEXT, context_url(issuer)]},
            "id": _string(
                rf"^urn:govex:cert:{re.escape(CERTIFICATE_ID_PREFIX)}\.{ctype.type_code}"
                r"\.[0-9A-HJ-NPQRTUWXY]{18}\.[0-9]+\.[0-9]{3}\.[0-9A-Z*]$"
            ),
            "type": {"const": ["VerifiableCredential", credential_type_name(ctype)]},
            "name": {"const": ctype.name},
            "issuer": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "name"],
                "properties": {
                    "id": _string(department),
                    "name": {"type": "string", "minLength": 1},
                },
            },
            "validFrom": _string(_STAMP),
            "validUntil": _string(_STAMP),
            "credentialSchema": {"const": {"id": url, "type": "JsonSchema"}},
            "credentialSubject": subject,
            "metadata": _metadata(ctype),
            "credentialStatus": {
                "type": "array",
                "prefixItems": [_status_entry("revocation"), _status_entry("suspension")],
                "minItems": 2,
                "maxItems": 2,
            },
            "proof": {
                "type": "object",
                "required": ["type", "cryptosuite", "verificationMethod", "proofPurpose"],
                "properties": {
                    "type": {"const": "DataIntegrityProof"},
                    # the cryptosuite of each key algorithm (govex-sm2-jcs-2025: SM2 exchanges)
                    "cryptosuite": {"enum": [EDDSA_JCS_2022, ECDSA_JCS_2019, SM2_JCS_2025]},
                    "verificationMethod": _string(r"^did:web:[^#]+#.+$"),
                    "proofPurpose": {"const": "assertionMethod"},
                    "created": _string(_STAMP),
                    "proofValue": _string("^z[1-9A-HJ-NP-Za-km-z]+$"),
                },
            },
        },
    }


def _metadata(ctype: CertificateType) -> dict[str, Any]:
    """GB/T 36903 metadata: the holder and issuer again, the dates as calendar dates."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "type_code",
            "holder_name",
            "holder_code",
            "holder_code_type",
            "issuer_name",
            "issuer_uscc",
            "issue_date",
            "valid_from",
            "valid_until",
        ],
        "properties": {
            "type_code": {"const": ctype.type_code},
            "holder_name": {"type": "string", "minLength": 1},
            "holder_code": {"type": "string", "minLength": 1},
            "holder_code_type": {"const": ctype.holder_code_type.value},
            "issuer_name": {"type": "string", "minLength": 1},
            "issuer_uscc": _string(r"^[0-9A-HJ-NPQRTUWXY]{18}$"),
            "issue_date": _string(_DATE),
            "valid_from": _string(_DATE),
            "valid_until": {"oneOf": [_string(_DATE), {"type": "null"}]},
        },
    }
