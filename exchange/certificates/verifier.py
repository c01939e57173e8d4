"""Verify an e-certificate: one verdict, one result per check, a reason for each failure.

A govex e-certificate is a W3C Verifiable Credential 2.0 document::

    {
      "@context": ["https://www.w3.org/ns/credentials/v2", "https://govex.dev/ns/credentials/v1"],
      "id": "urn:govex:cert:1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>",
      "type": ["VerifiableCredential", "RealEstateTitleCredential"],
      "name": "不动产权证书",
      "issuer": {"id": "urn:uscc:<USCC>", "name": "信阳市不动产登记中心"},
      "validFrom": "…Z", "validUntil": "…Z",            (validUntil absent: 长期)
      "credentialSchema": {"id": "https://govex.dev/schemas/certificate-types/<code>.json",
                           "type": "JsonSchema"},
      "credentialSubject": {… the type's subject, holder fields first …},
      "metadata": {… GB/T 36903 metadata …},
      "credentialStatus": [revocation entry, suspension entry],
      "proof": {DataIntegrityProof eddsa-jcs-2022, "verificationMethod": "urn:govex:key:<kid>"}
    }

The ``id`` is the GB/T 36904 identifier under ``urn:govex:cert:``: VC 2.0 requires
a URL there, and the dotted identifier alone is not one (its USCC part is not an
OID arc, so ``urn:oid:`` does not fit either).

:class:`Verifier` runs six checks and never stops at the first failure:

* ``proof``: the Data Integrity proof verifies under the seal key it names
  (from the trust store), or under a key given explicitly; the document's
  ``@context`` must equal the one the proof signed (adding a context is refused);
* ``issuer_chain``: the key's seal certificate was issued by the root and was
  valid when the proof was created, is certified for the `cert` purpose, certifies the
  issuer's USCC, was not revoked when the proof was created (an earlier proof gets a note),
  and belongs to the department competent for the certificate type;
* ``validity_period``: ``validFrom`` ≤ now ≤ ``validUntil``;
* ``status``: neither revoked nor suspended; an entry that cannot be checked
  fails (fail closed); a credential without ``credentialStatus`` (like the W3C
  examples) is judged on the other checks;
* ``schema``: the subject matches its type's JSON Schema, and the document's
  shape and GB/T 36903 metadata agree with the rest of it;
* ``identifier``: the GB/T 36904 identifier and its check character, and that it
  names the same type and issuer as the document.

It needs no database: give it a :class:`~exchange.certificates.trust.TrustStore` (a trust
bundle offline, the certificate service online) and/or a public key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from exchange.certificates.trust import (
    CLOCK_SKEW,
    ChainChecker,
    TrustError,
    TrustStore,
    certificate_key,
    kid_from_urn,
    parse_timestamp,
    uscc_from_urn,
)
from exchange.errors import ExchangeError
from schemas.certificates import CertificateType, load_certificate_types
from schemas.errors import ErrorCode, SchemaError
from schemas.identifiers import parse_certificate_id
from signing.algorithms import PublicKey
from signing.canonical import parse_strict
from signing.errors import SigningError
from signing.proofs import verify_proof

__all__ = [
    "CERT_URN_PREFIX",
    "CHECKS",
    "CHINA_TIME",
    "CONTEXTS",
    "GOVEX_CONTEXT",
    "VC2_CONTEXT",
    "CertificateRefused",
    "Check",
    "Verdict",
    "Verifier",
    "certificate_id_of",
    "certificate_urn",
    "credential_type_name",
    "local_date",
    "schema_url",
]

VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
GOVEX_CONTEXT = "https://govex.dev/ns/credentials/v1"
CONTEXTS = (VC2_CONTEXT, GOVEX_CONTEXT)
CERT_URN_PREFIX = "urn:govex:cert:"
CHECKS = ("proof", "issuer_chain", "validity_period", "status", "schema", "identifier")
CHINA_TIME = timezone(timedelta(hours=8), "CST")
"""GB/T 36903 dates are calendar dates in China Standard Time (UTC+8, no DST)."""

_TOP_LEVEL = frozenset(
    {
        "@context",
        "id",
        "type",
        "name",
        "issuer",
        "validFrom",
        "validUntil",
        "credentialSchema",
        "credentialSubject",
        "metadata",
        "credentialStatus",
        "proof",
    }
)
_STATUS_WORD = {"revocation": "revoked", "suspension": "suspended"}


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


def local_date(moment: datetime) -> str:
    """The calendar date (China Standard Time) of an instant, as ``YYYY-MM-DD``."""
    return moment.astimezone(CHINA_TIME).date().isoformat()


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


class _Fail(Exception):
    """A check that did not pass, with its reason."""


@dataclass(slots=True)
class _State:
    """What the checks of one credential work out once and share."""

    ctype: CertificateType | None = None
    issuer: str | None = None


def _is_date(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


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
        self.chain = ChainChecker(trust.root) if trust is not None else None
        self._types = {
            credential_type_name(t): t for t in (types or load_certificate_types()).values()
        }
        self._validators = {t.code: t.compiled() for t in self._types.values()}
        self._keys: dict[str, PublicKey] = {}
        self._checks: tuple[
            tuple[str, Callable[[dict[str, Any], _State, datetime], str | None]], ...
        ]
        self._checks = (
            ("proof", self._proof),
            ("issuer_chain", self._issuer_chain),
            ("validity_period", self._validity_period),
            ("status", self._status),
            ("schema", self._schema),
            ("identifier", self._identifier),
        )

    # -- public ------------------------------------------------
    def check(self, credential: Any) -> Verdict:
        """Run every check on a parsed credential and return the verdict."""
        if not isinstance(credential, dict):
            reason = "a credential must be a JSON object"
            return Verdict(False, tuple(Check(name, False, reason) for name in CHECKS))
        now = self.clock()
        state = _State()
        checks = tuple(self._run(name, run, credential, state, now) for name, run in self._checks)
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
        """Parse JSON strictly (no duplicate keys, NaN or unsafe integers), then :meth:`check`."""
        try:
            credential = parse_strict(text)
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
    def _run(
        name: str,
        run: Callable[[dict[str, Any], _State, datetime], str | None],
        credential: dict[str, Any],
        state: _State,
        now: datetime,
    ) -> Check:
        try:
            note = run(credential, state, now)
        except _Fail as fail:
            return Check(name, False, str(fail))
        except (ExchangeError, SchemaError, SigningError) as exc:
            return Check(name, False, exc.message)
        except Exception as exc:  # fail closed: a check that cannot finish has not passed
            return Check(name, False, f"cannot be checked: {exc}")
        return Check(name, True, note)

    def _govex(self, doc: dict[str, Any]) -> bool:
        """Is ``doc`` held to the govex certificate rules? Always, unless a key was given."""
        if self.public_key is None:
            return True
        types = doc.get("type")
        claims_type = isinstance(types, list) and any(
            isinstance(t, str) and t in self._types for t in types
        )
        doc_id = doc.get("id")
        return claims_type or (isinstance(doc_id, str) and doc_id.startswith(CERT_URN_PREFIX))

    def _type_of(self, doc: dict[str, Any], state: _State) -> CertificateType:
        if state.ctype is not None:
            return state.ctype
        types = doc.get("type")
        if (
            not isinstance(types, list)
            or len(types) != 2
            or types[0] != "VerifiableCredential"
            or not isinstance(types[1], str)
        ):
            raise _Fail('type must be ["VerifiableCredential", "<Type>Credential"]')
        ctype = self._types.get(types[1])
        if ctype is None:
            raise _Fail(f"{types[1]!r} is not a govex certificate type")
        state.ctype = ctype
        return ctype

    @staticmethod
    def _issuer_of(doc: dict[str, Any], state: _State) -> str:
        if state.issuer is None:
            issuer = doc.get("issuer")
            state.issuer = uscc_from_urn(issuer.get("id") if isinstance(issuer, dict) else issuer)
        return state.issuer

    def _proof_member(self, doc: dict[str, Any], name: str) -> Any:
        proof = doc.get("proof")
        if not isinstance(proof, dict):
            raise _Fail("the credential has no proof object")
        return proof.get(name)

    def _resolve(self, method: str) -> PublicKey:
        cached = self._keys.get(method)
        if cached is not None:
            return cached
        entry = self.trust.seal(kid_from_urn(method)) if self.trust is not None else None
        if entry is None:
            raise _Fail(f"verification method {method} is not a seal key the trust store knows")
        key = certificate_key(entry.certificate)
        self._keys[method] = key
        return key

    # -- the checks ------------------------------------------------
    def _proof(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        if self.public_key is not None:
            verified = verify_proof(doc, self.public_key)
        else:
            verified = verify_proof(doc, resolve=self._resolve)
        if "@context" in verified.proof and doc.get("@context") != verified.proof["@context"]:
            raise _Fail("the document's @context differs from the @context the proof signed")
        return None

    def _issuer_chain(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        if self.public_key is not None or self.trust is None or self.chain is None:
            return "not checked: verified against the public key given, not a trust chain"
        method = self._proof_member(doc, "verificationMethod")
        kid = kid_from_urn(method)
        entry = self.trust.seal(kid)
        if entry is None:
            raise _Fail(f"key {kid} is not a seal key certified by the trusted root")
        created = parse_timestamp(self._proof_member(doc, "created"), "proof.created")
        if created > now + CLOCK_SKEW:
            raise _Fail(f"the proof claims to be created in the future ({created.isoformat()})")
        info = self.chain.check(entry, created)
        uscc = self._issuer_of(doc, state)
        if info.uscc != uscc:
            raise _Fail(
                f"the seal certificate certifies {info.name} ({info.uscc}), not the issuer {uscc}"
            )
        revoked = self.trust.revocation(kid)
        # proof times are whole seconds: a proof in the second of the revocation is refused
        if revoked is not None and created >= revoked.revoked_at.replace(microsecond=0):
            raise _Fail(
                f"seal key {kid} of {info.name} was revoked at {revoked.revoked_at.isoformat()}: "
                f"{revoked.reason}"
            )
        ctype = self._type_of(doc, state)
        if entry.department != ctype.department:
            raise _Fail(
                f"{info.name} is not competent to issue {ctype.name} ({ctype.code}); "
                f"its competent department is {ctype.department}"
            )
        note = f"sealed by {info.name} ({info.uscc}) with key {kid}, certified by the root"
        if revoked is not None:
            note += (
                f"; made before the key was revoked at {revoked.revoked_at.isoformat()} "
                f"({revoked.reason})"
            )
        return note

    def _validity_period(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        start = doc.get("validFrom")
        end = doc.get("validUntil")
        if start is None and self._govex(doc):
            raise _Fail("a govex certificate must have validFrom")
        valid_from = parse_timestamp(start, "validFrom") if start is not None else None
        valid_until = parse_timestamp(end, "validUntil") if end is not None else None
        if valid_from is not None and valid_until is not None and valid_until < valid_from:
            raise _Fail("validUntil is before validFrom")
        if valid_from is not None and now + CLOCK_SKEW < valid_from:
            raise _Fail(f"not valid yet: valid from {valid_from.isoformat()}")
        if valid_until is not None and now > valid_until:
            raise _Fail(f"expired: valid until {valid_until.isoformat()}")
        return None if valid_until is not None else "no validUntil: valid without end (长期)"

    def _status(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        if "credentialStatus" not in doc:
            return "no credentialStatus: judged on its proof and validity period"
        entries = doc["credentialStatus"]
        items = entries if isinstance(entries, list) else [entries]
        if not items:
            raise _Fail("credentialStatus is empty")
        for entry in items:
            if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
                raise _Fail("credentialStatus entries must be BitstringStatusListEntry objects")
            purpose = entry.get("statusPurpose")
            if purpose not in _STATUS_WORD:
                raise _Fail(f"status purpose {purpose!r} cannot be checked (fail closed)")
            index_text = entry.get("statusListIndex")
            if not isinstance(index_text, str) or not index_text.isdigit() or len(index_text) > 10:
                raise _Fail("statusListIndex must be a string of digits")
            url = entry.get("statusListCredential")
            if not isinstance(url, str) or not url:
                raise _Fail("statusListCredential must name the status list")
            if self.trust is None:
                raise _Fail(
                    "the credential has a status entry and no status source was given "
                    "(a trust bundle); refused (fail closed)"
                )
            if self.trust.status_list(url, purpose, now).get(int(index_text)):
                raise _Fail(f"{_STATUS_WORD[purpose]} (status list {url}, index {index_text})")
        return None

    def _schema(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        if not self._govex(doc):
            context = doc.get("@context")
            types = doc.get("type")
            if not isinstance(context, list) or not context or context[0] != VC2_CONTEXT:
                raise _Fail(f"@context must start with {VC2_CONTEXT}")
            if not isinstance(types, list) or "VerifiableCredential" not in types:
                raise _Fail("type must include VerifiableCredential")
            if not isinstance(doc.get("credentialSubject"), dict | list):
                raise _Fail("credentialSubject is missing")
            return "not a govex certificate type: checked as a VC 2.0 document only"
        unknown = sorted(set(doc) - _TOP_LEVEL)
        if unknown:
            raise _Fail(f"unexpected members in a govex certificate: {', '.join(unknown)}")
        if doc.get("@context") != list(CONTEXTS):
            raise _Fail(f"@context must be {list(CONTEXTS)}")
        ctype = self._type_of(doc, state)
        if doc.get("name") != ctype.name:
            raise _Fail(f"name must be {ctype.name!r} for a {ctype.code} certificate")
        if doc.get("credentialSchema") != {"id": schema_url(ctype), "type": "JsonSchema"}:
            raise _Fail(f"credentialSchema must name {schema_url(ctype)} (JsonSchema)")
        issuer = doc.get("issuer")
        if not isinstance(issuer, dict) or set(issuer) != {"id", "name"}:
            raise _Fail('issuer must be {"id": "urn:uscc:<USCC>", "name": "<department>"}')
        issuer_uscc = self._issuer_of(doc, state)
        if not isinstance(issuer["name"], str) or not issuer["name"].strip():
            raise _Fail("issuer.name must be the issuing department's name")
        subject = doc.get("credentialSubject")
        if not isinstance(subject, dict):
            raise _Fail("credentialSubject must be an object")
        try:
            self._validators[ctype.code](dict(subject))  # a copy: validators may fill defaults
        except Exception:  # the compiled validator's error; validate_subject says it precisely
            ctype.validate_subject(subject)
            raise
        self._check_metadata(doc, ctype, subject, issuer_uscc, issuer["name"])
        return None

    @staticmethod
    def _check_metadata(
        doc: dict[str, Any],
        ctype: CertificateType,
        subject: dict[str, Any],
        issuer_uscc: str,
        issuer_name: str,
    ) -> None:
        metadata = doc.get("metadata")
        if not isinstance(metadata, dict):
            raise _Fail("metadata (GB/T 36903) must be an object")
        issue_date = metadata.get("issue_date")
        if not isinstance(issue_date, str) or not _is_date(issue_date):
            raise _Fail("metadata.issue_date must be a date YYYY-MM-DD")
        valid_from = parse_timestamp(doc.get("validFrom"), "validFrom")
        end = doc.get("validUntil")
        expected = {
            "type_code": ctype.type_code,
            "holder_name": subject["holder_name"],
            "holder_code": subject["holder_code"],
            "holder_code_type": ctype.holder_code_type.value,
            "issuer_name": issuer_name,
            "issuer_uscc": issuer_uscc,
            "issue_date": issue_date,
            "valid_from": local_date(valid_from),
            "valid_until": local_date(parse_timestamp(end, "validUntil")) if end else None,
        }
        if metadata != expected:
            wrong = sorted(
                k for k in set(expected) | set(metadata) if metadata.get(k, ...) != expected.get(k)
            )
            raise _Fail(f"metadata disagrees with the credential: {', '.join(wrong)}")

    def _identifier(self, doc: dict[str, Any], state: _State, now: datetime) -> str | None:
        doc_id = doc.get("id")
        if not self._govex(doc):
            return "not a govex certificate identifier: not checked"
        if not isinstance(doc_id, str) or not doc_id.startswith(CERT_URN_PREFIX):
            raise _Fail(f"id must be {CERT_URN_PREFIX}<GB/T 36904 certificate identifier>")
        parts = parse_certificate_id(certificate_id_of(doc_id))
        ctype = self._type_of(doc, state)
        if parts.type_code != ctype.type_code:
            raise _Fail(
                f"the identifier names type code {parts.type_code}, the credential is a "
                f"{ctype.code} ({ctype.type_code})"
            )
        uscc = self._issuer_of(doc, state)
        if parts.issuer != uscc:
            raise _Fail(f"the identifier names issuer {parts.issuer}, the credential {uscc}")
        return None
