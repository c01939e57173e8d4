"""The demo city: its departments, their keys, and their registers published to the exchange.

``govex init --demo`` calls :func:`create_demo`. Each demo department gets three keys,
one per purpose (``<code>.auth.pem``, ``<code>.seal.pem``, ``<code>.cert.pem``), kept in
``DATA/demo-keys/`` (encrypted with the documented demo passphrase) so the CLI and the
tests can act as any department; a real department makes and keeps its keys itself
(``govex keys new``). A demo directory made before keys had purposes has no
``<code>.cert.pem``: its seal key is also its cert key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from exchange.bus.models import BatchIn, IngestResult
from exchange.client import make_client_assertion
from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.city import City, generate_city
from exchange.keyring import default_identity
from exchange.service import Exchange
from schemas.catalog import Department, Role
from schemas.identifiers import make_uscc
from signing.algorithms import PrivateKey
from signing.keys import generate_key, kid_of, load_private_key, save_private_key
from signing.purposes import PURPOSES
from signing.seal import seal_batch

__all__ = ["DEMO_DEPARTMENTS", "DemoDepartment", "create_demo", "demo_departments", "publish_city"]

REGION = "411500"
D, A, AU, OP = Role.DEPARTMENT, Role.APPROVER, Role.AUDITOR, Role.OPERATOR

# code, name, roles — the seeds' city: 信阳市
DEMO_DEPARTMENTS: list[tuple[str, str, list[Role]]] = [
    ("dashuju", "信阳市大数据管理局", [OP]),
    ("gongan", "信阳市公安局", [D]),
    ("minzheng", "信阳市民政局", [D]),
    ("shuiwu", "国家税务总局信阳市税务局", [D]),
    ("zhujian", "信阳市住房和城乡建设局", [D]),
    ("budongchan", "信阳市不动产登记中心", [D, A]),
    ("shichang", "信阳市市场监督管理局", [D, A]),
    ("weijian", "信阳市卫生健康委员会", [D, A]),
    ("renshe", "信阳市人力资源和社会保障局", [D]),
    ("yibao", "信阳市医疗保障局", [D]),
    ("shenji", "信阳市审计局", [AU]),
]


def demo_departments() -> list[Department]:
    return [
        Department(
            uscc=make_uscc("1", "1", REGION, 100 + i),
            code=code,
            name=name,
            region=REGION,
            roles=roles,
        )
        for i, (code, name, roles) in enumerate(DEMO_DEPARTMENTS)
    ]


@dataclass
class DemoDepartment:
    """A demo department acting with its own keys (as its connector would)."""

    department: Department
    auth_key: PrivateKey
    seal_key: PrivateKey
    cert_key: PrivateKey

    @property
    def uscc(self) -> str:
        return self.department.uscc

    @property
    def seal_kid(self) -> str:
        return kid_of(self.seal_key.public_key())

    @property
    def auth_kid(self) -> str:
        return kid_of(self.auth_key.public_key())

    @property
    def cert_kid(self) -> str:
        return kid_of(self.cert_key.public_key())

    @classmethod
    def load(cls, exchange_or_data: Exchange | Path, code: str) -> DemoDepartment:
        if isinstance(exchange_or_data, Exchange):
            data = Path(exchange_or_data.settings.data)
            dept = exchange_or_data.registry.by_code(code)
        else:
            data = Path(exchange_or_data)
            dept = next(d for d in demo_departments() if d.code == code)
        folder = data / "demo-keys"
        pw = DEMO_PASSPHRASE.encode()
        seal = load_private_key(folder / f"{code}.seal.pem", pw)
        cert_file = folder / f"{code}.cert.pem"
        return cls(
            dept,
            load_private_key(folder / f"{code}.auth.pem", pw),
            seal,
            load_private_key(cert_file, pw) if cert_file.exists() else seal,
        )

    def assertion(self, audience: str, *, act: str | None = None) -> str:
        return make_client_assertion(self.auth_key, self.auth_kid, self.uscc, audience, act=act)

    def seal(
        self, resource: str, rows: Sequence[dict[str, Any]], key_field: str, version: int = 1
    ) -> BatchIn:
        records = [
            {"resource": resource, "key": str(r[key_field]), "version": version, "data": r}
            for r in rows
        ]
        sealed = seal_batch(
            records, resource=resource, issuer=self.uscc, key=self.seal_key, kid=self.seal_kid
        )
        return BatchIn.model_validate(
            {
                "resource": resource,
                "records": [{k: v for k, v in r.items() if k != "resource"} for r in records],
                "seal": sealed.seal.model_dump(),
            }
        )


def create_demo(
    settings: Settings, *, issuer: str | None = None, crypto: str = "ed25519"
) -> Exchange:
    """A fresh demo exchange: departments with keys, the catalog (no records yet);
    ``issuer`` (already validated) replaces the demo's ``.example`` issuer URL; ``crypto``
    names the suite of the exchange's and the departments' keys (``ed25519``, ``sm2``)."""
    departments = demo_departments()
    operator = departments[0]
    identity = default_identity(
        "信阳市政务数据共享交换平台", REGION, operator.uscc, demo=True, crypto=crypto
    )
    if issuer is not None:
        origin = f"{issuer.removeprefix('https://')}/audit"
        identity = replace(identity, issuer=issuer, origin=origin)
    exchange = Exchange.init(settings, identity, departments)
    folder = Path(settings.data) / "demo-keys"
    folder.mkdir(parents=True, exist_ok=True)
    pw = DEMO_PASSPHRASE.encode()
    for dept in departments:
        for purpose in PURPOSES:
            key = generate_key(identity.suite.algorithm)
            save_private_key(key, folder / f"{dept.code}.{purpose}.pem", pw)
            exchange.registry.add_key(dept.uscc, purpose, key.public_key())
    return exchange


# resource code → (department code, register function of the city)
REGISTERS: dict[str, Callable[[City], list[dict[str, Any]]]] = {
    "gongan.resident_id_card": City.resident_id_cards,
    "gongan.household_register": City.household_register,
    "minzheng.marriage_registration": City.marriages,
    "shichang.business_licence": City.business_licences,
    "zhujian.sales_contract_filing": City.sales_contracts,
    "shuiwu.house_sale_invoice": City.invoices,
    "shuiwu.deed_tax_payment": City.deed_taxes,
    "shuiwu.tax_audit_case": City.tax_audit_cases,
    "budongchan.property_title": City.titles,
}


def publish_city(
    exchange: Exchange,
    city: City | None = None,
    progress: Callable[[str, IngestResult], None] | None = None,
    *,
    connectors: Callable[[Exchange], Mapping[str, IngestResult]] | None = None,
) -> dict[str, IngestResult]:
    """Every department seals and publishes its register of the synthetic city.

    ``connectors`` (given by the CLI: the sample connectors of ``exchange/demo/samples``)
    publishes some registers from department exports instead, through the embedded bus.
    """
    city = city or generate_city()
    results: dict[str, IngestResult] = dict(connectors(exchange)) if connectors else {}
    for resource, register in REGISTERS.items():
        if resource in results:
            if progress is not None:
                progress(resource, results[resource])
            continue
        definition = exchange.catalog.resource(resource)
        dept = DemoDepartment.load(exchange, definition.owner)
        batch = dept.seal(resource, register(city), definition.key_field)
        result = exchange.ingestor.ingest(batch, dept.uscc, source="demo")
        results[resource] = result
        if progress is not None:
            progress(resource, result)
    return results
