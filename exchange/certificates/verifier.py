"""Verify an e-certificate: one verdict, one result per check, a reason for each failure.

A govex e-certificate is a W3C Verifiable Credential 2.0 document::

    {
      "@context": ["https://www.w3.org/ns/credentials/v2", "<issuer>/ns/credentials/v1"],
      "id": "urn:govex:cert:1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>",
      "type": ["VerifiableCredential", "RealEstateTitleCredential"],
      "name": "不动产权证书",
      "issuer": {"id": "did:web:<host>:departments:<USCC>", "name": "信阳市不动产登记中心"},
      "validFrom": "…Z", "validUntil": "…Z",            (validUntil absent: 长期)
      "credentialSchema": {"id": "<issuer>/schemas/credentials/v1/<code>.json",
                           "type": "JsonSchema"},
      "credentialSubject": {… the type's subject, holder fields first …},
      "metadata": {… GB/T 36903 metadata …},
      "credentialStatus": [revocation entry, suspension entry],
      "proof": {DataIntegrityProof eddsa-jcs-2022, "verificationMethod": "<issuer id>#<kid>"}
    }

``<issuer>`` is the exchange's issuer URL, which serves the context, the schemas and the
did:web documents (:mod:`exchange.certificates.did`). Certificates issued before did:web
name ``https://govex.dev/…``, ``urn:uscc:<USCC>`` and ``urn:govex:key:<kid>``; they still
verify.

The ``id`` is the GB/T 36904 identifier under ``urn:govex:cert:``: VC 2.0 requires
a URL there, and the dotted identifier alone is not one (its USCC part is not an
OID arc, so ``urn:oid:`` does not fit either).

Its checks live in :mod:`exchange.certificates.checks`; :class:`Verifier` runs them all
(never stopping at the first failure) and makes one :class:`Verdict`. It needs no
database: give it a :class:`~exchange.certificates.trust.TrustStore` (a trust bundle
offline, the certificate service online) and/or a public key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exchange.certificates.checks import CheckFailed, CheckState, CredentialChecks
from exchange.certificates.intake import credential_shape, credential_text_limits
from exchange.certificates.trust import TrustStore
from exchange.certificates.vocabulary import CHECKS, TrustError
from exchange.errors import ExchangeError
from schemas.certificates import CertificateType, load_certificate_types
from schemas.errors import ErrorCode, SchemaError
from signing.algorithms import PublicKey
from signing.canonical import parse_strict
from signing.errors import SigningError

__all__ = ["CertificateRefused", "Check", "Verdict", "Verifier"]

_LOG = logging.getLogger("govex.certificates")
_PASSED_KEPT = 1_024  # passed checks kept for reuse (a note names at most a key)


@dataclass(frozen=True, slots=True)
class Check:
    """The result of one check: passed or not, and why."""

    name: str
    passed: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Verdict:
    """All checks of one credential; ``valid`` only when every check passed."""

    valid: bool
    checks: tuple[Check, ...]
    credential_id: str | None = None
    issuer: str | None = None
    type: str | None = None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "credential_id": self.credential_id,
            "issuer": self.issuer,
            "type": self.type,
            "checks": [c.to_json() for c in self.checks],
        }


class CertificateRefused(ExchangeError):
    """A certificate that failed at least one check; ``verdict`` says which and why."""

    code = ErrorCode.CERTIFICATE_REFUSED
    status = 422
    title = "Certificate refused"

    def __init__(self, verdict: Verdict) -> None:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in verdict.failures)
        super().__init__(f"certificate refused: {reasons}", extra={"verdict": verdict.to_json()})
        self.verdict = verdict


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Verifier:
    """Checks credentials against a trust store and/or an explicitly given public key.

    With a trust store and no key, only govex e-certificates can pass. With a key
    (``govex cert verify --public-key``), any Data Integrity credential can: its
    issuer is then not checked against a trust chain, and govex-specific checks
    apply only to documents that claim a govex certificate type.
    """

    def __init__(
        self,
        trust: TrustStore | None = None,
        *,
        public_key: PublicKey | None = None,
        clock: Callable[[], datetime] = _utcnow,
        types: Mapping[str, CertificateType] | None = None,
    ) -> None:
        if trust is None and public_key is None:
            raise TrustError("nothing to verify against: give a trust bundle or a public key")
        self.trust = trust
        self.public_key = public_key
        self.clock = clock
        self.checks = CredentialChecks(trust, public_key, types or load_certificate_types())
        self._checks = self.checks.all()
        self._passed: dict[tuple[str, str | None], Check] = {}  # the same passed check, reused

    # -- public ------------------------------------------------
    def check(self, credential: Any) -> Verdict:
        """Run every check on a parsed credential and return the verdict.

        A value beyond the caps of :mod:`exchange.certificates.intake` is not judged: it
        raises :class:`~exchange.certificates.intake.CredentialTooDeep` (or ``TooLarge``).
        """
        json_types = credential_shape(credential)
        if not isinstance(credential, dict):
            reason = "a credential must be a JSON object"
            return Verdict(False, tuple(Check(name, False, reason) for name in CHECKS))
        now = self.clock()
        state = CheckState(json_types=json_types)
        results: list[Check] = []
        passed = self._passed
        for name, run in self._checks:
            try:
                note = run(credential, state, now)
            except Exception as exc:  # every failure is judged by _failed, the unexpected too
                results.append(self._failed(name, exc))
                continue
            check = passed.get((name, note))
            if check is None:
                check = Check(name, True, note)
                if len(passed) < _PASSED_KEPT:
                    passed[(name, note)] = check
            results.append(check)
        checks = tuple(results)
        issuer = credential.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        types = credential.get("type")
        doc_id = credential.get("id")
        return Verdict(
            valid=all(c.passed for c in checks),
            checks=checks,
            credential_id=doc_id if isinstance(doc_id, str) else None,
            issuer=issuer_id if isinstance(issuer_id, str) else None,
            type=types[-1]
            if isinstance(types, list) and types and isinstance(types[-1], str)
            else None,
        )

    def check_text(self, text: bytes | str) -> Verdict:
        """Parse JSON strictly (no duplicate keys, NaN or unsafe integers), then :meth:`check`.

        Text beyond the size or nesting cap raises before it is parsed (see
        :mod:`exchange.certificates.intake`).
        """
        raw = credential_text_limits(text)
        try:
            credential = parse_strict(raw)
        except SigningError as exc:
            return Verdict(valid=False, checks=(Check("json", False, exc.message),))
        return self.check(credential)

    def verify(self, credential: Any) -> Verdict:
        """The verdict of a valid credential, or :class:`CertificateRefused` naming each failure."""
        verdict = self.check(credential)
        if not verdict.valid:
            raise CertificateRefused(verdict)
        return verdict

    # -- plumbing ------------------------------------------------
    @staticmethod
    def _failed(name: str, exc: Exception) -> Check:
        """The failed check ``name`` for what it raised; fail closed on the unexpected."""
        if isinstance(exc, CheckFailed):
            return Check(name, False, str(exc))
        if isinstance(exc, ExchangeError | SchemaError | SigningError):
            return Check(name, False, exc.message)
        _LOG.warning("certificate check %s could not finish", name, exc_info=exc)
        return Check(name, False, f"cannot be checked: {exc}")
