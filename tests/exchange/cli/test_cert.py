"""``govex cert …`` and ``govex trust export`` as a user runs them: real subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.certificates.qr import qr_text

VECTORS = Path(__file__).resolve().parents[3].parent / "shared" / "vectors"
W3C = VECTORS / "vc-di" / "ecdsa-jcs-2019-p256"
W3C_KEY = "zDnaepBuvsQ8cpsWrVKw8fbpGpvPeNSjVPTWoq6cRqaYzBKVP"

SUBJECT = {
    "holder_name": "赵浩然",
    "holder_code": "411503198012147596",
    "holder_code_type": "citizen_id",
    "sex": "1",
    "ethnicity": "01",
    "birth_date": "1980-12-14",
    "address": "信阳市平桥区新七大道70号",
    "issuing_authority": "信阳市公安局平桥分局",
}


def govex(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def _ours(stderr: str) -> list[str]:
    """stderr lines of govex itself: DuckDB's bindings may report leaks at interpreter exit."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if any(line.startswith("nanobind:") for line in lines):
        first = next(i for i, line in enumerate(lines) if line.startswith("nanobind:"))
        lines = lines[:first]
    return lines


def one_clear_line(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = _ours(result.stderr)
    assert len(lines) == 1, result.stderr
    assert says in lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cert-cli")
    assert govex("init", "--data", folder / "data", "--demo").returncode == 0
    (folder / "subject.json").write_text(json.dumps(SUBJECT, ensure_ascii=False), "utf-8")
    return folder


@pytest.fixture(scope="module")
def issued(work: Path) -> Path:
    out = work / "cert.json"
    r = govex(
        "cert",
        "issue",
        "--data",
        work / "data",
        "--issuer",
        "gongan",
        "--type",
        "resident_id_card",
        "--subject",
        work / "subject.json",
        "--out",
        out,
        "--valid-until",
        "2046-12-31",
    )
    assert r.returncode == 0, r.stderr
    assert "issued 1.2.156.3005.2.100001." in r.stdout
    return out


def _export(work: Path) -> Path:
    out = work / "trust.json"
    r = govex("trust", "export", "--data", work / "data", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "seal certificates" in r.stdout
    return out


def test_issue_then_verify_offline_with_a_trust_bundle(work: Path, issued: Path) -> None:
    trust = _export(work)
    r = govex("cert", "verify", issued, "--trust", trust)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("valid: urn:govex:cert:1.2.156.3005.2.100001.")
    for check in ("proof", "issuer_chain", "validity_period", "status", "schema", "identifier"):
        assert f"✓ {check}" in r.stdout
    r = govex("cert", "verify", issued, "--trust", trust, "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["valid"] is True


def test_a_tampered_certificate_exits_1_with_one_line_per_failed_check(
    work: Path, issued: Path
) -> None:
    trust = _export(work)
    doc = json.loads(issued.read_text("utf-8"))
    doc["credentialSubject"]["address"] = "北京市"
    doc["id"] = doc["id"][:-1] + ("A" if doc["id"][-1] != "A" else "B")
    tampered = work / "tampered.json"
    tampered.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    r = govex("cert", "verify", tampered, "--trust", trust)
    assert r.returncode == 1
    lines = _ours(r.stderr)
    assert lines[0].startswith("refused:")
    assert [line.split(":")[0] for line in lines[1:]] == ["proof", "identifier", "register"]
    r = govex("cert", "verify", tampered, "--trust", trust, "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["valid"] is False


def test_the_w3c_vector_verifies_with_its_public_key() -> None:
    vector = W3C / "signedJCSECDSAP256.json"
    ok = govex("cert", "verify", vector, "--public-key", W3C_KEY)
    assert ok.returncode == 0, ok.stderr
    assert "no credentialStatus" in ok.stdout
    other = govex(
        "cert", "verify", vector, "--public-key", "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    )
    assert other.returncode == 1
    assert _ours(other.stderr)[-1].startswith("proof:")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _independent_eddsa_jcs_2022(
    document: dict[str, object], seed: bytes
) -> tuple[dict[str, object], str]:
    """Another implementation, from the spec alone: cryptography + rfc8785 + hashlib."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def b58(data: bytes) -> str:
        n, out = int.from_bytes(data, "big"), ""
        while n:
            n, r = divmod(n, 58)
            out = _B58[r] + out
        return "1" * (len(data) - len(data.lstrip(b"\0"))) + out

    multikey = "z" + b58(b"\xed\x01" + raw)
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2025-01-01T00:00:00Z",
        "verificationMethod": f"did:key:{multikey}#{multikey}",
        "proofPurpose": "assertionMethod",
        "@context": document["@context"],
    }
    data = hashlib.sha256(rfc8785.dumps(proof)).digest()
    data += hashlib.sha256(rfc8785.dumps(document)).digest()
    proof["proofValue"] = "z" + b58(key.sign(data))
    return {**document, "proof": proof}, multikey


def test_a_credential_from_another_eddsa_jcs_2022_implementation_verifies(work: Path) -> None:
    unsigned = json.loads((W3C / "unsigned.json").read_text("utf-8"))
    secured, multikey = _independent_eddsa_jcs_2022(unsigned, bytes(range(32)))
    path = work / "foreign.json"
    path.write_text(json.dumps(secured), "utf-8")
    r = govex("cert", "verify", path, "--public-key", multikey, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["valid"] is True
    secured["credentialSubject"]["alumniOf"] = "Another School"
    path.write_text(json.dumps(secured), "utf-8")
    assert govex("cert", "verify", path, "--public-key", multikey).returncode == 1


def test_qr_codes_carry_the_whole_credential(work: Path, issued: Path) -> None:
    doc = json.loads(issued.read_text("utf-8"))
    cid = doc["id"].removeprefix("urn:govex:cert:")
    for name in ("cert.png", "cert.svg"):
        r = govex("cert", "qr", cid, "--data", work / "data", "--out", work / name)
        assert r.returncode == 0, r.stderr
        assert (work / name).stat().st_size > 1000
    svg = (work / "cert.svg").read_text("utf-8")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:200]
    assert (work / "cert.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    trust = _export(work)
    r = govex("cert", "verify", "--qr-text", qr_text(doc), "--trust", trust)
    assert r.returncode == 0, r.stderr
    one_clear_line(govex("cert", "verify", "--qr-text", "HC1:XYZ", "--trust", trust), "GX1:")
    one_clear_line(
        govex("cert", "qr", cid, "--data", work / "data", "--out", work / "x.jpg"), ".png or .svg"
    )


def test_revoke_suspend_resume_and_a_refreshed_bundle(work: Path) -> None:
    out = work / "second.json"
    assert (
        govex(
            "cert",
            "issue",
            "--data",
            work / "data",
            "--issuer",
            "gongan",
            "--type",
            "resident_id_card",
            "--subject",
            work / "subject.json",
            "--out",
            out,
        ).returncode
        == 0
    )
    cid = json.loads(out.read_text("utf-8"))["id"].removeprefix("urn:govex:cert:")
    data = work / "data"
    r = govex("cert", "suspend", cid, "--data", data, "--reason", "挂失")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("suspended")
    assert govex("cert", "resume", cid, "--data", data, "--reason", "找回").returncode == 0
    old_trust = _export(work)
    old = work / "trust-before.json"
    old.write_bytes(old_trust.read_bytes())
    assert govex("cert", "revoke", cid, "--data", data, "--reason", "作废").returncode == 0
    assert govex("cert", "verify", out, "--trust", old).returncode == 0  # stale snapshot
    refused = govex("cert", "verify", out, "--trust", _export(work))
    assert refused.returncode == 1
    assert "status: revoked" in refused.stderr
    one_clear_line(govex("cert", "resume", cid, "--data", data, "--reason", "x"), "revoked")


def test_issue_bulk_reports_refused_lines_and_exits_1(work: Path) -> None:
    rows = [
        "holder_name,holder_code,holder_code_type,sex,ethnicity,birth_date,address,issuing_authority",
        "赵浩然,411503198012147596,citizen_id,1,01,1980-12-14,信阳市新七大道70号,信阳市公安局",
        "蔡芳,411503198704044504,citizen_id,X,01,1987-04-04,信阳市新七大道70号,信阳市公安局",
        "王伟,411503198012147596,citizen_id,1,01,1980-12-14,信阳市,信阳市公安局",
        "只有三列,411503198012147596,citizen_id",
        "",
        "李娜,411503198704044504,citizen_id,2,01,1987-04-04,信阳市南京路1号,信阳市公安局",
    ]
    csv_path = work / "bulk.csv"
    csv_path.write_text("\n".join(rows) + "\n", "utf-8")
    r = govex(
        "cert",
        "issue-bulk",
        "--data",
        work / "data",
        "--issuer",
        "gongan",
        "--type",
        "resident_id_card",
        "--csv",
        csv_path,
    )
    assert r.returncode == 1, r.stderr
    assert "issued 3, refused 2" in r.stdout
    assert "line 3:" in r.stdout
    assert "sex" in r.stdout
    assert "line 5: 3 cells, header has 8" in r.stdout
    good = work / "good.csv"
    good.write_text("\n".join([rows[0], rows[1]]) + "\n", "utf-8")
    r = govex(
        "cert",
        "issue-bulk",
        "--data",
        work / "data",
        "--issuer",
        "gongan",
        "--type",
        "resident_id_card",
        "--csv",
        good,
    )
    assert r.returncode == 0, r.stderr
    assert "issued 1, refused 0" in r.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["cert", "verify", "{tmp}/cert.json"], "--trust"),
        (["cert", "verify", "{tmp}/missing.json", "--public-key", W3C_KEY], "cannot read"),
        (["cert", "verify", "{tmp}/cert.json", "--public-key", "zNotAKey"], "Multikey"),
        (
            [
                "cert",
                "issue",
                "--data",
                "{tmp}/data",
                "--issuer",
                "minzheng",
                "--type",
                "resident_id_card",
                "--subject",
                "{tmp}/subject.json",
                "--out",
                "{tmp}/x.json",
            ],
            "not competent",
        ),
        (
            [
                "cert",
                "issue",
                "--data",
                "{tmp}/data",
                "--issuer",
                "gongan",
                "--type",
                "fishing_licence",
                "--subject",
                "{tmp}/subject.json",
                "--out",
                "{tmp}/x.json",
            ],
            "unknown certificate type",
        ),
        (
            [
                "cert",
                "revoke",
                "1.2.156.3005.2.100001.X.1.001.A",
                "--data",
                "{tmp}/data",
                "--reason",
                "x",
            ],
            "certificate id",
        ),
        (["trust", "export", "--data", "{tmp}/missing", "--out", "{tmp}/t.json"], "govex init"),
    ],
)
def test_bad_input_gets_one_clear_line(
    work: Path, issued: Path, args: list[str], says: str
) -> None:
    one_clear_line(govex(*[a.replace("{tmp}", str(work)) for a in args]), says)
