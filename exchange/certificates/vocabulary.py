"""The words every other certificate module shares: contexts, URN names, dates, limits.

Nothing here touches a key, a store or a trust decision; it names things and parses
names. :class:`TrustError` lives here because parsing a name (a key URN, an issuer URN,
a timestamp) is the first place a credential can be refused as "not trusted".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from cryptography import x509

from exchange.errors import ExchangeError
from schemas.certificates import CertificateType
from schemas.errors import ErrorCode
from schemas.identifiers import validate_uscc
from signing.algorithms import PublicKey
from signing.ca import certificate_public_key
from signing.canonical import canonicalize
from signing.errors import SigningError
from signing.suites import HashName, hash_digest

__all__ = [
    "CERT_URN_PREFIX",
    "CHECKS",
    "CHINA_TIME",
    "CLOCK_SKEW",
    "CONTEXTS",
    "GOVEX_CONTEXT",
    "KEY_URN_PREFIX",
    "USCC_URN_PREFIX",
    "VC2_CONTEXT",
    "ContentDigest",
    "TrustError",
    "certificate_id_of",
    "certificate_key",
    "certificate_urn",
    "credential_digest",
    "credential_type_name",
    "key_urn",
    "kid_from_urn",
    "local_date",
    "parse_timestamp",
    "schema_url",
    "uscc_from_urn",
    "uscc_urn",
]

VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
GOVEX_CONTEXT = "https://govex.dev/ns/credentials/v1"
CONTEXTS = (VC2_CONTEXT, GOVEX_CONTEXT)
CERT_URN_PREFIX = "urn:govex:cert:"
KEY_URN_PREFIX = "urn:govex:key:"
USCC_URN_PREFIX = "urn:uscc:"
CHECKS = (
    "proof",
    "issuer_chain",
    "validity_period",
    "status",
    "schema",
    "identifier",
    "register",
)
"""The checks of a verdict, in the order they run."""
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""GB/T 36903 dates are calendar dates in China Standard Time (UTC+8, no DST)."""
CLOCK_SKEW = timedelta(minutes=5)
"""Tolerated difference between the issuer's and the verifier's clocks."""


class TrustError(ExchangeError):
    """A trust bundle or status source that cannot be used, or a name that resolves to nothing."""

    code = ErrorCode.UNTRUSTED_ISSUER
    status = 422
    title = "Not trusted"


# --------------------------------------------------------------------------- certificate names


def credential_type_name(ctype: CertificateType) -> str:
    """The VC ``type`` of a type: ``real_estate_title`` → ``RealEstateTitleCredential``."""
    return "".join(part.capitalize() for part in ctype.code.split("_")) + "Credential"


def schema_url(ctype: CertificateType) -> str:
    """Where the JSON Schema of a type's ``credentialSubject`` is named."""
    return f"https://govex.dev/schemas/certificate-types/{ctype.code}.json"


def certificate_urn(certificate_id: str) -> str:
    """The credential ``id`` of a GB/T 36904 identifier."""
    return f"{CERT_URN_PREFIX}{certificate_id}"


def certificate_id_of(value: str) -> str:
    """The GB/T 36904 identifier in ``value`` (with or without the ``urn:govex:cert:`` prefix)."""
    return value.removeprefix(CERT_URN_PREFIX)


def credential_digest(credential: dict[str, Any], hash_name: HashName = "sha-256") -> str:
    """SHA-256 (or SM3, the hash of an SM2 exchange's suite) in hex of the credential's
    canonical JSON without its ``proof``: its content.

    Harmless re-encodings (key order, whitespace, escapes) keep the digest; any change of a
    member, added or dropped, changes it. The register keeps it for every issuance, in its
    exchange's suite hash (:attr:`signing.suites.Suite.hash_name`).
    """
    content = {k: v for k, v in credential.items() if k != "proof"}
    return hash_digest(hash_name, canonicalize(content)).hex()


