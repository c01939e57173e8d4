"""W3C VC Data Integrity 1.0 proofs with the JCS cryptosuites.

Three cryptosuites of ``DataIntegrityProof``, each per its specification's JCS
algorithms:

* ``eddsa-jcs-2022`` (Ed25519) — govex's default;
* ``ecdsa-jcs-2019`` (ECDSA P-256 with SHA-256, signature as raw ``r‖s``);
* ``govex-sm2-jcs-2025`` (国密: SM2-with-SM3, raw ``r‖s``) — govex-scoped, no standard
  name exists: the eddsa-jcs-2022 steps with SM3 as the hash (``docs/gm-crypto.md``).

All sign the same shape of ``hashData``, H being SHA-256, or SM3 for the SM2 suite::

    proofConfig = proof options (type, cryptosuite, created, verificationMethod,
                  proofPurpose, …) + the document's "@context" when it has one
    hashData    = H(JCS(proofConfig)) ‖ H(JCS(document without proof))
    proofValue  = multibase base58btc of the signature

Only a single proof object is supported (no proof sets or chains).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .algorithms import PrivateKey, PublicKey, algorithm_of, sign, verify
from .canonical import canonicalize, canonicalize_parts
from .errors import KeyLoadError, SigningError, VerificationError
from .gm.sm2 import SM2PrivateKey, SM2PublicKey, sm3
from .multibase import MultibaseError, decode_base58btc, decode_multikey, encode_base58btc

__all__ = [
    "CRYPTOSUITES",
    "ECDSA_JCS_2019",
    "EDDSA_JCS_2022",
    "PROOF_TYPE",
    "SM2_JCS_2025",
    "ProofError",
    "ProofPlan",
    "VerifiedProof",
    "add_proof",
    "add_proof_canonical",
    "format_created",
    "hash_data",
    "plan_proof",
    "resolve_did_key",
    "verify_proof",
]

PROOF_TYPE: Final = "DataIntegrityProof"
EDDSA_JCS_2022: Final = "eddsa-jcs-2022"
ECDSA_JCS_2019: Final = "ecdsa-jcs-2019"
SM2_JCS_2025: Final = "govex-sm2-jcs-2025"
CRYPTOSUITES: Final = (EDDSA_JCS_2022, ECDSA_JCS_2019, SM2_JCS_2025)
_SUITE_OF: Final = {"Ed25519": EDDSA_JCS_2022, "ES256": ECDSA_JCS_2019, "SM2": SM2_JCS_2025}

_SIGNATURE_BYTES = 64


class ProofError(VerificationError):
    """A Data Integrity proof that is missing, malformed or does not verify."""


class VerifiedProof(NamedTuple):
    """What :func:`verify_proof` checked: the document as signed and the proof over it
    (a named tuple: made once per verification, at the cost of a tuple)."""

    document_without_proof: dict[str, Any]
    proof: dict[str, Any]
    verification_method: str
    cryptosuite: str
    created: datetime | None
    canonical_document: bytes = b""
    """JCS of :attr:`document_without_proof`, as hashed for the signature."""
    document_hash: bytes = b""
    """The suite's hash of :attr:`canonical_document` (the second half of the signed input)."""
    hash_name: str = "sha-256"
    """That hash: ``sm3`` for ``govex-sm2-jcs-2025``, else ``sha-256``."""


def _suite_for(key: PrivateKey | PublicKey) -> str:
    return _SUITE_OF[algorithm_of(key)]


_SUITE_OF_TYPE: dict[type, str | None] = {}
"""The cryptosuite each concrete key class can serve (None: none); an ECDSA key's curve is
checked per key. ``isinstance`` against the ``cryptography`` key classes goes through
``ABCMeta`` and costs more than the rest of the lookup, so it is asked once per class."""


def _key_fits(suite: str, key: PrivateKey | PublicKey) -> bool:
    kind = type(key)
    fits = _SUITE_OF_TYPE.get(kind, "")
    if fits == "":
        if isinstance(key, SM2PrivateKey | SM2PublicKey):
            fits = SM2_JCS_2025
        elif isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            fits = EDDSA_JCS_2022
        elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            fits = ECDSA_JCS_2019
        else:
            fits = None
        _SUITE_OF_TYPE[kind] = fits
    if fits != suite:
        return False
    return suite != ECDSA_JCS_2019 or isinstance(key.curve, ec.SECP256R1)  # type: ignore[union-attr]


