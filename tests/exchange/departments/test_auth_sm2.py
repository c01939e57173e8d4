"""An SM2 exchange: a department made with ``keys new --crypto sm2`` is added from its public
files (SM2 PKCS#10 requests), signs GOVEX-SM2-SM3 client assertions, and gets GOVEX-SM2-SM3
access tokens; an Ed25519 department works beside it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.client import ASSERTION_TYPE, make_client_assertion
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.departments.keyfolder import new_key_folder
from exchange.service import Exchange
from signing.ca import certificate_public_key
from signing.gm.sm2 import SM2PublicKey
from signing.keys import kid_of, load_private_key

USCC = "11411500000005004H"
PASS = b"a department passphrase"


@pytest.fixture
def sm2(tmp_path: Path) -> Iterator[Exchange]:
    ex = create_demo(Settings(data=tmp_path / "data"), crypto="sm2")
    yield ex
    ex.close()


def _alg(token: str) -> str:
    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"])


def _token(api: TestClient, assertion: str) -> str:
    r = api.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_an_sm2_department_is_added_from_its_files_and_gets_sm2_tokens(
    sm2: Exchange, tmp_path: Path
) -> None:
    assert sm2.identity.crypto == "sm2"
    folder = tmp_path / "keys"
    new_key_folder(folder, USCC, "sm2", PASS)
    with TestClient(create_app(sm2), raise_server_exceptions=False) as api:
        operator = DemoDepartment.load(sm2, "dashuju")
        op_token = _token(api, operator.assertion(sm2.tokens.token_endpoint))
        assert _alg(op_token) == "GOVEX-SM2-SM3"
        body = {
            "uscc": USCC,
            "code": "jiaoyu",
            "name": "信阳市教育局",
            "region": "411500",
            "roles": ["department"],
            "auth_public_key": (folder / "auth.pub.pem").read_text(),
            "seal_csr": (folder / "seal.csr.pem").read_text(),
            "cert_csr": (folder / "cert.csr.pem").read_text(),
        }
        bearer = {"Authorization": f"Bearer {op_token}"}
        r = api.post("/v1/admin/departments", headers=bearer, json=body)
        assert r.status_code == 201, r.text
        for key in sm2.registry.keys(USCC):
            assert key.alg == "SM2"
            if key.certificate is not None:
                assert isinstance(certificate_public_key(key.certificate), SM2PublicKey)
        auth = load_private_key(folder / "auth.pem", PASS)
        assertion = make_client_assertion(
            auth, kid_of(auth.public_key()), USCC, sm2.tokens.token_endpoint
        )
        assert _alg(assertion) == "GOVEX-SM2-SM3"
        token = _token(api, assertion)
        me = api.get("/v1/departments/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["code"] == "jiaoyu"
        head, body_b64, sig = token.split(".")
        forged = f"{head}.{body_b64}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
        refused = api.get("/v1/departments/me", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401


def test_an_ed25519_department_signs_in_to_an_sm2_exchange(sm2: Exchange, tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    new_key_folder(folder, USCC, "ed25519", PASS)
    with TestClient(create_app(sm2), raise_server_exceptions=False) as api:
        operator = DemoDepartment.load(sm2, "dashuju")
        bearer = {
            "Authorization": f"Bearer {_token(api, operator.assertion(sm2.tokens.token_endpoint))}"
        }
        body = {
            "uscc": USCC,
            "code": "jiaoyu",
            "name": "信阳市教育局",
            "region": "411500",
            "roles": ["department"],
            "auth_public_key": (folder / "auth.pub.pem").read_text(),
            "seal_csr": (folder / "seal.csr.pem").read_text(),
            "cert_csr": (folder / "cert.csr.pem").read_text(),
        }
        assert api.post("/v1/admin/departments", headers=bearer, json=body).status_code == 201
        auth = load_private_key(folder / "auth.pem", PASS)
        assertion = make_client_assertion(
            auth, kid_of(auth.public_key()), USCC, sm2.tokens.token_endpoint
        )
        assert _alg(assertion) == "EdDSA"
        assert _alg(_token(api, assertion)) == "GOVEX-SM2-SM3"