class ContentDigest:
    """One credential's :func:`credential_digest` in each hash asked for, computed once."""

    def __init__(
        self,
        credential: dict[str, Any],
        canonical: bytes | None = None,
        known: tuple[str, bytes] | None = None,
    ) -> None:
        """``canonical``: the JCS bytes of the credential without its proof when the caller
        already has them (the proof check hashes exactly those bytes); ``known``: a hash
        of those bytes already made, with its name (the proof check's, in its suite's hash).
        """
        self._content = (
            canonical
            if canonical is not None
            else canonicalize({k: v for k, v in credential.items() if k != "proof"})
        )
        self._digests: dict[str, bytes] = {}
        if known is not None and canonical is not None:
            self._digests[known[0]] = known[1]
        self._hex: dict[HashName, str] = {}

    def digest(self, hash_name: HashName = "sha-256") -> bytes:
        """The digest in ``hash_name``, as bytes."""
        found = self._digests.get(hash_name)
        if found is None:
            found = self._digests[hash_name] = hash_digest(hash_name, self._content)
        return found

    def hex(self, hash_name: HashName = "sha-256") -> str:
        """The digest in ``hash_name``, lowercase hex."""
        found = self._hex.get(hash_name)
        if found is None:
            found = self._hex[hash_name] = self.digest(hash_name).hex()
        return found


# --------------------------------------------------------------------------- keys and issuers


def key_urn(kid: str) -> str:
    """The verification method naming a registered key: ``urn:govex:key:<kid>``."""
    return f"{KEY_URN_PREFIX}{kid}"


def kid_from_urn(method: str) -> str:
    """The key id in a ``urn:govex:key:<kid>`` verification method."""
    if not isinstance(method, str) or not method.startswith(KEY_URN_PREFIX):
        raise TrustError(f"verification method {method!r} is not a urn:govex:key: key name")
    kid = method.removeprefix(KEY_URN_PREFIX)
    if not kid or len(kid) > 128 or not kid.replace("-", "").isalnum():
        raise TrustError(f"verification method {method!r} does not hold a key id")
    return kid


def uscc_urn(uscc: str) -> str:
    """An organisation named by its unified social credit code: ``urn:uscc:<USCC>``."""
    return f"{USCC_URN_PREFIX}{uscc}"


def uscc_from_urn(value: object) -> str:
    """The USCC in ``urn:uscc:<USCC>``, its check character verified."""
    if not isinstance(value, str) or not value.startswith(USCC_URN_PREFIX):
        raise TrustError(f"issuer id {value!r} is not urn:uscc:<unified social credit code>")
    return _valid_uscc(value.removeprefix(USCC_URN_PREFIX))


@lru_cache(maxsize=4096)
def _valid_uscc(value: str) -> str:
    """:func:`validate_uscc`, remembered: a verifier meets the same few issuers again and again."""
    return validate_uscc(value)


def certificate_key(cert: x509.Certificate) -> PublicKey:
    """The public key of a seal certificate (Ed25519, P-256 or SM2)."""
    try:
        return certificate_public_key(cert)
    except SigningError as exc:
        raise TrustError(exc.message) from exc


# --------------------------------------------------------------------------- time


def parse_timestamp(value: object, name: str) -> datetime:
    """An XML Schema ``dateTimeStamp`` (time zone required) as an aware UTC datetime."""
    if not isinstance(value, str) or not 19 <= len(value) <= 40:
        raise TrustError(f"{name} must be a date-time string such as 2026-01-01T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TrustError(f"{name} {value!r} is not an XML Schema dateTime") from exc
    if moment.tzinfo is None or "T" not in value:
        raise TrustError(f"{name} {value!r} needs a date, a time and a time zone")
    return moment.astimezone(UTC)


def local_date(moment: datetime) -> str:
    """The calendar date (China Standard Time) of an instant, as ``YYYY-MM-DD``."""
    return moment.astimezone(CHINA_TIME).date().isoformat()
