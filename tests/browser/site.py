"""The demo city the console is tested against: built in process, then served by govex.

:func:`build_site` makes a demo exchange (departments, catalog, published registers),
then what the console pages need to show something true: the real-estate grants of
不动产登记中心, the certificates of two flats' buyers (one of them revoked), a record
quarantined for a wrong check digit, a refused read, and one resolved case. It closes
the exchange (one process owns the DuckDB file) and returns the facts the tests use.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from exchange.cases.models import CaseRequest
from exchange.certificates.models import StatusAction, StatusChange
from exchange.config import Settings
from exchange.demo.case import MATTER, couple_applicants, grant_real_estate, issue_flat_certificates
from exchange.demo.city import generate_city
from exchange.demo.setup import DemoDepartment, create_demo, publish_city
from exchange.errors import ExchangeError

__all__ = ["CASE_NO", "Site", "build_site"]

CASE_NO = "BDC-CONSOLE-0001"


@dataclass(frozen=True)
class Site:
    """What the tests know about the demo exchange they drive."""

    data: Path
    valid_certificate: Path  # a resident ID card, valid
    revoked_certificate: Path  # another one, revoked by its issuer
    matter: str
    applicants: list[dict[str, str]]  # buyers of a flat whose case is not resolved yet
    resolved_case: str  # a case resolved during the build
    resolved_subject: str  # an applicant of that case (ID number)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)


def build_site(folder: Path) -> Site:
    data = folder / "data"
    exchange = create_demo(Settings(data=data))
    try:
        city = generate_city()
        publish_city(exchange, city)
        grant_real_estate(exchange)
        first = issue_flat_certificates(exchange, city.flats[0])
        second = issue_flat_certificates(exchange, city.flats[1])
        issue_flat_certificates(exchange, city.flats[2])
        gongan = exchange.registry.by_code("gongan").uscc
        revoked = second["resident_id_card"]
        exchange.certificates.change_status(
            gongan, revoked.id, StatusChange(action=StatusAction.REVOKE, reason="证件遗失 (lost)")
        )
        valid_file = folder / "valid-certificate.json"
        revoked_file = folder / "revoked-certificate.json"
        valid_file.write_text(json.dumps(first["resident_id_card"].credential, ensure_ascii=False))
        revoked_file.write_text(json.dumps(revoked.credential, ensure_ascii=False))

        # a record with a wrong ID check digit: quarantined, with its reason
        police = DemoDepartment.load(exchange, "gongan")
        bad = dict(city.resident_id_cards()[0])
        bad["id_number"] = bad["id_number"][:-1] + ("0" if bad["id_number"][-1] != "0" else "1")
        exchange.ingestor.ingest(
            police.seal("gongan.resident_id_card", [bad], "id_number", version=2),
            police.uscc,
            source="demo",
        )
        # a read the sharing policy refuses (不予共享)
        market = exchange.registry.by_code("shichang").uscc
        with contextlib.suppress(ExchangeError):
            exchange.reader.read(
                market, "shuiwu.tax_audit_case", "x", purpose="inspection", case_no="SC-1"
            )

        approver = exchange.tokens.authenticate(
            exchange.tokens.mint(exchange.registry.by_code("budongchan").uscc)
        )
        resolved = couple_applicants(city, 2)
        exchange.cases.resolve(
            approver,
            CaseRequest.model_validate(
                {"matter": MATTER, "applicants": resolved, "case_no": CASE_NO}
            ),
        )
        return Site(
            data=data,
            valid_certificate=valid_file,
            revoked_certificate=revoked_file,
            matter=MATTER,
            applicants=couple_applicants(city, 0),
            resolved_case=CASE_NO,
            resolved_subject=resolved[0]["id"],
        )
    finally:
        exchange.close()
