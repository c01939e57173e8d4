"""W3C VC interop: other people's verifiers judge credentials a live exchange issued.

``tests/interop/vc/check.mjs`` runs, on each credential, three independent implementations
(npm, pinned in ``scripts/vc-interop.sh``, installed by ``.ci/run``):

* jsonld.js expands it in **safe mode**; a term the VC 2.0 context leaves to its
  issuer-dependent ``@vocab`` counts as undefined;
* ajv validates it against the **credentialSchema** it names (VC JSON Schema, 2020-12);
* Digital Bazaar's ``@digitalbazaar/vc`` verifies its **Data Integrity proof**
  (``eddsa-jcs-2022``, ``Multikey``), the issuer being the controller of the method, with
  the status entries read from the exchange's Bitstring Status Lists.

Its document loader knows only the W3C contexts (their npm packages) and what is below the
issuer URL — the govex context, the schemas, the did:web documents, the status lists —
fetched from the live exchange. One credential of every type passes all three; each
check is shown to fail on a deliberately broken artefact (an undefined term, a schema that
does not fit, a DID document with the wrong key).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.certificates.did import document_url, method_kid
from exchange.client import ASSERTION_TYPE, make_client_assertion
from exchange.demo.setup import DemoDepartment
from schemas.certificates import certificate_type, load_certificate_types
from signing.keys import generate_key
from signing.multibase import encode_multikey
from tests.interop.conftest import LiveExchange
from tests.schemas.test_certificates import SUBJECTS

pytestmark = pytest.mark.slow  # node runs, one per credential
ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).with_name("vc") / "check.mjs"
RUN_S = 120


def _npm_home() -> Path:
    out = subprocess.run(["bash", str(ROOT / "scripts/vc-interop.sh"), "dir"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    home = Path(out.stdout.strip())
    if shutil.which("node") is None or not (home / "node_modules/@digitalbazaar/vc").is_dir():
        reason = "the JS verifiers are not installed: bash scripts/vc-interop.sh install"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return home


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """check.mjs beside a link to the installed packages (ES modules resolve from the file)."""
    home = _npm_home()
    folder = tmp_path_factory.mktemp("vc-check")
    (folder / "node_modules").symlink_to(home / "node_modules", target_is_directory=True)
    (folder / "package.json").write_text('{"type": "module"}\n')
    shutil.copy(CHECKER, folder / "check.mjs")
    return folder / "check.mjs"


Check = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def check(checker: Path, live_exchange: LiveExchange) -> Check:
    issuer = str(httpx.get(f"{live_exchange.url}/.well-known/govex").json()["issuer"])

    def run(credential: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = {"credential": credential, "issuer": issuer, "live": live_exchange.url,
                   "overrides": overrides or {}}  # fmt: skip
        done = subprocess.run(["node", str(checker)], input=json.dumps(payload),
                              capture_output=True, text=True, timeout=RUN_S)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return run


@pytest.fixture(scope="module")
def issued(live_exchange: LiveExchange) -> dict[str, dict[str, Any]]:
    """One credential of every type, issued over HTTP by its competent department."""
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=live_exchange.url, timeout=30.0) as http:
        for ctype in load_certificate_types().values():
            dept = DemoDepartment.load(live_exchange.data, ctype.department)
            assertion = make_client_assertion(dept.auth_key, dept.auth_kid, dept.uscc,
                                              live_exchange.token_endpoint)  # fmt: skip
            token = http.post("/v1/token", data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            }).json()["access_token"]  # fmt: skip
            r = http.post("/v1/certificates", json={"type": ctype.code,
                          "subject": SUBJECTS[ctype.code]},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert r.status_code in (200, 201), r.text
            out[ctype.code] = r.json()["credential"]
    return out


def test_every_credential_passes_jsonld_safe_mode_its_schema_and_the_js_verifier(
    issued: dict[str, dict[str, Any]], check: Check
) -> None:
    for code, credential in issued.items():
        result = check(credential)
        failed = {k: v["error"] for k, v in result.items() if k != "fetched" and not v["ok"]}
        assert failed == {}, code
        assert credential["@context"][1] in result["fetched"]
        assert credential["credentialSchema"]["id"] in result["fetched"]
        assert any(u.endswith("/did.json") for u in result["fetched"])
    print(f"VC interop: {len(issued)} types pass jsonld.js safe mode, ajv and @digitalbazaar/vc")


def _broken(how: str, credential: dict[str, Any], live: LiveExchange) -> dict[str, Any]:
    """The overrides that break one artefact the credential relies on."""

    def served(url: str) -> dict[str, Any]:
        path = "/" + url.split("/", 3)[3]
        body: dict[str, Any] = httpx.get(f"{live.url}{path}").json()
        return body

    if how in ("undefined term", "undefined type"):
        url = credential["@context"][1]
        context = copy.deepcopy(served(url))
        del context["@context"]["holder_name" if how == "undefined term" else credential["type"][1]]
        return {url: context}
    if how == "schema mismatch":
        # the schema of the subject alone, which the credential's URL used to describe
        url = credential["credentialSchema"]["id"]
        return {url: certificate_type("resident_id_card").json_schema}
    did, kid = method_kid(credential["proof"]["verificationMethod"])
    assert did is not None
    document = copy.deepcopy(served(document_url(did)))
    for method in document["verificationMethod"]:
        if method["id"].endswith(f"#{kid}"):
            method["publicKeyMultibase"] = encode_multikey(generate_key("Ed25519").public_key())
    return {did: document}


@pytest.mark.parametrize(
    ("how", "fails", "says"),
    [
        ("undefined term", "expand", "holder_name"),
        ("undefined type", "expand", "ResidentIdCardCredential"),
        ("schema mismatch", "schema", "must NOT have additional properties"),
        ("wrong DID key", "verify", "Invalid signature"),
    ],
)
def test_each_verifier_refuses_a_deliberately_broken_artefact(
    issued: dict[str, dict[str, Any]], check: Check, live_exchange: LiveExchange,
    how: str, fails: str, says: str,
) -> None:  # fmt: skip
    credential = issued["resident_id_card"]
    result = check(credential, _broken(how, credential, live_exchange))
    print(f"{how}: {fails} refuses: {result[fails].get('error', '')[:200]}")
    assert not result[fails]["ok"]
    assert says in result[fails]["error"]
    others = {k for k in ("expand", "schema", "verify") if k != fails and not result[k]["ok"]}
    assert others == set()
