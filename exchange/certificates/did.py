"""``did:web`` names for the exchange and its departments, and their DID documents.

The exchange whose issuer URL is ``https://HOST[:PORT][/PATH]`` is ``did:web:HOST[%3APORT]
[:PATH…]``; a department is ``<exchange DID>:departments:<USCC>``. By the did:web method
their documents live at ``<issuer>/.well-known/did.json`` (an issuer without a path),
``<issuer>/did.json`` (with one) and ``<issuer>/departments/<USCC>/did.json``
(:func:`document_url`); the exchange serves them there, and the trust bundle carries the
same documents for verifiers without a network.

A department's document lists one ``Multikey`` verification method per ``cert`` key it
ever had (current and past), ``<department DID>#<kid>``, each with the end of its validity
(``expires``: the end of its X.509 certificate or the key's retirement, the earlier) or
its revocation (``revoked``). The X.509 chain stays the root of trust: the verifier finds
the key by ``kid`` in its trust store (certified by the root for the DID's USCC) and
checks the DID names the same department; the DID document states the same key.

Credentials issued before did:web (issuer ``urn:uscc:<USCC>``, method
``urn:govex:key:<kid>``) still verify: :func:`issuer_uscc` and :func:`method_kid` read
both forms, and :func:`credential_form` says which contexts and schema each form names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from exchange.certificates.context import context_url
from exchange.certificates.credential_schema import credential_schema_url
from exchange.certificates.vocabulary import (
    CONTEXTS,
    KEY_URN_PREFIX,
    USCC_URN_PREFIX,
    VC2_CONTEXT,
    TrustError,
    kid_from_urn,
    schema_url,
    uscc_from_urn,
)
from exchange.departments.registry import KeyState, Registry
from schemas.certificates import CertificateType
from signing.multibase import encode_multikey
from signing.proofs import format_created

__all__ = [
    "DID_CONTEXTS",
    "CredentialForm",
    "KeyValidity",
    "credential_form",
    "department_did",
    "department_document",
    "did_document",
    "document_url",
    "exchange_did",
    "issuer_uscc",
    "method_id",
    "method_kid",
]

DID_CONTEXTS = ("https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1")
_DEPARTMENTS = "departments"
_PREFIX = "did:web:"


def exchange_did(issuer: str) -> str:
    """The did:web of the exchange whose issuer URL is ``issuer``."""
    parts = urlsplit(issuer)
    if not parts.hostname:
        raise TrustError(f"issuer URL {issuer!r} has no host")
    host = parts.hostname + (quote(f":{parts.port}") if parts.port else "")
    path = [quote(p, safe="") for p in parts.path.split("/") if p]
    return ":".join([_PREFIX + host, *path])


def department_did(issuer: str, uscc: str) -> str:
    """The did:web of department ``uscc`` under the exchange ``issuer``."""
    return f"{exchange_did(issuer)}:{_DEPARTMENTS}:{uscc}"


def method_id(did: str, kid: str) -> str:
    """The verification method naming key ``kid`` in the document of ``did``."""
    return f"{did}#{kid}"


def document_url(did: str) -> str:
    """Where the did:web method says the document of ``did`` is (``https://…/did.json``)."""
    if not did.startswith(_PREFIX) or "#" in did:
        raise TrustError(f"{did!r} is not a did:web identifier")
    segments = [unquote(p) for p in did.removeprefix(_PREFIX).split(":")]
    if not segments[0]:
        raise TrustError(f"{did!r} names no host")
    if len(segments) == 1:
        return f"https://{segments[0]}/.well-known/did.json"
    return "https://" + "/".join(segments) + "/did.json"


def _base_of(did: str) -> str:
    """The issuer URL of the exchange a department DID belongs to."""
    head, sep, uscc = did.rpartition(f":{_DEPARTMENTS}:")
    if not sep or not head.startswith(_PREFIX) or not uscc:
        raise TrustError(f"{did!r} is not did:web:<exchange>:{_DEPARTMENTS}:<USCC>")
    return document_url(head).removesuffix("/did.json").removesuffix("/.well-known")


def issuer_uscc(value: object) -> str:
    """The USCC of an issuer id: ``did:web:…:departments:<USCC>`` or ``urn:uscc:<USCC>``."""
    if isinstance(value, str) and value.startswith(_PREFIX):
        _base_of(value)
        return uscc_from_urn(USCC_URN_PREFIX + value.rpartition(":")[2])
    return uscc_from_urn(value)


def method_kid(method: object) -> tuple[str | None, str]:
    """(controller DID or None, key id) of ``<DID>#<kid>`` or ``urn:govex:key:<kid>``."""
    if isinstance(method, str) and method.startswith(_PREFIX):
        did, sep, kid = method.partition("#")
        if not sep:
            raise TrustError(f"verification method {method!r} names no key (#<kid>)")
        return did, kid_from_urn(KEY_URN_PREFIX + kid)
    return None, kid_from_urn(str(method))


@dataclass(frozen=True, slots=True)
class CredentialForm:
    """What a credential of one issuer form must name: contexts, schema, method controller."""

    contexts: list[str]
    schema: dict[str, str]
    controller: str | None  # the DID proofs must be made under; None: a urn: key


def credential_form(issuer_id: object, ctype: CertificateType) -> CredentialForm:
    """The form of a credential by its issuer id: did:web (current) or urn:uscc (before)."""
    if isinstance(issuer_id, str) and issuer_id.startswith(_PREFIX):
        base = _base_of(issuer_id)
        return CredentialForm(
            [VC2_CONTEXT, context_url(base)],
            {"id": credential_schema_url(base, ctype), "type": "JsonSchema"},
            issuer_id,
        )
    return CredentialForm(list(CONTEXTS), {"id": schema_url(ctype), "type": "JsonSchema"}, None)


@dataclass(frozen=True, slots=True)
class KeyValidity:
    """One key of a DID document: its id, public key and validity."""

    kid: str
    multikey: str  # publicKeyMultibase
    expires: datetime | None = None
    revoked: datetime | None = None

    @classmethod
    def of(
        cls,
        kid: str,
        public_key: Any,
        *,
        not_after: datetime | None,
        ended_at: datetime | None,
        revoked: bool,
    ) -> KeyValidity:
        if revoked:
            return cls(kid, encode_multikey(public_key), not_after, ended_at)
        ends = [t for t in (not_after, ended_at) if t is not None]
        return cls(kid, encode_multikey(public_key), min(ends) if ends else None)


def did_document(
    did: str, keys: Iterable[KeyValidity], *, also_known_as: Iterable[str] = ()
) -> dict[str, Any]:
    """The DID document of ``did`` with a ``Multikey`` method per key, in the order given."""
    methods: list[dict[str, Any]] = []
    for key in keys:
        method: dict[str, Any] = {
            "id": method_id(did, key.kid),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.multikey,
        }
        if key.expires is not None:
            method["expires"] = format_created(key.expires)
        if key.revoked is not None:
            method["revoked"] = format_created(key.revoked)
        methods.append(method)
    document: dict[str, Any] = {"@context": list(DID_CONTEXTS), "id": did}
    aliases = list(also_known_as)
    if aliases:
        document["alsoKnownAs"] = aliases
    document["verificationMethod"] = methods
    document["assertionMethod"] = [m["id"] for m in methods]
    return document


def department_document(registry: Registry, issuer: str, uscc: str) -> dict[str, Any]:
    """The DID document of department ``uscc``: every cert key it had, oldest first."""
    department = registry.department(uscc)  # NotFound for a USCC never registered
    keys = [
        KeyValidity.of(
            k.kid,
            k.public_key,
            not_after=k.not_after,
            ended_at=k.ended_at,
            revoked=k.state is KeyState.REVOKED,
        )
        for k in registry.keys(department.uscc, "cert")
    ]
    return did_document(
        department_did(issuer, department.uscc), keys, also_known_as=[f"{USCC_URN_PREFIX}{uscc}"]
    )
