"""The six checks of an e-certificate, one method each; :class:`CredentialChecks` runs none of them
by itself — :class:`exchange.certificates.verifier.Verifier` runs them all and makes the verdict.

* ``proof``: the Data Integrity proof verifies under the cert key it names
  (from the trust store), or under a key given explicitly; the document's
  ``@context`` must equal the one the proof signed (adding a context is refused);
* ``issuer_chain``: the key's certificate was issued by the root for the ``cert`` purpose
  and was valid at the time of verification, certifies the issuer's USCC, was not revoked
  when the proof was made (an earlier proof passes with a note), and belongs to the
  department competent for the certificate type;
* ``validity_period``: ``validFrom`` ≤ now ≤ ``validUntil``;
* ``status``: neither revoked nor suspended; an entry that cannot be checked
  fails (fail closed); a credential without ``credentialStatus`` (like the W3C
  examples, verified with an explicit key) is judged on the other checks;
* ``schema``: the subject matches its type's JSON Schema, and the document's
  shape and GB/T 36903 metadata agree with the rest of it;
* ``identifier``: the GB/T 36904 identifier and its check character, and that it
  names the same type and issuer as the document;
* ``register``: the exchange issued exactly this content under this id (online: the
  register of issued certificates; offline: the signed digest list of the trust bundle).

Key validity (``issuer_chain``) is judged at the time of verification, never at the
``proof.created`` the signer claims; for an old document the register vouches for, at its
recorded issuance. A govex certificate without the exchange's status entries is refused.
Likewise "made before the key's revocation" is only believed of content the trust store
vouches for, at the later of the register's recorded issuance (online; offline the bundle's
digest list knows no time) and ``proof.created``; a proof by a revoked key that nothing
vouches for is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.certificates.did import CredentialForm, credential_form, issuer_uscc, method_kid
from exchange.certificates.shape import (
    CheckFailed,
    check_issuer_shape,
    check_members,
    check_metadata,
    check_vc2,
)
from exchange.certificates.trust import ChainChecker, Issuance, SealEntry, TrustStore
from exchange.certificates.vocabulary import (
    CERT_URN_PREFIX,
    CLOCK_SKEW,
    ContentDigest,
    TrustError,
    certificate_id_of,
    certificate_key,
    credential_type_name,
    parse_timestamp,
)
from schemas.certificates import CertificateType
from schemas.identifiers import parse_certificate_id
from signing.algorithms import PublicKey
from signing.ca import ChainError, SealCertificateInfo
from signing.proofs import verify_proof

__all__ = ["CheckFailed", "CheckRun", "CheckState", "CredentialChecks"]

_STATUS_WORD = {"revocation": "revoked", "suspension": "suspended"}
_MEMO_LIMIT = 4_096  # names remembered per verifier (issuer ids, methods, forms)


@dataclass(slots=True)
class CheckState:
    """What the checks of one credential work out once and share."""

    ctype: CertificateType | None = None
    issuer: str | None = None
    issuance: Issuance | None = None
    issuance_error: str | None = None
    canonical: bytes | None = None  # JCS of the credential without its proof, once verified
    canonical_hash: tuple[str, bytes] | None = None  # the proof's hash of it, with its name
    valid_from: datetime | None = None  # validFrom, once parsed
    json_types: bool | None = None  # made of JSON types only (the intake's walk found)


CheckRun = Callable[[dict[str, Any], CheckState, datetime], str | None]
"""One check: the credential, what earlier checks worked out, now → a note, or raise."""


class CredentialChecks:
    """The checks against one trust store and/or one public key (see the module docstring)."""

    def __init__(
        self,
        trust: TrustStore | None,
        public_key: PublicKey | None,
        types: Mapping[str, CertificateType],
    ) -> None:
        self.trust = trust
        self.public_key = public_key
        self.chain = ChainChecker(trust.root) if trust is not None else None
        self._types = {credential_type_name(t): t for t in types.values()}
        self._validators = {t.code: t.compiled() for t in self._types.values()}
        self._keys: dict[str, PublicKey] = {}
        # what depends only on a (repeated) name, not on the credential: worked out once
        self._methods: dict[object, tuple[str | None, str]] = {}
        self._usccs: dict[object, str] = {}
        self._forms: dict[tuple[str, str], CredentialForm] = {}
        self._notes: dict[str, tuple[SealCertificateInfo, str]] = {}  # kid → its chain's note

    def all(self) -> tuple[tuple[str, CheckRun], ...]:
        """Every check with its name, in the order they run."""
        return (
            ("proof", self.proof),
            ("issuer_chain", self.issuer_chain),
            ("validity_period", self.validity_period),
            ("status", self.status),
            ("schema", self.schema),
            ("identifier", self.identifier),
            ("register", self.register),
        )

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

    def _type_of(self, doc: dict[str, Any], state: CheckState) -> CertificateType:
        if state.ctype is not None:
            return state.ctype
        types = doc.get("type")
        if (
            not isinstance(types, list)
            or len(types) != 2
            or types[0] != "VerifiableCredential"
            or not isinstance(types[1], str)
        ):
            raise CheckFailed('type must be ["VerifiableCredential", "<Type>Credential"]')
        ctype = self._types.get(types[1])
        if ctype is None:
            raise CheckFailed(f"{types[1]!r} is not a govex certificate type")
        state.ctype = ctype
        return ctype

    def _issuer_of(self, doc: dict[str, Any], state: CheckState) -> str:
        if state.issuer is None:
            issuer = doc.get("issuer")
            state.issuer = self._uscc(issuer.get("id") if isinstance(issuer, dict) else issuer)
        return state.issuer

    def _uscc(self, issuer_id: object) -> str:
        """:func:`issuer_uscc`, remembered per issuer id (a string; errors are not kept)."""
        found = self._usccs.get(issuer_id) if type(issuer_id) is str else None
        if found is None:
            found = issuer_uscc(issuer_id)
            if len(self._usccs) < _MEMO_LIMIT:
                self._usccs[issuer_id] = found
        return found

    def _method_kid(self, method: object) -> tuple[str | None, str]:
        """:func:`method_kid`, remembered per verification method (a string)."""
        found = self._methods.get(method) if type(method) is str else None
        if found is None:
            found = method_kid(method)
            if len(self._methods) < _MEMO_LIMIT:
                self._methods[method] = found
        return found

    def _form(self, issuer_id: str, ctype: CertificateType) -> CredentialForm:
        """:func:`credential_form`, remembered per issuer id and type."""
        slot = (issuer_id, ctype.code)
        found = self._forms.get(slot) if type(issuer_id) is str else None
        if found is None:
            found = credential_form(issuer_id, ctype)
            if len(self._forms) < _MEMO_LIMIT:
                self._forms[slot] = found
        return found

    def _proof_member(self, doc: dict[str, Any], name: str) -> Any:
        proof = doc.get("proof")
        if not isinstance(proof, dict):
            raise CheckFailed("the credential has no proof object")
        return proof.get(name)

    def _resolve(self, method: str) -> PublicKey:
        cached = self._keys.get(method)
        if cached is not None:
            return cached
        entry = self.trust.seal(self._method_kid(method)[1]) if self.trust is not None else None
        if entry is None:
            raise CheckFailed(
                f"verification method {method} is not a seal key the trust store knows"
            )
        key = certificate_key(entry.certificate)
        self._keys[method] = key
        return key

    # -- the checks ------------------------------------------------
    def proof(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        if self.public_key is not None:
            verified = verify_proof(doc, self.public_key, json_types=state.json_types)
        else:
            verified = verify_proof(doc, resolve=self._resolve, json_types=state.json_types)
        if "@context" in verified.proof and doc.get("@context") != verified.proof["@context"]:
            raise CheckFailed("the document's @context differs from the @context the proof signed")
        # the signed bytes are then exactly the credential without its proof: its content
        state.canonical = verified.canonical_document or None
        state.canonical_hash = (verified.hash_name, verified.document_hash)
        return None

    def issuer_chain(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        if self.public_key is not None or self.trust is None or self.chain is None:
            return "not checked: verified against the public key given, not a trust chain"
        method = self._proof_member(doc, "verificationMethod")
        controller, kid = self._method_kid(method)
        issuer = doc.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        if controller is not None and controller != issuer_id:
            raise CheckFailed(
                f"the proof's key belongs to {controller}, not the issuer {issuer_id}"
            )
        entry = self.trust.seal(kid)
        if entry is None:
            raise CheckFailed(f"key {kid} is not a seal key certified by the trusted root")
        created = parse_timestamp(self._proof_member(doc, "created"), "proof.created")
        if created > now + CLOCK_SKEW:
            raise CheckFailed(
                f"the proof claims to be created in the future ({created.isoformat()})"
            )
        info = self._chain_at(doc, state, entry, now)
        uscc = self._issuer_of(doc, state)
        if info.uscc != uscc:
            raise CheckFailed(
                f"the seal certificate certifies {info.name} ({info.uscc}), not the issuer {uscc}"
            )
        revoked = self.trust.revocation(kid)
        if revoked is not None:
            made = self._made_at(doc, state, created)
            # proof times are whole seconds: a proof in the second of the revocation is refused
            if made is None or made >= revoked.revoked_at.replace(microsecond=0):
                raise CheckFailed(
                    f"cert key {kid} of {info.name} was revoked at "
                    f"{revoked.revoked_at.isoformat()}: {revoked.reason}"
                )
        ctype = self._type_of(doc, state)
        if entry.department != ctype.department:
            raise CheckFailed(
                f"{info.name} is not competent to issue {ctype.name} ({ctype.code}); "
                f"its competent department is {ctype.department}"
            )
        said = self._notes.get(kid)
        if said is None or said[0] is not info:  # the note is the same each time: made once
            said = (
                info,
                f"sealed by {info.name} ({info.uscc}) with key {kid}, certified by the root",
            )
            if len(self._notes) < _MEMO_LIMIT:
                self._notes[kid] = said
        note = said[1]
        if revoked is not None:
            note += (
                f"; made before the key was revoked at {revoked.revoked_at.isoformat()} "
                f"({revoked.reason})"
            )
        return note

    def _made_at(
        self, doc: dict[str, Any], state: CheckState, created: datetime
    ) -> datetime | None:
        """When the proof was made, as far as the trust store vouches for it (None: it does not).

        ``proof.created`` alone never makes a proof acceptable (the signer chooses it), but
        a proof that says it was made later is taken at its word: the later of the
        register's recorded issuance (online) and ``proof.created``. Offline the bundle
        vouches only for the content, so ``proof.created`` stands for the time.
        """
        issued = self._issuance(doc, state)
        if issued is None:
            return None
        if issued.issued_at is None:
            return created
        return max(issued.issued_at, created)

    def validity_period(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        start = doc.get("validFrom")
        end = doc.get("validUntil")
        if start is None and self._govex(doc):
            raise CheckFailed("a govex certificate must have validFrom")
        valid_from = parse_timestamp(start, "validFrom") if start is not None else None
        state.valid_from = valid_from
        valid_until = parse_timestamp(end, "validUntil") if end is not None else None
        if valid_from is not None and valid_until is not None and valid_until < valid_from:
            raise CheckFailed("validUntil is before validFrom")
        if valid_from is not None and now + CLOCK_SKEW < valid_from:
            raise CheckFailed(f"not valid yet: valid from {valid_from.isoformat()}")
        if valid_until is not None and now > valid_until:
            raise CheckFailed(f"expired: valid until {valid_until.isoformat()}")
        return None if valid_until is not None else "no validUntil: valid without end (长期)"

    def _chain_at(
        self, doc: dict[str, Any], state: CheckState, entry: SealEntry, now: datetime
    ) -> SealCertificateInfo:
        """The chain judged now; for a document the register vouches for, at its issuance.

        Never at ``proof.created``: the signer chooses that time, so a backdated proof by a
        key whose certificate has expired would pass.
        """
        assert self.chain is not None
        try:
            return self.chain.check(entry, now)
        except ChainError:
            issued = self._issuance(doc, state)
            if issued is None or issued.issued_at is None:
                raise
            return self.chain.check(entry, issued.issued_at)

    def _issuance(self, doc: dict[str, Any], state: CheckState) -> Issuance | None:
        """The trust store's record that it issued exactly this content (None: not vouched)."""
        if self.trust is None:
            return None
        if state.issuance is None and state.issuance_error is None:
            doc_id = doc.get("id")
            if not isinstance(doc_id, str) or not doc_id.startswith(CERT_URN_PREFIX):
                state.issuance_error = f"id must be {CERT_URN_PREFIX}<certificate identifier>"
            else:
                try:
                    content = ContentDigest(doc, state.canonical, state.canonical_hash)
                    state.issuance = self.trust.issuance(doc_id, content)
                except TrustError as exc:
                    state.issuance_error = exc.message
        return state.issuance

    def status(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        govex = self._govex(doc)
        if "credentialStatus" not in doc:
            if govex:
                raise CheckFailed(
                    "no credentialStatus: every govex certificate carries the exchange's "
                    "status entries; refused"
                )
            return "no credentialStatus: judged on its proof and validity period"
        entries = doc["credentialStatus"]
        items = entries if isinstance(entries, list) else [entries]
        if not items:
            raise CheckFailed("credentialStatus is empty")
        purposes = {e.get("statusPurpose") for e in items if isinstance(e, dict)}
        if govex and "revocation" not in purposes:
            raise CheckFailed("a govex certificate must carry a revocation status entry")
        issued = self._issuance(doc, state)
        if issued is not None and issued.status in _STATUS_WORD.values():
            raise CheckFailed(f"{issued.status} (the register of issued certificates)")
        for entry in items:
            if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
                raise CheckFailed(
                    "credentialStatus entries must be BitstringStatusListEntry objects"
                )
            purpose = entry.get("statusPurpose")
            if purpose not in _STATUS_WORD:
                raise CheckFailed(f"status purpose {purpose!r} cannot be checked (fail closed)")
            index_text = entry.get("statusListIndex")
            if not isinstance(index_text, str) or not index_text.isdigit() or len(index_text) > 10:
                raise CheckFailed("statusListIndex must be a string of digits")
            url = entry.get("statusListCredential")
            if not isinstance(url, str) or not url:
                raise CheckFailed("statusListCredential must name the status list")
            if self.trust is None:
                raise CheckFailed(
                    "the credential has a status entry and no status source was given "
                    "(a trust bundle); refused (fail closed)"
                )
            if self.trust.status_list(url, purpose, now).get(int(index_text)):
                raise CheckFailed(
                    f"{_STATUS_WORD[purpose]} (status list {url}, index {index_text})"
                )
        return None

    def register(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        if not self._govex(doc):
            return "not a govex certificate: no register to check"
        if self.trust is None:
            raise CheckFailed(
                "no register of issued certificates was given (a trust bundle); refused "
                "(fail closed)"
            )
        if self._issuance(doc, state) is None:
            raise CheckFailed(state.issuance_error or "not issued by the exchange")
        return None

    def schema(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        if not self._govex(doc):
            check_vc2(doc)
            return "not a govex certificate type: checked as a VC 2.0 document only"
        check_members(doc)
        ctype = self._type_of(doc, state)
        issuer = check_issuer_shape(doc.get("issuer"))
        uscc = self._issuer_of(doc, state)
        form = self._form(issuer["id"], ctype)
        if doc.get("@context") != form.contexts:
            raise CheckFailed(f"@context must be {form.contexts}")
        if doc.get("name") != ctype.name:
            raise CheckFailed(f"name must be {ctype.name!r} for a {ctype.code} certificate")
        if doc.get("credentialSchema") != form.schema:
            raise CheckFailed(f"credentialSchema must name {form.schema['id']} (JsonSchema)")
        if not isinstance(issuer["name"], str) or not issuer["name"].strip():
            raise CheckFailed("issuer.name must be the issuing department's name")
        subject = doc.get("credentialSubject")
        if not isinstance(subject, dict):
            raise CheckFailed("credentialSubject must be an object")
        try:
            self._validators[ctype.code](dict(subject))  # a copy: validators may fill defaults
        except Exception:  # the compiled validator's error; validate_subject says it precisely
            ctype.validate_subject(subject)
            raise
        check_metadata(doc, state.valid_from, ctype, subject, uscc, issuer["name"])
        return None

    def identifier(self, doc: dict[str, Any], state: CheckState, now: datetime) -> str | None:
        doc_id = doc.get("id")
        if not self._govex(doc):
            return "not a govex certificate identifier: not checked"
        if not isinstance(doc_id, str) or not doc_id.startswith(CERT_URN_PREFIX):
            raise CheckFailed(f"id must be {CERT_URN_PREFIX}<GB/T 36904 certificate identifier>")
        parts = parse_certificate_id(certificate_id_of(doc_id))
        ctype = self._type_of(doc, state)
        if parts.type_code != ctype.type_code:
            raise CheckFailed(
                f"the identifier names type code {parts.type_code}, the credential is a "
                f"{ctype.code} ({ctype.type_code})"
            )
        uscc = self._issuer_of(doc, state)
        if parts.issuer != uscc:
            raise CheckFailed(f"the identifier names issuer {parts.issuer}, the credential {uscc}")
        return None