def format_created(moment: datetime) -> str:
    """XML Schema dateTime in UTC with second precision: ``2024-05-01T08:00:00Z``."""
    if moment.tzinfo is None:
        raise SigningError("proof time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_data(document: dict[str, Any], proof_config: dict[str, Any]) -> bytes:
    """``H(JCS(proofConfig)) ‖ H(JCS(document))`` — the bytes that are signed.

    H is SM3 for ``govex-sm2-jcs-2025`` and SHA-256 for the W3C suites.
    """
    return _hash_canonical(proof_config, canonicalize(document))


def _hash_canonical(proof_config: dict[str, Any], document: bytes) -> bytes:
    """:func:`hash_data` with the document already canonical."""
    if proof_config.get("cryptosuite") == SM2_JCS_2025:
        return sm3(canonicalize(proof_config)) + sm3(document)
    return hashlib.sha256(canonicalize(proof_config)).digest() + hashlib.sha256(document).digest()


def add_proof(
    document: dict[str, Any],
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
    cryptosuite: str | None = None,
) -> dict[str, Any]:
    """Return a copy of ``document`` secured with a ``DataIntegrityProof`` under ``key``.

    The cryptosuite follows the key (Ed25519 → ``eddsa-jcs-2022``, P-256 →
    ``ecdsa-jcs-2019``, SM2 → ``govex-sm2-jcs-2025``) unless named; a suite that does
    not fit the key is refused.
    """
    return add_proof_canonical(
        document,
        key,
        verification_method=verification_method,
        created=created,
        proof_purpose=proof_purpose,
        cryptosuite=cryptosuite,
    )[0]


def add_proof_canonical(
    document: dict[str, Any],
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
    cryptosuite: str | None = None,
) -> tuple[dict[str, Any], bytes]:
    """:func:`add_proof`, and the JCS bytes of ``document`` it signed (for a content digest
    without canonicalizing the document a second time)."""
    if "proof" in document:
        raise SigningError("document already has a proof; proof sets are not supported")
    plan = plan_proof(
        key,
        verification_method=verification_method,
        created=created,
        proof_purpose=proof_purpose,
        cryptosuite=cryptosuite,
        context=document.get("@context", _NO_CONTEXT),
    )
    canonical = canonicalize(document)
    signature = sign(key, plan.head + plan.digest(canonical))
    return plan.finish(document, encode_base58btc(signature)), canonical


_NO_CONTEXT: Any = object()


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """A proof's options, fixed for every document signed with them (one key, method,
    time, purpose and context): what :func:`add_proof_canonical` does, in parts, so the
    signatures of many documents can be made elsewhere (:mod:`signing.pool`).

    A document's signature is over ``head + digest(JCS(document))``; :meth:`finish` adds
    the proof with its encoded value.
    """

    proof: dict[str, Any]  # the proof without ``proofValue``
    head: bytes  # H(JCS(proof options)): the first half of every signed input
    hash_name: str  # "sm3" for govex-sm2-jcs-2025, else "sha-256"

    def digest(self, canonical: bytes) -> bytes:
        """The suite's hash of a canonical document (the second half of the input)."""
        return sm3(canonical) if self.hash_name == "sm3" else hashlib.sha256(canonical).digest()

    def finish(self, document: dict[str, Any], proof_value: str) -> dict[str, Any]:
        """``document`` with this proof, its value ``proof_value`` (base58btc multibase)."""
        return {**document, "proof": {**self.proof, "proofValue": proof_value}}


def plan_proof(
    key: PrivateKey,
    *,
    verification_method: str,
    created: datetime | None = None,
    proof_purpose: str = "assertionMethod",
    cryptosuite: str | None = None,
    context: Any = _NO_CONTEXT,
) -> ProofPlan:
    """The :class:`ProofPlan` of a proof by ``key``; ``context`` is the documents'
    ``@context`` (repeated in the proof), left out when they have none."""
    suite = cryptosuite if cryptosuite is not None else _suite_for(key)
    if suite not in CRYPTOSUITES:
        raise SigningError(f"unknown cryptosuite {suite!r}; use one of {', '.join(CRYPTOSUITES)}")
    if not _key_fits(suite, key):
        raise KeyLoadError(f"a {type(key).__name__} cannot sign with cryptosuite {suite}")
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": suite,
        "created": format_created(created if created is not None else datetime.now(UTC)),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if context is not _NO_CONTEXT:
        proof["@context"] = context
    options = canonicalize(proof)
    if suite == SM2_JCS_2025:
        return ProofPlan(proof, sm3(options), "sm3")
    return ProofPlan(proof, hashlib.sha256(options).digest(), "sha-256")


def resolve_did_key(verification_method: str) -> PublicKey:
    """Resolve a ``did:key`` verification method (``did:key:z…#z…``) to its public key."""
    did, _, fragment = verification_method.partition("#")
    if not did.startswith("did:key:"):
        raise ProofError(f"verification method {verification_method!r} is not a did:key")
    multikey = did.removeprefix("did:key:")
    if fragment and fragment != multikey:
        raise ProofError("did:key fragment does not match the key it names")
    try:
        return decode_multikey(multikey)
    except KeyLoadError as exc:
        raise ProofError(f"did:key does not hold a usable key: {exc.message}") from exc


def _string(proof: dict[str, Any], name: str) -> str:
    value = proof.get(name)
    if not isinstance(value, str) or not value:
        raise ProofError(f"proof.{name} must be a non-empty string")
    return value


def _parse_created(proof: dict[str, Any]) -> datetime | None:
    if "created" not in proof:
        return None
    text = _string(proof, "created")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ProofError(f"proof.created {text!r} is not an XML Schema dateTime") from exc
    if moment.tzinfo is None:
        raise ProofError(f"proof.created {text!r} has no time zone")
    return moment


def _unsecured(document: dict[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    unsecured = {name: value for name, value in document.items() if name != "proof"}
    if "@context" in proof:
        context, document_context = proof["@context"], document.get("@context")
        as_list = context if isinstance(context, list) else [context]
        given = document_context if isinstance(document_context, list) else [document_context]
        if given[: len(as_list)] != as_list:
            raise ProofError("document @context does not start with the proof's @context")
        unsecured["@context"] = context
    return unsecured


def verify_proof(
    document: dict[str, Any],
    public_key: PublicKey | None = None,
    *,
    resolve: Callable[[str], PublicKey] | None = None,
    expected_purpose: str = "assertionMethod",
    json_types: bool | None = None,
) -> VerifiedProof:
    """Verify the ``DataIntegrityProof`` on ``document`` or raise :class:`ProofError`.

    The key is ``public_key`` when given, else ``resolve(verificationMethod)``
    (e.g. :func:`resolve_did_key`, or a lookup of registered seal keys).
    ``json_types``: what :func:`signing.canonical.json_shape` found of ``document``,
    when the caller walked it already (None: it is walked here).
    """
    if not isinstance(document, dict):
        raise ProofError("a secured document must be a JSON object")
    proof = document.get("proof")
    if proof is None:
        raise ProofError("document has no proof")
    if isinstance(proof, list):
        raise ProofError("proof sets and chains are not supported; expected one proof object")
    if not isinstance(proof, dict):
        raise ProofError("proof must be a JSON object")
    if proof.get("type") != PROOF_TYPE:
        raise ProofError(f"unknown proof type {proof.get('type')!r}; expected {PROOF_TYPE}")
    suite = proof.get("cryptosuite")
    if suite not in CRYPTOSUITES:
        raise ProofError(
            f"unknown cryptosuite {suite!r}; expected one of {', '.join(CRYPTOSUITES)}"
        )
    purpose = _string(proof, "proofPurpose")
    if purpose != expected_purpose:
        raise ProofError(f"proof purpose is {purpose!r}, expected {expected_purpose!r}")
    method = _string(proof, "verificationMethod")
    created = _parse_created(proof)
    try:
        signature = decode_base58btc(_string(proof, "proofValue"))
    except MultibaseError as exc:
        raise ProofError(f"proofValue is not multibase base58btc: {exc.message}") from exc
    if len(signature) != _SIGNATURE_BYTES:
        raise ProofError(f"proofValue must decode to 64 bytes, got {len(signature)}")
    if public_key is None:
        if resolve is None:
            raise ProofError("no key to verify with: pass public_key or resolve")
        public_key = resolve(method)
    if not _key_fits(suite, public_key):
        raise ProofError(f"a {type(public_key).__name__} cannot verify cryptosuite {suite}")
    options = {name: value for name, value in proof.items() if name != "proofValue"}
    unsecured = _unsecured(document, proof)
    try:  # both are made of the document's members: one walk of it for the two
        document_jcs, options_jcs = canonicalize_parts(
            document, unsecured, options, json_types=json_types
        )
    except SigningError as exc:
        raise ProofError(f"secured document cannot be canonicalized: {exc.message}") from exc
    if suite == SM2_JCS_2025:
        hash_name, document_hash = "sm3", sm3(document_jcs)
        data = sm3(options_jcs) + document_hash
    else:
        hash_name, document_hash = "sha-256", hashlib.sha256(document_jcs).digest()
        data = hashlib.sha256(options_jcs).digest() + document_hash
    try:
        verify(public_key, signature, data)
    except VerificationError as exc:
        raise ProofError(
            "signature does not verify: the document or its proof was altered, "
            "or it was signed with another key"
        ) from exc
    return VerifiedProof(
        document_without_proof=unsecured,
        proof=proof,
        verification_method=method,
        cryptosuite=suite,
        created=created,
        canonical_document=document_jcs,
        document_hash=document_hash,
        hash_name=hash_name,
    )
