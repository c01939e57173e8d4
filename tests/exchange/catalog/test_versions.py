"""Catalog management on a running exchange: schema versions, compatibility, reads, grants.

A real demo exchange (DuckDB file, the city's records) driven through the real API: the
operator (大数据局) changes the catalog, owners publish under the new versions, consumers
read and ask for grants.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from exchange.catalog.metaschema import check_definition, parse_definition
from exchange.catalog.versions import SchemaVersion, compatibility_problems
from exchange.demo.setup import DemoDepartment
from exchange.errors import InvalidRequest
from exchange.service import Exchange
from exchange.store import DB_FILE, MIGRATIONS, Store
from schemas.catalog import ResourceDefinition, load_resources

PURPOSE = "budongchan.new_commercial_housing_transfer"  # a 事项 code: grants name matters

Auth = Callable[[str], dict[str, str]]
OPERATOR = "dashuju"


def current(exchange: Exchange, code: str) -> dict[str, Any]:
    return exchange.catalog.resource(code).model_dump(mode="json", by_alias=True)


def put(client: TestClient, auth: Auth, definition: dict[str, Any], *, major: bool = False) -> Any:
    return client.put(
        f"/v1/admin/catalog/{definition['code']}",
        params={"major": "true"} if major else None,
        headers=auth(OPERATOR),
        json=definition,
    )


def some_record(exchange: Exchange, code: str, offset: int = 0) -> tuple[str, dict[str, Any]]:
    row = exchange.store.fetchone(
        "SELECT key, data FROM record_latest WHERE resource = ? ORDER BY key LIMIT 1 OFFSET ?",
        [code, offset],
    )
    assert row is not None
    return str(row[0]), json.loads(row[1])


def publish(
    exchange: Exchange, client: TestClient, auth: Auth, code: str, rows: list[dict[str, Any]]
) -> Any:
    definition = exchange.catalog.resource(code)
    dept = DemoDepartment.load(exchange, definition.owner)
    batch = dept.seal(code, rows, definition.key_field, version=7)
    r = client.post(
        "/v1/records", headers=auth(definition.owner), json=json.loads(batch.model_dump_json())
    )
    assert r.status_code == 200, r.text
    return r.json()


def read(client: TestClient, auth: Auth, reader: str, code: str, key: str, **params: Any) -> Any:
    return client.get(
        f"/v1/resources/{code}/records/{key}",
        params={"purpose": PURPOSE, "case": "CASE-V1", **params},
        headers=auth(reader),
    )


def catalog_entries(exchange: Exchange, action: str) -> list[tuple[Any, ...]]:
    return exchange.store.fetchall(
        "SELECT actor, outcome, target, code, detail FROM audit_entries WHERE action = ? "
        "ORDER BY seq",
        [action],
    )


# -- compatible updates ------------------------------------------------
def test_a_new_optional_field_is_a_minor_version_and_records_name_their_version(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    code = "minzheng.marriage_registration"
    key, data = some_record(exchange, code)
    with_phone = {**data, "contact_phone": "0376-6221234"}
    before = publish(exchange, client, auth, code, [with_phone])
    assert before["accepted"] == 0
    assert len(before["quarantined"]) == 1

    definition = current(exchange, code)
    definition["schema"]["properties"]["contact_phone"] = {
        "type": "string",
        "maxLength": 32,
        "title": "联系电话",
    }
    r = put(client, auth, definition)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "code": code,
        "version": "1.1",
        "previous": "1.0",
        "changed": True,
        "changes": ["new optional field contact_phone"],
    }
    assert exchange.catalog.resource(code).version == "1.1"

    after = publish(exchange, client, auth, code, [with_phone])
    assert after["accepted"] == 1, after
    answer = read(client, auth, "minzheng", code, key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["schema_version"] == "1.1"
    assert answer.json()["data"]["contact_phone"] == "0376-6221234"
    other, _ = some_record(exchange, code, offset=1)
    assert read(client, auth, "minzheng", code, other).json()["schema_version"] == "1.0"

    operator = exchange.registry.by_code(OPERATOR).uscc
    actor, outcome, target, _, detail = catalog_entries(exchange, "catalog.update")[-1]
    assert (actor, outcome, target) == (operator, "ok", code)
    assert json.loads(detail)["version"] == "1.1"


def test_an_identical_update_makes_no_version(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    code = "renshe.social_security_registration"
    r = put(client, auth, current(exchange, code))
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["changed"]) == ("1.0", False)
    assert [d.version for d in exchange.catalog.versions(code)] == ["1.0"]


def _drop(d: dict[str, Any], name: str) -> None:
    del d["schema"]["properties"][name]
    d["schema"]["required"] = [f for f in d["schema"]["required"] if f != name]


def _retype(d: dict[str, Any], name: str) -> None:
    d["schema"]["properties"][name] = {"type": "integer", "title": "注册资本"}


def _new_required(d: dict[str, Any], name: str) -> None:
    d["schema"]["properties"][name] = {"type": "string", "maxLength": 32, "title": "联系电话"}
    d["schema"]["required"].append(name)


def _now_required(d: dict[str, Any], name: str) -> None:
    d["schema"]["required"].append(name)


def _key(d: dict[str, Any], name: str) -> None:
    d["key_field"] = name


def _subjects(d: dict[str, Any], name: str) -> None:
    d["schema"]["properties"][name] = {
        "type": "string",
        "format": "cn-id",
        "title": "法定代表人身份号码",
    }
    d["subject_fields"] = [*d["subject_fields"], name]


def _narrow(d: dict[str, Any], name: str) -> None:
    d["schema"]["properties"][name]["enum"].remove("moved_out")


INCOMPATIBLE = [
    ("removed field", _drop, "business_scope"),
    ("retyped field", _retype, "registered_capital"),
    ("new required field", _new_required, "contact_phone"),
    ("optional field made required", _now_required, "business_term_until"),
    ("changed key field", _key, "name"),
    ("changed subject fields", _subjects, "legal_representative_id_number"),
    ("narrowed enum", _narrow, "status"),
]


@pytest.mark.parametrize(
    ("change", "edit", "field"), INCOMPATIBLE, ids=[c[0] for c in INCOMPATIBLE]
)
def test_each_incompatible_change_is_refused_naming_the_field(
    exchange: Exchange,
    client: TestClient,
    auth: Auth,
    change: str,
    edit: Callable[[dict[str, Any], str], None],
    field: str,
) -> None:
    code = "shichang.business_licence"
    definition = current(exchange, code)
    edit(definition, field)
    r = put(client, auth, definition)
    assert r.status_code == 409, (change, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "exchange.incompatible_schema"
    assert field in problem["detail"], problem["detail"]
    assert any(field in p for p in problem["problems"])
    assert exchange.catalog.resource(code).version == "1.0"
    _, outcome, target, error, _ = catalog_entries(exchange, "catalog.update")[-1]
    assert (outcome, target, error) == ("refused", code, "exchange.incompatible_schema")


def test_widened_rules_and_fewer_required_fields_are_compatible() -> None:
    old = load_resources()["shichang.business_licence"]
    new = copy.deepcopy(old.model_dump(mode="json", by_alias=True))
    props = new["schema"]["properties"]
    props["status"]["enum"].append("suspended")
    props["address"]["maxLength"] = 512
    new["schema"]["required"].remove("address")
    new["sensitive_fields"] = ["address"]
    assert compatibility_problems(old, ResourceDefinition.model_validate(new)) == []


def test_every_packaged_resource_fits_the_meta_schema() -> None:
    for definition in load_resources().values():
        check_definition(definition)


def test_a_list_field_needs_typed_items() -> None:
    definition = load_resources()["budongchan.property_title"].model_dump(by_alias=True)
    definition["schema"]["properties"]["owner_names"]["items"] = [{"type": "string"}]
    with pytest.raises(InvalidRequest, match="owner_names"):
        parse_definition(definition)


def test_schema_versions_parse_and_step() -> None:
    assert str(SchemaVersion.parse("1.9").next(major=False)) == "1.10"
    assert str(SchemaVersion.parse("1.9").next(major=True)) == "2.0"
    assert SchemaVersion.parse("1.10") > SchemaVersion.parse("1.9")
    with pytest.raises(ValueError, match=r"major\.minor"):
        SchemaVersion.parse("v2")


# -- a new major version ------------------------------------------------
def test_major_starts_2_0_old_records_read_as_1x_and_grants_name_fields_of_the_version(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    code = "gongan.resident_id_card"
    old_key, old_data = some_record(exchange, code)
    new_key, new_data = some_record(exchange, code, offset=1)
    definition = current(exchange, code)
    _drop(definition, "address")
    definition["sensitive_fields"] = ["id_number"]

    refused = put(client, auth, definition)
    assert refused.status_code == 409
    assert "field address was removed" in refused.json()["detail"]
    r = put(client, auth, definition, major=True)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["previous"]) == ("2.0", "1.0")

    # a record published now is validated against 2.0 (no address)
    without = {k: v for k, v in new_data.items() if k != "address"}
    assert publish(exchange, client, auth, code, [without])["accepted"] == 1
    assert publish(exchange, client, auth, code, [new_data])["accepted"] == 0

    old = read(client, auth, "gongan", code, old_key)
    assert old.status_code == 200, old.text
    assert old.json()["schema_version"] == "1.0"
    assert old.json()["data"]["address"] == old_data["address"]  # answered as stored
    new = read(client, auth, "gongan", code, new_key)
    assert new.json()["schema_version"] == "2.0"
    assert "address" not in new.json()["data"]
    assert read(client, auth, "gongan", code, old_key, version=1).json()["schema_version"] == "1.0"
    missing = read(client, auth, "gongan", code, old_key, version=3)
    assert missing.status_code == 404
    assert "no version 3" in missing.json()["detail"]
    by_subject = client.get(
        f"/v1/resources/{code}/records",
        params={"purpose": PURPOSE, "case": "CASE-V1", "subject": old_key},
        headers=auth("gongan"),
    )
    assert [r["schema_version"] for r in by_subject.json()["data"]] == ["1.0"]

    # grants name fields that exist in the version read (default: the latest)
    grant = {
        "resource": code,
        "fields": ["name", "address"],
        "purposes": [PURPOSE],
        "reason": "versions",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    refused = client.post("/v1/grants", headers=auth("budongchan"), json=grant)
    assert refused.status_code == 422, refused.text
    assert "address" in refused.json()["detail"]
    assert "2.0" in refused.json()["detail"]
    granted = client.post("/v1/grants", headers=auth("budongchan"), json={**grant, "version": 1})
    assert granted.status_code == 201, granted.text
    decided = client.post(
        f"/v1/grants/{granted.json()['id']}/decision",
        headers=auth("gongan"),
        json={"approve": True, "reason": "ok"},
    )
    assert decided.status_code == 200, decided.text
    seen = read(client, auth, "budongchan", code, old_key, purpose=PURPOSE)
    assert seen.status_code == 200, seen.text
    assert seen.json()["data"]["address"] == old_data["address"]
    assert seen.json()["schema_version"] == "1.0"
    assert [v.version for v in exchange.catalog.versions(code)] == ["1.0", "2.0"]
    entry = client.get(f"/v1/resources/{code}", headers=auth("budongchan")).json()
    assert entry["version"] == "2.0"
    schema_1 = client.get(f"/v1/resources/{code}/schema?version=1", headers=auth("budongchan"))
    assert "address" in schema_1.json()["properties"]
    assert (
        "address"
        not in client.get(f"/v1/resources/{code}/schema", headers=auth("budongchan")).json()[
            "properties"
        ]
    )


# -- adding resources ------------------------------------------------
def new_resource(code: str = "gongan.vehicle_permit", owner: str = "gongan") -> dict[str, Any]:
    return {
        "code": code,
        "catalog_no": "411500-GA-00099",
        "name": "机动车通行证信息",
        "name_en": "Vehicle permit",
        "owner": owner,
        "sharing_type": "unconditional",
        "key_field": "permit_no",
        "subject_fields": ["holder_id_number"],
        "sensitive_fields": ["holder_id_number"],
        "update_cycle": "daily",
        "description": "测试用资源.",
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "required": ["permit_no", "holder_id_number"],
            "properties": {
                "permit_no": {"type": "string", "pattern": "^P[0-9]{6}$", "title": "通行证号"},
                "holder_id_number": {
                    "type": "string",
                    "format": "cn-id",
                    "title": "持证人身份号码",
                },
            },
        },
    }


def test_the_operator_adds_a_resource_its_owner_publishes_to_it(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    definition = new_resource()
    r = client.post("/v1/admin/catalog", headers=auth(OPERATOR), json=definition)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["previous"]) == ("1.0", None)
    assert (
        client.get(f"/v1/resources/{definition['code']}", headers=auth("shichang")).status_code
        == 200
    )
    _, someone = some_record(exchange, "gongan.resident_id_card", offset=5)
    row = {"permit_no": "P000001", "holder_id_number": someone["id_number"]}
    assert publish(exchange, client, auth, definition["code"], [row])["accepted"] == 1
    listed = client.get("/v1/admin/catalog", headers=auth(OPERATOR)).json()["data"]
    entry = next(e for e in listed if e["code"] == definition["code"])
    assert [v["version"] for v in entry["versions"]] == ["1.0"]
    assert entry["versions"][0]["created_by"] == exchange.registry.by_code(OPERATOR).uscc
    again = client.post("/v1/admin/catalog", headers=auth(OPERATOR), json=definition)
    assert again.status_code == 409, again.text


def _not_required_key(d: dict[str, Any]) -> None:
    d["schema"]["required"] = ["holder_id_number"]


def _untitled(d: dict[str, Any]) -> None:
    del d["schema"]["properties"]["permit_no"]["title"]


def _subject_not_identifier(d: dict[str, Any]) -> None:
    d["subject_fields"] = ["permit_no"]


def _open_schema(d: dict[str, Any]) -> None:
    d["schema"]["additionalProperties"] = True


def _missing_name(d: dict[str, Any]) -> None:
    del d["name"]


BAD_DEFINITIONS = [
    ("key field not required", _not_required_key, 422, "permit_no"),
    ("field without title", _untitled, 422, "permit_no"),
    ("subject not an identifier", _subject_not_identifier, 422, "permit_no"),
    ("schema open to other fields", _open_schema, 422, "additionalProperties"),
    ("no name", _missing_name, 422, "name"),
]


@pytest.mark.parametrize(
    ("case", "edit", "status", "named"), BAD_DEFINITIONS, ids=[b[0] for b in BAD_DEFINITIONS]
)
def test_a_definition_outside_the_meta_schema_is_a_422_naming_the_problem(
    client: TestClient,
    auth: Auth,
    case: str,
    edit: Callable[[dict[str, Any]], None],
    status: int,
    named: str,
) -> None:
    definition = new_resource("gongan.bad_permit")
    edit(definition)
    r = client.post("/v1/admin/catalog", headers=auth(OPERATOR), json=definition)
    assert r.status_code == status, (case, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert named in json.dumps(r.json(), ensure_ascii=False), r.text


def test_an_unknown_owner_department_is_refused_and_audited(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    r = client.post(
        "/v1/admin/catalog",
        headers=auth(OPERATOR),
        json=new_resource("jiaotong.vehicle_permit", owner="jiaotong"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "exchange.unknown_department"
    assert "jiaotong" in r.json()["detail"]
    actor, outcome, target, code, _ = catalog_entries(exchange, "catalog.add")[-1]
    assert (actor, outcome, target, code) == (
        exchange.registry.by_code(OPERATOR).uscc,
        "refused",
        "jiaotong.vehicle_permit",
        "exchange.unknown_department",
    )


def test_only_the_operator_manages_the_catalog(client: TestClient, auth: Auth) -> None:
    for method, path, body in [
        ("GET", "/v1/admin/catalog", None),
        ("POST", "/v1/admin/catalog", new_resource("gongan.other_permit")),
        ("PUT", "/v1/admin/catalog/gongan.other_permit", new_resource("gongan.other_permit")),
    ]:
        r = client.request(method, path, headers=auth("gongan"), json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "exchange.role_forbidden"


def test_an_update_whose_code_differs_from_the_path_is_refused(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    definition = current(exchange, "weijian.birth_medical_certificate")
    r = client.put(
        "/v1/admin/catalog/yibao.medical_insurance", headers=auth(OPERATOR), json=definition
    )
    assert r.status_code == 422, r.text


# -- the migration ------------------------------------------------
def test_migration_12_starts_the_resources_already_in_the_catalog_at_1_0(tmp_path: Path) -> None:
    definition = load_resources()["gongan.resident_id_card"]
    with duckdb.connect(str(tmp_path / DB_FILE)) as db:
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for version, description, sql in MIGRATIONS:
            if version < 12:
                db.execute(sql)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now())", [version, description]
                )
        stored = definition.model_dump_json(by_alias=True, exclude={"version"})
        db.execute("INSERT INTO resources VALUES (?, ?, ?)", [definition.code, "X", stored])
    with Store(tmp_path) as store:
        rows = store.fetchall("SELECT code, major, minor, definition FROM resource_versions")
    assert [(c, ma, mi) for c, ma, mi, _ in rows] == [(definition.code, 1, 0)]
    assert ResourceDefinition.model_validate_json(rows[0][3]).json_schema == definition.json_schema
