"""The demo's 一件事一次办 chapter: a couple's new-flat registration, 8 materials → 2.

Told through the API like the rest of the story: departments issue the couple's
e-certificates, the owners grant 不动产登记中心 what the matter needs, the centre resolves
the case, checks the signed bundle offline, and — once 税务局 revokes the deed-tax
certificate — resolves again and is told to ask the applicant for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.cases.bundle_check import verify_bundle
from exchange.demo.case import GRANTS, MATTER, certificate_requests, couple_applicants
from exchange.demo.city import City
from exchange.service import Exchange

__all__ = ["case_summary", "real_estate_chapter"]


def case_summary(bundle: dict[str, Any]) -> dict[str, Any]:
    return {
        "case": bundle.get("case"),
        "matter": bundle.get("matter"),
        "required": bundle.get("required"),
        "obtained": bundle.get("obtained"),
        "to_bring": [
            {"material": t["material"], "name": t["name"], "reason": t["reason"]}
            for t in bundle.get("to_bring", [])
        ],
    }


def real_estate_chapter(
    exchange: Exchange,
    city: City,
    actor: Callable[[str], Any],
    step: Callable[..., Any],
    note: Callable[..., None],
    case: str,
) -> list[dict[str, Any]]:
    flat = city.flats[0]
    bdc = actor("budongchan")
    issued: list[str] = []  # every certificate, the couple's two ID cards both
    by_type: dict[str, str] = {}
    statuses = []
    for code, request in certificate_requests(flat):
        r = actor(code).post("/v1/certificates", request.model_dump(mode="json"))
        statuses.append(r.status_code)
        if r.status_code == 201:
            issued.append(r.json()["id"])
            by_type.setdefault(request.type, r.json()["id"])
    step(
        "公安局, 税务局 and 住建局 issue the couple's e-certificates (电子证照)",
        bdc,
        f"POST /v1/certificates ×{len(statuses)}",
        _Summary(max(statuses)),
        f"issued {sum(s == 201 for s in statuses)} certificates: 居民身份证 ×2, 契税完税证明, "
        "商品房买卖合同备案证明",
        certificates=issued,
    )
    decided = 0
    for resource, fields in GRANTS.items():
        g = bdc.post(
            "/v1/grants",
            {
                "resource": resource,
                "fields": fields,
                "purposes": [MATTER],
                "reason": "新建商品房转移登记: 共享取得, 申请人免交纸质材料",
                "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
            },
        ).json()
        owner = resource.split(".")[0]
        d = actor(owner).post(
            f"/v1/grants/{g['id']}/decision",
            {"approve": True, "reason": "依法共享, 用于不动产登记"},
        )
        decided += d.status_code == 200
    step(
        "民政局, 税务局 and 住建局 grant 不动产登记中心 the fields the matter needs",
        bdc,
        "POST /v1/grants ×3, POST /v1/grants/{id}/decision ×3",
        _Summary(200),
        f"{decided} grants approved for purpose {MATTER}",
    )
    applicants = couple_applicants(city, 0)
    bundle = step(
        "不动产登记中心 resolves the couple's 新建商品房转移登记 (一件事一次办)",
        bdc,
        "POST /v1/cases",
        bdc.post("/v1/cases", {"matter": MATTER, "applicants": applicants, "case_no": case}),
        "8 materials required; the exchange obtained and verified the rest",
    )
    summary = case_summary(bundle)
    note(
        required=summary["required"],
        obtained=summary["obtained"],
        to_bring=[t["name"] for t in summary["to_bring"]],
    )
    trust = exchange.certificates.trust_bundle()
    verdict = verify_bundle(bundle, trust)
    step(
        "不动产登记中心 checks the signed bundle offline (seal, every certificate, counts)",
        bdc,
        "govex case verify BUNDLE.json --trust TRUST.json",
        _Summary(200 if verdict.valid else 422),
        "valid" if verdict.valid else "refused",
        failures=verdict.failures,
    )
    shuiwu = actor("shuiwu")
    deed = by_type.get("deed_tax_certificate", "")
    step(
        "税务局 revokes the deed-tax certificate (契税完税证明)",
        shuiwu,
        f"POST /v1/certificates/{deed}/status",
        shuiwu.post(
            f"/v1/certificates/{deed}/status",
            {"action": "revoke", "reason": "完税凭证信息更正, 原证照作废"},
        ),
        "revoked; takes effect online at once",
    )
    again = step(
        "不动产登记中心 resolves the same application again",
        bdc,
        "POST /v1/cases",
        bdc.post("/v1/cases", {"matter": MATTER, "applicants": applicants, "case_no": case + "-R"}),
        "the bundle asks the applicant for the revoked material",
    )
    second = case_summary(again)
    note(
        required=second["required"],
        obtained=second["obtained"],
        to_bring=[f"{t['name']}: {t['reason']}" for t in second["to_bring"]],
    )
    return [summary, second]


class _Summary:
    """The outcome of a step that summarises several real API requests made just before."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.content = b""

    def json(self) -> dict[str, Any]:
        return {}
