"""The case bundle: what a resolved case says, signed by the exchange's seal.

A bundle (``"type": "GovexCaseBundle"``) names the case, the matter, the approver, the
applicants (masked), every material with its evidence or the reason it must still be
brought, the counts, and every certificate it used; :class:`BundleSealer` signs it with the
exchange's ``seal`` key (Data Integrity, eddsa-jcs-2022), so an approver can check it
offline (:mod:`exchange.cases.bundle_check`).
"""

from __future__ import annotations

from typing import Any

from exchange.cases.models import Applicant
from exchange.certificates.vocabulary import key_urn, uscc_urn
from exchange.keyring import ExchangeIdentity, Keyring
from schemas.identifiers import mask_id_number
from signing.proofs import add_proof

__all__ = ["BUNDLE_TYPE", "BundleSealer", "masked"]

BUNDLE_TYPE = "GovexCaseBundle"


def masked(applicant: Applicant) -> str:
    """An applicant's identifier as a bundle shows it: masked."""
    value = applicant.id
    return mask_id_number(value) if len(value) == 18 else value[:2] + "****" + value[-2:]


class BundleSealer:
    """Names the exchange as the bundle's issuer and signs it with the exchange's seal key."""

    def __init__(self, keyring: Keyring, identity: ExchangeIdentity) -> None:
        self.keyring = keyring
        self.identity = identity

    def sign(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """The bundle with ``issuer`` set and a Data Integrity proof added."""
        bundle["issuer"] = {"id": uscc_urn(self.identity.uscc), "name": self.identity.name}
        return add_proof(
            bundle,
            self.keyring.key("seal"),
            verification_method=key_urn(self.keyring.kids["seal"]),
        )
