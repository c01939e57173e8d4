"""The auditor API through HTTP: who sees what, checkpoints, proofs, subject report,
D4 (one entry per request, durable before the answer) and fail closed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.audit.checkpoints import department_witness_name, witness_cosign
from exchange.audit.log import AuditEntry
from exchange.config import Settings
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment, create_demo, publish_city
from exchange.service import Exchange
from signing.checkpoint import NoteVerifier, open_checkpoint
from signing.cosignature import CosignatureSigner
from signing.merkle import verify_consistency, verify_inclusion
from tests.support.tokens import access_token

Auth = Callable[[str], dict[str, str]]
CASE = "AUD-2026-000001"
PURPOSE = "budongchan.new_commercial_housing_transfer"


def _read(client: TestClient, auth: Auth, code: str, resource: str, key: str) -> Any:
    return client.get(
        f"/v1/resources/{resource}/records/{key}",
        params={"purpose": PURPOSE, "case": CASE},
        headers=auth(code),
    )


def _entry(item: dict[str, Any]) -> AuditEntry:
    return AuditEntry.from_json({k: v for k, v in item.items() if k != "leaf_hash"})


def _verified_checkpoint(body: dict[str, Any]) -> Any:
    verifier = NoteVerifier.from_vkey(body["vkey"])
    return open_checkpoint(body["note"], verifier, origin=body["origin"]).checkpoint


@pytest.fixture(scope="module")
def licence(city: City) -> str:
    return str(city.business_licences()[0]["uscc"])


def test_the_auditor_sees_every_entry_and_filters_them(
    exchange: Exchange, client: TestClient, auth: Auth, licence: str
) -> None:
    assert (
        _read(client, auth, "budongchan", "shichang.business_licence", licence).status_code == 200
    )
    r = client.get("/v1/audit/entries", params={"limit": 1000}, headers=auth("shenji"))
    assert r.status_code == 200
    body = r.json()
    actors = {e["actor"] for e in body["data"]}
    assert len(actors) > 3
    assert body["tree_size"] == exchange.audit.size
    by_case = client.get("/v1/audit/entries", params={"case": CASE}, headers=auth("shenji"))
    assert by_case.json()["count"] >= 1
    assert {e["case_no"] for e in by_case.json()["data"]} == {CASE}
    by_subject = client.post(
        "/v1/audit/entries/search", json={"subject": licence}, headers=auth("shenji")
    ).json()
    assert any(e["action"] == "query" for e in by_subject["data"])
    assert licence not in json.dumps(by_subject)


def test_entries_page_with_next_offset(client: TestClient, auth: Auth) -> None:
    first = client.get("/v1/audit/entries", params={"limit": 3}, headers=auth("shenji")).json()
    assert first["count"] == 3
    assert first["next_offset"] == 3
    second = client.get(
        "/v1/audit/entries", params={"limit": 3, "offset": 3}, headers=auth("shenji")
    ).json()
    assert [e["seq"] for e in second["data"]] == [e["seq"] + 3 for e in first["data"]]


def test_a_department_sees_its_actions_or_the_entries_about_its_data(
    exchange: Exchange, client: TestClient, auth: Auth, licence: str
) -> None:
    _read(client, auth, "budongchan", "shichang.business_licence", licence)
    shichang = exchange.registry.by_code("shichang").uscc
    owned = {d.code for d, owner in exchange.catalog.resources() if owner == shichang}
    actions = client.get("/v1/audit/entries", params={"limit": 1000}, headers=auth("shichang"))
    assert {e["actor"] for e in actions.json()["data"]} == {shichang}
    data = client.get(
        "/v1/audit/entries", params={"limit": 1000, "view": "data"}, headers=auth("shichang")
    ).json()["data"]
    assert data
    assert all(e["target"] in owned for e in data)
    assert any(e["actor"] != shichang and e["action"] == "query" for e in data)


def test_only_auditors_and_departments_may_read_the_log(client: TestClient, auth: Auth) -> None:
    r = client.get("/v1/audit/entries", headers=auth("dashuju"))
    assert r.status_code == 403
    assert r.json()["code"] == "exchange.role_forbidden"
    assert client.get("/v1/audit/checkpoint").status_code == 401
    assert (
        client.post(
            "/v1/audit/subjects/accesses", json={"subject": "X"}, headers=auth("dashuju")
        ).status_code
        == 403
    )


def test_the_checkpoint_is_signed_and_inclusion_proofs_verify_against_it(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    signed = client.post("/v1/audit/checkpoint", headers=auth("shenji"))
    assert signed.status_code == 201
    checkpoint = _verified_checkpoint(signed.json())
    assert checkpoint.size == signed.json()["size"]
    latest = client.get("/v1/audit/checkpoint", headers=auth("shenji")).json()
    assert latest["size"] >= checkpoint.size
    entries = client.get("/v1/audit/entries", params={"limit": 5}, headers=auth("shenji"))
    for item in entries.json()["data"]:
        proof = client.get(
            "/v1/audit/proofs/inclusion",
            params={"index": item["seq"], "size": checkpoint.size},
            headers=auth("shenji"),
        ).json()
        leaf = _entry(item).leaf_hash()
        assert proof["leaf_hash"] == leaf.hex() == item["leaf_hash"]
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        verify_inclusion(leaf, item["seq"], checkpoint.size, hashes, checkpoint.root)


def test_consistency_proofs_link_two_signed_checkpoints(client: TestClient, auth: Auth) -> None:
    old = _verified_checkpoint(client.post("/v1/audit/checkpoint", headers=auth("shenji")).json())
    client.get("/v1/audit/entries", headers=auth("gongan"))  # the log grows
    new = _verified_checkpoint(client.post("/v1/audit/checkpoint", headers=auth("shenji")).json())
    assert new.size > old.size
    proof = client.get(
        "/v1/audit/proofs/consistency",
        params={"first": old.size, "second": new.size},
        headers=auth("gongan"),
    ).json()
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    verify_consistency(old.size, new.size, old.root, new.root, hashes)


def test_proofs_outside_the_tree_are_refused_as_problems(client: TestClient, auth: Auth) -> None:
    r = client.get(
        "/v1/audit/proofs/inclusion",
        params={"index": 10**9, "size": 10**9},
        headers=auth("shenji"),
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "not within" in r.json()["detail"]


def test_who_used_my_data_lists_every_read_with_a_verifying_proof(
    exchange: Exchange, client: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[0].id_number
    r = client.get(
        "/v1/resources/gongan.resident_id_card/records",
        params={"subject": person, "purpose": PURPOSE, "case": CASE},
        headers=auth("budongchan"),
    )
    assert r.status_code in (200, 403)
    pending = client.post(
        "/v1/audit/subjects/accesses", json={"subject": person}, headers=auth("shenji")
    ).json()
    exchange.checkpoints.sign_now()  # the schedule's checkpoint, signed here without waiting
    report = client.post(
        "/v1/audit/subjects/accesses", json={"subject": person}, headers=auth("shenji")
    )
    assert report.status_code == 200
    body = report.json()
    assert person not in json.dumps(body)
    checkpoint = _verified_checkpoint(body["checkpoint"])
    budongchan = exchange.registry.by_code("budongchan").uscc
    assert any(
        a["entry"]["actor"] == budongchan and a["entry"]["case_no"] == CASE for a in body["data"]
    )
    seqs = [a["entry"]["seq"] for a in body["data"]]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    for access in body["data"]:
        entry = _entry(access["entry"])
        hashes = [bytes.fromhex(h) for h in access["inclusion_proof"]]
        verify_inclusion(entry.leaf_hash(), entry.seq, checkpoint.size, hashes, checkpoint.root)
    # entries newer than the checkpoint are listed too, with an empty proof (pending)
    newer = [a for a in pending["data"] if a["entry"]["seq"] >= pending["checkpoint"]["size"]]
    assert all(a["inclusion_proof"] == [] for a in newer)
    owner_view = client.post(
        "/v1/audit/subjects/accesses", json={"subject": person}, headers=auth("gongan")
    )
    gongan_owned = {
        d.code
        for d, owner in exchange.catalog.resources()
        if owner == exchange.registry.by_code("gongan").uscc
    }
    assert all(a["entry"]["target"] in gongan_owned for a in owner_view.json()["data"])


def test_a_department_witnesses_a_checkpoint_with_its_seal_key(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    gongan = DemoDepartment.load(exchange, "gongan")
    signed = client.post("/v1/audit/checkpoint", headers=auth("shenji")).json()
    log = NoteVerifier.from_vkey(signed["vkey"])
    name = department_witness_name(signed["origin"], gongan.uscc)
    witness = CosignatureSigner(name, gongan.seal_key)  # type: ignore[arg-type]
    cosigned = witness_cosign(signed["note"], log, signed["origin"], witness)
    r = client.post(
        "/v1/audit/checkpoint/cosignatures", json={"note": cosigned}, headers=auth("gongan")
    )
    assert r.status_code == 201, r.text
    opened = open_checkpoint(
        r.json()["note"], log, origin=signed["origin"], witnesses=[witness.verifier]
    )
    assert name in opened.signers
    other = client.post(
        "/v1/audit/checkpoint/cosignatures", json={"note": cosigned}, headers=auth("minzheng")
    )
    assert other.status_code == 422


# -- D4: one durable entry per request ------------------------------------------------


@pytest.fixture(scope="module")
def audited(exchange: Exchange) -> Iterator[TestClient]:
    app = create_app(exchange)  # the app carries the AuditMiddleware itself
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_d4_every_request_leaves_exactly_one_entry_before_its_answer(
    exchange: Exchange, audited: TestClient, auth: Auth, city: City, licence: str
) -> None:
    person = city.people[1].id_number
    tax_case = city.tax_audit_cases()[0]["case_number"]
    gongan = DemoDepartment.load(exchange, "gongan")
    foreign = gongan.seal("shichang.business_licence", [{"uscc": licence}], "uscc")
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    grant = {
        "resource": "minzheng.marriage_registration",
        "fields": ["kind"],
        "purposes": [PURPOSE],
        "reason": "D4",
        "expires_at": expires,
    }
    records = "/v1/resources/{}/records"
    params = {"purpose": PURPOSE, "case": CASE}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{records.format('shichang.business_licence')}/{licence}", params),  # allowed
        ("GET", f"{records.format('shichang.business_licence')}/{person}", params),  # not found
        ("GET", f"{records.format('shuiwu.tax_audit_case')}/{tax_case}", params),  # not shared
        ("GET", records.format("minzheng.marriage_registration"), {**params, "subject": person}),
        ("GET", records.format("gongan.resident_id_card"), {**params, "subject": person}),
        ("POST", "/v1/records", {"json": foreign.model_dump()}),  # not the owner
        ("POST", "/v1/grants", {"json": grant}),
        ("GET", "/v1/grants", {}),  # audits nothing itself: the middleware does
        ("GET", "/v1/audit/entries", {"case": CASE}),
        ("GET", "/v1/catalog", {}),
        ("GET", f"{records.format('shichang.business_licence')}/{licence}", {}),  # 422
    ]
    before = exchange.audit.size
    seqs: list[int] = []
    for method, path, extra in requests:
        kwargs: dict[str, Any] = {"headers": auth("budongchan")}
        if "json" in extra:
            kwargs["json"] = extra["json"]
        else:
            kwargs["params"] = extra
        r = audited.request(method, path, **kwargs)
        assert r.status_code < 500, (path, r.text)
        if r.status_code == 200 and "audit_seq" in r.json():
            seqs.append(r.json()["audit_seq"])
            assert r.json()["audit_seq"] < exchange.audit.size  # committed before the answer
    refusals = [
        audited.get("/v1/audit/entries", params={"case": "x"}),  # no token: 401
        audited.post("/v1/grants", json={**grant, "reason": "x"}, headers=auth("shenji")),  # 403
        audited.get("/v1/audit/entries", headers=auth("dashuju")),  # role refused: 403
    ]
    assert [r.status_code for r in refusals] == [401, 403, 403]
    total = len(requests) + len(refusals)
    after = exchange.audit.size
    print(f"D4 entries/requests {after - before}/{total}")
    assert after - before == total
    rows = exchange.store.fetchall(
        "SELECT seq, actor, request_hash FROM audit_entries WHERE seq >= ? ORDER BY seq", [before]
    )
    assert [r[0] for r in rows] == list(range(before, after))
    assert all(r[2] for r in rows)  # every entry names its request
    assert len({r[2] for r in rows}) == total
    assert set(seqs) <= {r[0] for r in rows}
    assert rows[-3][1] == "anonymous"


@pytest.mark.parametrize(
    ("path", "params", "status", "entry"),
    [
        (
            "/v1/audit/proofs/inclusion",
            {"index": 5, "size": 3},
            422,
            ("audit.proof", "refused", "exchange.invalid_entry_index", "inclusion"),
        ),
        (
            "/v1/audit/proofs/consistency",
            {"first": 10, "second": 5},
            422,
            ("audit.proof", "refused", "exchange.invalid_tree_size", "consistency"),
        ),
        (
            "/log/tile/entries/x999/999",
            {},
            404,
            (
                "audit.tiles.entries",
                "not_found",
                "exchange.no_such_tile",
                "/log/tile/entries/x999/999",
            ),
        ),
        (  # not a tile path: the entry keeps the route's path, not the caller's text
            "/log/tile/entries/abc",
            {},
            404,
            ("audit.tiles.entries", "not_found", "exchange.no_such_tile", "/log/tile/entries"),
        ),
        ("/v1/audit/proofs/inclusion", {"index": 0}, 200, ("audit.proof", "ok", None, "inclusion")),
        (
            "/log/tile/entries/000.p/1",
            {},
            200,
            ("audit.tiles.entries", "ok", None, "/log/tile/entries/000.p/1"),
        ),
    ],
)
def test_a_proof_or_bundle_is_audited_with_the_outcome_it_had(
    exchange: Exchange,
    client: TestClient,
    auth: Auth,
    path: str,
    params: dict[str, int],
    status: int,
    entry: tuple[str, str, str | None, str],
) -> None:
    """One entry for the request, written when its work is done: a proof or entry bundle
    refused is recorded as refused (or not found) with its code, never as ``ok``."""
    headers = auth("shenji")
    before = exchange.audit.size
    answer = client.get(path, params=params, headers=headers)
    assert answer.status_code == status, answer.text
    if status != 200:
        assert answer.json()["code"] == entry[2]
    rows = exchange.store.fetchall(
        "SELECT action, outcome, code, target FROM audit_entries WHERE seq >= ?", [before]
    )
    assert rows == [entry]


# -- fail closed ------------------------------------------------


@pytest.fixture
def doomed(tmp_path: Path, city: City) -> Iterator[Exchange]:
    exchange = create_demo(Settings(data=tmp_path / "data"))
    publish_city(exchange, city)
    yield exchange
    exchange.close()


def test_no_data_is_answered_when_the_audit_writer_fails(
    doomed: Exchange, city: City, licence: str
) -> None:
    app = create_app(doomed)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {access_token(doomed, client, 'budongchan')}"}
        path = f"/v1/resources/shichang.business_licence/records/{licence}"
        params = {"purpose": PURPOSE, "case": CASE}
        assert client.get(path, params=params, headers=headers).status_code == 200
        assert client.get("/healthz").status_code == 200
        doomed.audit.fail_for_test("disk full")
        size = doomed.audit.size
        health = client.get("/healthz")
        assert health.status_code == 503
        refused = [
            client.get(path, params=params, headers=headers),
            client.get("/v1/audit/entries", headers=headers),
            client.get("/v1/catalog", headers=headers),
            client.get("/v1/grants", headers=headers),
        ]
        for r in refused:
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "exchange.audit_unavailable"
            assert "Beijing" not in r.text
            assert licence not in r.text
        assert doomed.audit.size == size
    with TestClient(create_app(doomed), raise_server_exceptions=False) as plain:
        # without the middleware too: reads of records and of the log append first
        for r in (
            plain.get(path, params=params, headers=headers),
            plain.get("/v1/audit/entries", headers=headers),
            plain.post("/v1/audit/subjects/accesses", json={"subject": licence}, headers=headers),
        ):
            assert r.status_code == 503
            assert r.json()["code"] == "exchange.audit_unavailable"


def test_a_cosignature_is_not_stored_while_the_audit_log_is_closed(doomed: Exchange) -> None:
    """Fail closed: the cosignature route writes, so with no entry possible it stores
    nothing (503), and the checkpoint keeps the note it had."""
    gongan = DemoDepartment.load(doomed, "gongan")
    signed = doomed.checkpoints.sign_now()
    log = doomed.checkpoints.verifier
    name = department_witness_name(doomed.checkpoints.origin, gongan.uscc)
    witness = CosignatureSigner(name, gongan.seal_key)  # type: ignore[arg-type]
    cosigned = witness_cosign(signed.note, log, doomed.checkpoints.origin, witness)
    with TestClient(create_app(doomed), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {access_token(doomed, client, 'gongan')}"}
        doomed.audit.fail_for_test("disk full")
        r = client.post(
            "/v1/audit/checkpoint/cosignatures", json={"note": cosigned}, headers=headers
        )
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "exchange.audit_unavailable"
    assert doomed.checkpoints.get(signed.size).note == signed.note


def test_an_id_number_in_a_url_is_not_echoed_by_any_refusal(
    client: TestClient, auth: Callable[[str], dict[str, str]], city: City
) -> None:
    person = city.people[4].id_number
    url = f"/v1/audit/subjects/{person}/accesses"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, auth("shenji")):
        r = client.get(url, headers=headers)
        assert r.status_code in (401, 405), r.text
        assert person not in r.text
        assert r.json()["instance"] == "/v1/audit/subjects/{subject}/accesses"


def test_a_subject_is_searched_in_a_body_never_in_a_url(
    client: TestClient, auth: Callable[[str], dict[str, str]], city: City
) -> None:
    person = city.people[3].id_number
    for url in (f"/v1/audit/subjects/{person}/accesses", f"/v1/audit/entries?subject={person}"):
        r = client.get(url, headers=auth("shenji"))
        assert r.status_code == 405, url
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "exchange.subject_in_url"
        assert problem["use"].startswith("POST /v1/audit/")
        assert person not in r.text  # the answer does not echo the number back
        assert problem["instance"] in ("/v1/audit/subjects/{subject}/accesses", "/v1/audit/entries")
    report = client.post(
        "/v1/audit/subjects/accesses", json={"subject": person}, headers=auth("shenji")
    )
    assert report.status_code == 200
    found = client.post(
        "/v1/audit/entries/search", json={"subject": person, "limit": 5}, headers=auth("shenji")
    )
    assert found.status_code == 200
    assert found.json()["count"] <= 5
