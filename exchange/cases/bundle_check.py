"""Offline check of a case bundle (``govex case verify``): the exchange's seal over it,
every certificate inside it, and that its counts tell the truth about its materials."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exchange.cases.bundle import BUNDLE_TYPE
from exchange.certificates.bundle import TrustBundle
from exchange.certificates.verifier import Check, Verifier
from exchange.certificates.vocabulary import kid_from_urn
from exchange.errors import ExchangeError
from signing.ca import certificate_public_key
from signing.errors import SigningError
from signing.proofs import verify_proof

__all__ = ["BundleVerdict", "verify_bundle"]


class BundleVerdict:
    def __init__(self, checks: list[Check], certificates: list[dict[str, Any]]) -> None:
        self.checks = checks
        self.certificates = certificates

    @property
    def valid(self) -> bool:
        return all(c.passed for c in self.checks) and all(c["valid"] for c in self.certificates)

    @property
    def failures(self) -> list[str]:
        out = [f"{c.name}: {c.reason}" for c in self.checks if not c.passed]
        for cert in self.certificates:
            out += [
                f"certificate {cert['credential_id']}: {c['name']}: {c['reason']}"
                for c in cert["checks"]
                if not c["passed"]
            ]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "checks": [c.to_json() for c in self.checks],
            "certificates": self.certificates,
        }


def _seal_check(bundle: dict[str, Any], trust: TrustBundle) -> Check:
    proof = bundle.get("proof")
    if not isinstance(proof, dict):
        return Check("bundle_proof", False, "the bundle carries no proof: it was not signed")
    try:
        kid = kid_from_urn(str(proof.get("verificationMethod", "")))
        entry = trust.status_signers.get(kid)
        if entry is None:
            return Check(
                "bundle_proof", False, f"key {kid} is not the exchange's seal in the trust bundle"
            )
        verify_proof(bundle, certificate_public_key(entry.certificate))
        trust.chain.check(entry, datetime.now(UTC))  # judged now, not at the claimed date
    except (SigningError, ExchangeError, ValueError) as exc:
        return Check("bundle_proof", False, str(exc))
    return Check("bundle_proof", True)


def _consistency(bundle: dict[str, Any]) -> Check:
    materials = bundle.get("materials")
    if not isinstance(materials, list):
        return Check("consistency", False, "no materials list")
    to_bring = [m.get("material") for m in materials if m.get("status") == "to_bring"]
    if bundle.get("required") != len(materials):
        return Check(
            "consistency",
            False,
            f"required {bundle.get('required')} ≠ {len(materials)} materials listed",
        )
    if bundle.get("obtained") != len(materials) - len(to_bring):
        return Check("consistency", False, "the obtained count does not match the materials")
    listed = [t.get("material") for t in bundle.get("to_bring", [])]
    if listed != to_bring:
        return Check("consistency", False, "the to-bring list does not match the materials")
    ids = {c.get("id") for c in bundle.get("certificates", []) if isinstance(c, dict)}
    for m in materials:
        for ev in m.get("evidence", []) if m.get("status") == "obtained" else []:
            cid = ev.get("certificate")
            if cid and not any(str(i).endswith(cid) for i in ids):
                return Check(
                    "consistency",
                    False,
                    f"evidence names certificate {cid}, which the bundle does not carry",
                )
    return Check("consistency", True)


def verify_bundle(bundle: Any, trust: TrustBundle) -> BundleVerdict:
    """Check a case bundle offline against a trust bundle; never raises for bad input."""
    if not isinstance(bundle, dict) or bundle.get("type") != BUNDLE_TYPE:
        return BundleVerdict([Check("format", False, f"not a {BUNDLE_TYPE} document")], [])
    checks = [Check("format", True), _seal_check(bundle, trust), _consistency(bundle)]
    verifier = Verifier(trust)
    certs = [verifier.check(c).to_json() for c in bundle.get("certificates", [])]
    return BundleVerdict(checks, certs)
