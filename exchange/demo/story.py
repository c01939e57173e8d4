"""``govex demo``: the exchange's story, told through its own HTTP API.

Every step is a real request to the API (in process, through the ASGI stack, with
tokens from client assertions), so the demo shows what a department would see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from exchange.bus.models import IngestResult
from exchange.demo.city import generate_city
from exchange.demo.setup import DemoDepartment, publish_city
from exchange.demo.story_case import real_estate_chapter
from exchange.server import build_app
from exchange.service import Exchange

__all__ = ["Step", "Story", "run_story"]


@dataclass
class Step:
    title: str
    actor: str
    request: str
    status: int
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Story:
    exchange: str
    steps: list[Step] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    published: dict[str, dict[str, int]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "published": self.published,
            "steps": [s.__dict__ for s in self.steps],
            "audit": self.audit,
            **self.extra,
        }


class _Actor:
    def __init__(self, client: TestClient, exchange: Exchange, code: str) -> None:
        self.dept = DemoDepartment.load(exchange, code)
        self.client = client
        response = client.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.dept.assertion(exchange.tokens.token_endpoint),
            },
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.name = self.dept.department.name

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers)


def run_story(
    exchange: Exchange,
    say: Callable[[Step], None] = lambda s: None,
    *,
    connectors: Callable[[Exchange], Mapping[str, IngestResult]] | None = None,
) -> Story:
    """Publish, read under each sharing type, grant, refuse, and show the audit trail."""
    story = Story(exchange=exchange.identity.name)
    suite = exchange.identity.suite
    story.extra["suite"] = {"name": suite.name, "label": suite.label, "hash": suite.hash_name}
    city = generate_city()
    client = TestClient(build_app(exchange))

    def step(
        title: str, actor: _Actor, request: str, response: Any, outcome: str, **detail: Any
    ) -> Any:
        body = response.json() if response.content else {}
        s = Step(title, actor.name, request, response.status_code, outcome, detail)
        if response.status_code >= 400:
            s.detail.setdefault("code", body.get("code"))
            s.detail.setdefault("reason", body.get("detail"))
        flush()
        story.steps.append(s)
        return body

    printed = 0

    def flush() -> None:
        nonlocal printed
        for s in story.steps[printed:]:
            say(s)
        printed = len(story.steps)

    # 1. every department publishes its register (sealed batches)
    for resource, result in publish_city(exchange, city, connectors=connectors).items():
        story.published[resource] = {
            "accepted": result.accepted,
            "quarantined": len(result.quarantined),
        }
        if result.batch_id.startswith("connector:"):  # published by a department connector
            owner = exchange.registry.by_code(exchange.catalog.resource(resource).owner)
            story.steps.append(
                Step(
                    f"{owner.name}'s connector publishes its export of {resource}",
                    owner.name,
                    f"govex connector run {result.batch_id.removeprefix('connector:')}",
                    200,
                    f"{result.accepted} records published in sealed batches; "
                    f"{len(result.quarantined)} bad rows refused with their line numbers",
                    {"refused": [q.reason for q in result.quarantined]},
                )
            )
    gongan = _Actor(client, exchange, "gongan")
    bad = dict(city.resident_id_cards()[0])
    bad["id_number"] = bad["id_number"][:-1] + ("0" if bad["id_number"][-1] != "0" else "1")
    batch = gongan.dept.seal("gongan.resident_id_card", [bad], "id_number", version=2)
    body = step(
        "公安局 publishes a record with a wrong ID check digit",
        gongan,
        "POST /v1/records",
        gongan.post("/v1/records", batch.model_dump()),
        "quarantined with the reason; nothing dropped silently",
    )
    story.steps[-1].detail["quarantined"] = [q["reason"] for q in body.get("quarantined", [])]

    bdc = _Actor(client, exchange, "budongchan")
    couple = city.couples[0]
    case = "BDC-2026-000001"
    purpose = "budongchan.new_commercial_housing_transfer"
    developer = city.flats[0].developer
    body = step(
        "不动产登记中心 reads the developer's business licence (unconditional)",
        bdc,
        f"GET /v1/resources/shichang.business_licence/records/{developer.uscc}",
        bdc.get(
            f"/v1/resources/shichang.business_licence/records/{developer.uscc}",
            purpose=purpose,
            case=case,
        ),
        "allowed",
    )
    story.steps[-1].detail.update(
        name=body.get("data", {}).get("name"), masked_fields=body.get("masked_fields")
    )

    marriage_path = "/v1/resources/minzheng.marriage_registration/records"
    step(
        "不动产登记中心 asks 民政局 for the buyers' marriage record without a grant",
        bdc,
        f"GET {marriage_path}?subject=…",
        bdc.get(marriage_path, subject=couple[0].id_number, purpose=purpose, case=case),
        "refused: conditional resource, no grant",
    )

    grant = step(
        "不动产登记中心 requests a grant (fields, purpose, reason)",
        bdc,
        "POST /v1/grants",
        bdc.post(
            "/v1/grants",
            {
                "resource": "minzheng.marriage_registration",
                "fields": [
                    "kind",
                    "registration_date",
                    "male_party_name",
                    "female_party_name",
                    "male_party_id_number",
                    "female_party_id_number",
                ],
                "purposes": [purpose],
                "reason": "核验买受人婚姻状况 (一件事一次办)",
                "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
            },
        ),
        "pending; answer due in 10 working days",
    )
    story.steps[-1].detail.update(grant=grant.get("id"), answer_due=grant.get("answer_due"))
    minzheng = _Actor(client, exchange, "minzheng")
    step(
        "民政局 approves the grant with a reason",
        minzheng,
        f"POST /v1/grants/{grant.get('id')}/decision",
        minzheng.post(
            f"/v1/grants/{grant.get('id')}/decision",
            {"approve": True, "reason": "用于不动产转移登记, 依法共享"},
        ),
        "approved",
    )
    body = step(
        "不动产登记中心 reads the marriage record again, with the grant",
        bdc,
        f"GET {marriage_path}?subject=…",
        bdc.get(marriage_path, subject=couple[0].id_number, purpose=purpose, case=case),
        "allowed; fields outside the grant masked",
    )
    if body.get("data"):
        record = body["data"][0]
        story.steps[-1].detail.update(record=record["data"], masked_fields=record["masked_fields"])

    audit_case = city.tax_audit_cases()[0]["case_number"]
    step(
        "不动产登记中心 tries to read a tax audit case (not shared)",
        bdc,
        f"GET /v1/resources/shuiwu.tax_audit_case/records/{audit_case}",
        bdc.get(
            f"/v1/resources/shuiwu.tax_audit_case/records/{audit_case}", purpose=purpose, case=case
        ),
        "refused: 不予共享, owner only",
    )

    actors: dict[str, _Actor] = {"budongchan": bdc, "gongan": gongan, "minzheng": minzheng}

    def actor(code: str) -> _Actor:
        if code not in actors:
            actors[code] = _Actor(client, exchange, code)
        return actors[code]

    def note(**detail: Any) -> None:
        story.steps[-1].detail.update(detail)

    story.extra["cases"] = real_estate_chapter(exchange, city, actor, step, note, case)

    # e-certificates: a counter checks one offline, from its QR code and a trust bundle alone
    from exchange.certificates.bundle import TrustBundle
    from exchange.certificates.qr import credential_from_qr_text, qr_text
    from exchange.certificates.verifier import Verifier

    found = step(
        "不动产登记中心 looks up the buyer's 商品房买卖合同备案证明 (e-certificate)",
        bdc,
        "GET /v1/certificates?holder=…&type=sales_contract_filing_certificate",
        bdc.get("/v1/certificates", holder=city.flats[0].buyers[0].id_number,
                type="sales_contract_filing_certificate", purpose=purpose, case=case),
        "found; the lookup is audited under the case",
    )  # fmt: skip
    if found.get("data"):
        text = qr_text(found["data"][0]["credential"])
        trust = TrustBundle.from_json(json.dumps(exchange.certificates.trust_bundle().to_json()))
        verdict = Verifier(trust).check(credential_from_qr_text(text))
        checks = [f"{c.name}: {'ok' if c.passed else c.reason}" for c in verdict.checks]
        story.steps.append(
            Step("the counter verifies it offline from its QR code (no server, no database)",
                 bdc.name, "govex cert verify --qr-text GX1:… --trust TRUST.json",
                 200 if verdict.valid else 422, "valid" if verdict.valid else "refused",
                 {"qr_text": f"{text[:24]}… ({len(text)} characters)", "checks": checks})
        )  # fmt: skip

    shenji = _Actor(client, exchange, "shenji")
    body = step(
        "审计局 traces the case in the audit log",
        shenji,
        f"GET /v1/audit/entries?case={case}",
        shenji.get("/v1/audit/entries", case=case),
        "the trail",
    )
    story.audit = [
        {
            k: e[k]
            for k in (
                "seq",
                "ts",
                "actor",
                "action",
                "outcome",
                "target",
                "purpose",
                "case_no",
                "code",
            )
        }
        for e in body.get("data", [])
    ]
    if body.get("data"):
        story.extra["audit_proof"] = _prove_entry(story, shenji, step, body["data"][0])
    flush()
    names = {d.uscc: d.code for d in exchange.registry.departments()}
    for entry in story.audit:
        entry["actor_code"] = names.get(entry["actor"], entry["actor"])
    client.close()
    return story


def _prove_entry(
    story: Story, auditor: _Actor, step: Callable[..., Any], entry: dict[str, Any]
) -> dict[str, Any]:
    """The auditor checks one entry of the trail against a signed checkpoint, locally."""
    from exchange.audit.log import AuditEntry
    from exchange.audit.trail import prove_entry
    from signing.checkpoint import NoteVerifier, open_checkpoint
    from signing.errors import MerkleProofError

    signed = step(
        "审计局 has the exchange sign a checkpoint of the log (C2SP signed note)",
        auditor,
        "POST /v1/audit/checkpoint",
        auditor.post("/v1/audit/checkpoint", {}),
        "signed tree head: size and root",
    )
    proof = step(
        f"审计局 asks for the inclusion proof of entry {entry['seq']}",
        auditor,
        f"GET /v1/audit/proofs/inclusion?index={entry['seq']}&size={signed.get('size')}",
        auditor.get("/v1/audit/proofs/inclusion", index=entry["seq"], size=signed.get("size")),
        "proof hashes",
    )
    fields = {k: v for k, v in entry.items() if k != "leaf_hash"}
    checkpoint = open_checkpoint(
        signed["note"], NoteVerifier.from_vkey(signed["vkey"]), origin=signed["origin"]
    ).checkpoint
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    proven = prove_entry(AuditEntry.from_json(fields), checkpoint.size, checkpoint.root, hashes)
    if proven.status != "verified":
        raise MerkleProofError(f"entry {entry['seq']}: {proven.reason}")
    result = {
        "entry": entry["seq"],
        "checkpoint_size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "proof_hashes": len(hashes),
    }
    story.steps.append(
        Step(
            "审计局 verifies it locally: leaf recomputed from the entry, proof checked against "
            "the signed root",
            auditor.name,
            "open_checkpoint + prove_entry",
            200,
            "VERIFIED",
            dict(result),
        )
    )
    return result


def dumps(story: Story) -> str:
    return json.dumps(story.to_json(), ensure_ascii=False, indent=2)
