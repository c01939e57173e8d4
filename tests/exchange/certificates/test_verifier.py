"""RELIABILITY C1: every tampered certificate is refused; harmless re-encodings still verify.

The corpus starts from a real certificate the exchange issued (a 商品房买卖合同备案证明
with list fields, a validity end and both status entries) and derives from it:

* every node edited, removed, replaced by a value of another JSON type; a member
  added to every object and an item to every list;
* the credential type swapped for every other certificate type;
* duplicate keys in the JSON text, at the top and inside nested objects;
* every bit of the signature flipped;
* the issuer swapped: another department's name, another department re-sealing it
  (as itself, with or without a fresh identifier, or claiming the original issuer);
* a seal certificate that had expired (or was not yet valid) when the proof was made,
  a revoked seal key, and a revoked certificate.

Benign re-encodings — key order, whitespace, ``\\u`` escapes, escaped ``/`` — must
all still verify. The test prints ``C1 tampered accepted 0/k, benign accepted m/m``.

Every test here runs on an exchange of each cryptographic suite (``ed25519``, and ``sm2``:
SM2 seal keys and root, ``govex-sm2-jcs-2025`` proofs, SM3 issued-certificate digests).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from exchange.certificates.bundle import TrustBundle
from exchange.certificates.credential_schema import credential_schema
from exchange.certificates.models import CertificatePublic, StatusAction, StatusChange
from exchange.certificates.trust import KeyRevocation
from exchange.certificates.verifier import Verifier
from exchange.certificates.vocabulary import (
    CERT_URN_PREFIX,
    credential_digest,
    credential_type_name,
    key_urn,
    uscc_urn,
)
from exchange.config import Settings
from exchange.demo.case import certificate_requests
from exchange.demo.city import City
from exchange.demo.setup import DemoDepartment, create_demo, publish_city
from exchange.service import Exchange
from schemas.certificates import certificate_type, load_certificate_types
from signing.multibase import decode_base58btc, encode_base58btc
from signing.proofs import add_proof

Path_ = tuple[str | int, ...]
PROOF_SUITES = {"ed25519": "eddsa-jcs-2022", "sm2": "govex-sm2-jcs-2025"}


@pytest.fixture(scope="module", params=["ed25519", "sm2"])
def exchange(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, city: City
) -> Iterator[Exchange]:
    data: Path = tmp_path_factory.mktemp(f"exchange-{request.param}") / "data"
    ex = create_demo(Settings(data=data), crypto=request.param)
    publish_city(ex, city)
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def filing(exchange: Exchange, city: City) -> CertificatePublic:
    code, request = next(
        (c, r)
        for c, r in certificate_requests(city.flats[3])
        if r.type == "sales_contract_filing_certificate"
    )
    request = request.model_copy(update={"valid_until": datetime.now(UTC).date() + timedelta(3650)})
    return exchange.certificates.issue(exchange.registry.by_code(code).uscc, request)


@pytest.fixture(scope="module")
def bundle(exchange: Exchange, filing: CertificatePublic) -> TrustBundle:
    return TrustBundle.from_json(json.dumps(exchange.certificates.trust_bundle().to_json()))


def _nodes(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))


def _copy(doc: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(doc))
    return copied


def _at(doc: Any, path: Path_) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _parent(doc: Any, path: Path_) -> Any:
    return _at(doc, path[:-1])


def _edited(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    if isinstance(value, list):
        return [*value, value[0] if value else "x"]
    if value is None:
        return "null"
    return {**value, "x": 1}


_OTHER_TYPES: list[Any] = [None, 0, "0", True, [], {}]


def structural_mutations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node edited, removed and retyped; a member/item added to every container."""
    for path, value in list(_nodes(doc)):
        where = "/".join(map(str, path)) or "$"
        if isinstance(value, dict):
            added = _copy(doc)
            _at(added, path)["extra"] = "x"
            yield f"add member to {where}", added
        if isinstance(value, list):
            grown = _copy(doc)
            _at(grown, path).append("x")
            yield f"add item to {where}", grown
        if not path:
            continue
        edited = _copy(doc)
        _parent(edited, path)[path[-1]] = _edited(value)
        yield f"edit {where}", edited
        removed = _copy(doc)
        parent = _parent(removed, path)
        del parent[path[-1]]
        yield f"remove {where}", removed
        for other in _OTHER_TYPES:
            if type(other) is type(value):
                continue
            retyped = _copy(doc)
            _parent(retyped, path)[path[-1]] = other
            yield f"retype {where} to {type(other).__name__}", retyped


def type_swaps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for ctype in load_certificate_types().values():
        name = credential_type_name(ctype)
        if name != doc["type"][1]:
            swapped = _copy(doc)
            swapped["type"] = ["VerifiableCredential", name]
            yield f"type {name}", swapped
    for types in (["VerifiableCredential"], [doc["type"][1]], [doc["type"][1], doc["type"][0]]):
        swapped = _copy(doc)
        swapped["type"] = types
        yield f"type {types}", swapped


def duplicate_key_texts(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    text = json.dumps(doc, ensure_ascii=False)
    for key in doc:
        yield f"duplicate top-level {key}", text.replace("{", f'{{"{key}": "dup", ', 1)
    subject = json.dumps(doc["credentialSubject"], ensure_ascii=False)
    for key in ("holder_name", "holder_code", "total_price"):
        nested = text.replace(subject, subject.replace("{", f'{{"{key}": "dup", ', 1), 1)
        yield f"duplicate credentialSubject.{key}", nested
    proof = json.dumps(doc["proof"], ensure_ascii=False)
    value = doc["proof"]["proofValue"]
    for key, dup in (("proofValue", value), ("verificationMethod", "urn:govex:key:x")):
        nested = text.replace(proof, proof.replace("{", f'{{"{key}": "{dup}", ', 1), 1)
        yield f"duplicate proof.{key}", nested


def bit_flips(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    signature = decode_base58btc(doc["proof"]["proofValue"])
    for bit in range(len(signature) * 8):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        mutated = _copy(doc)
        mutated["proof"]["proofValue"] = encode_base58btc(bytes(flipped))
        yield f"signature bit {bit}", mutated


def _resealed(doc: dict[str, Any], key: Any, kid: str, created: datetime) -> dict[str, Any]:
    unsigned = {k: v for k, v in _copy(doc).items() if k != "proof"}
    return add_proof(unsigned, key, verification_method=key_urn(kid), created=created)


def issuer_swaps(exchange: Exchange, doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    now = datetime.now(UTC).replace(microsecond=0)
    for code in ("gongan", "shuiwu", "budongchan"):
        other = DemoDepartment.load(exchange, code)
        named = _copy(doc)
        named["issuer"] = {"id": uscc_urn(other.uscc), "name": other.department.name}
        yield f"issuer named {code}", named
        as_itself = _copy(named)
        as_itself["metadata"].update(issuer_uscc=other.uscc, issuer_name=other.department.name)
        yield f"{code} reseals as itself", _resealed(as_itself, other.cert_key, other.cert_kid, now)
        fresh_id = _copy(as_itself)
        serial = doc["id"].split(".")[-3]
        ctype = load_certificate_types()["sales_contract_filing_certificate"]
        fresh_id["id"] = CERT_URN_PREFIX + ctype.make_id(other.uscc, serial)
        yield (
            f"{code} reseals with its own id",
            _resealed(fresh_id, other.cert_key, other.cert_kid, now),
        )
        yield f"{code} key, original issuer", _resealed(doc, other.cert_key, other.cert_kid, now)


def issuer_resigns(exchange: Exchange, doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """J3: the issuing department's own key re-signs a changed document (a stolen or misused
    key, after the certificate was revoked): dropped status, changed fields, or both."""
    now = datetime.now(UTC).replace(microsecond=0)
    own = DemoDepartment.load(exchange, "zhujian")
    dropped = _copy(doc)
    del dropped["credentialStatus"]
    changed = _copy(dropped)
    changed["credentialSubject"]["total_price"] = "1.00"
    kept = _copy(doc)
    kept["credentialSubject"]["total_price"] = "1.00"
    only_suspension = _copy(doc)
    only_suspension["credentialStatus"] = only_suspension["credentialStatus"][1:]
    for name, variant in (
        ("dropped credentialStatus", dropped),
        ("dropped credentialStatus and changed a field", changed),
        ("changed a field, status kept", kept),
        ("dropped the revocation entry", only_suspension),
    ):
        yield (
            f"{name}, re-signed by the issuer's own key",
            _resealed(variant, own.cert_key, own.cert_kid, now),
        )


def test_c1_tampered_certificates_are_refused_and_benign_re_encodings_verify(
    exchange: Exchange, filing: CertificatePublic, bundle: TrustBundle
) -> None:
    doc = filing.credential
    suite = exchange.identity.suite
    assert doc["proof"]["cryptosuite"] == PROOF_SUITES[suite.name]
    assert bundle.issued is not None
    assert bundle.issued["credentialSubject"]["algorithm"] == f"{suite.hash_name}/128"
    issued = exchange.certificates.register.issued(doc["id"])
    assert issued is not None
    assert issued.digest == credential_digest(doc, suite.hash_name)
    offline = Verifier(bundle)
    online = exchange.certificates.verifier
    assert offline.check(doc).valid
    assert online.check(doc).valid

    tampered: list[tuple[str, Any]] = [
        *structural_mutations(doc),
        *type_swaps(doc),
        *bit_flips(doc),
        *issuer_swaps(exchange, doc),
    ]
    texts = list(duplicate_key_texts(doc))
    accepted = [
        name for name, mutated in tampered if mutated != doc and offline.check(mutated).valid
    ]
    accepted += [name for name, text in texts if offline.check_text(text).valid]
    accepted_online = [name for name, mutated in tampered[::7] if online.check(mutated).valid]
    j3 = list(issuer_resigns(exchange, doc))
    accepted += [name for name, forged in j3 if offline.check(forged).valid]
    accepted_online += [name for name, forged in j3 if online.check(forged).valid]
    print(f"J3 forged credentials accepted {len(accepted)}/{len(j3)} (online and offline)")
    k = len(tampered) + len(texts)

    benign = benign_re_encodings(doc)
    passed = sum(offline.check_text(text).valid for _, text in benign)
    print(
        f"C1 ({suite.name}) tampered accepted {len(accepted)}/{k}, "
        f"benign accepted {passed}/{len(benign)}"
    )
    assert k > 800
    assert accepted == []
    assert accepted_online == []
    assert passed == len(benign)


def test_the_certificate_validates_against_the_credential_schema_it_names(
    exchange: Exchange, filing: CertificatePublic
) -> None:
    """The published VC JSON Schema admits the proof of the exchange's suite."""
    ctype = certificate_type("sales_contract_filing_certificate")
    schema = credential_schema(exchange.identity.issuer, ctype)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(filing.credential)]
    assert errors == []


def benign_re_encodings(doc: dict[str, Any]) -> list[tuple[str, str]]:
    def reordered(value: Any, rng: random.Random) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: reordered(v, rng) for k, v in items}
        if isinstance(value, list):
            return [reordered(v, rng) for v in value]
        return value

    out = [
        ("compact", json.dumps(doc, ensure_ascii=False, separators=(",", ":"))),
        ("indented", json.dumps(doc, ensure_ascii=False, indent=2)),
        ("tabs and newlines", json.dumps(doc, ensure_ascii=False, indent="\t") + "\n\n"),
        ("spaces", json.dumps(doc, ensure_ascii=False, separators=(" , ", " : "))),
        ("unicode escapes", json.dumps(doc, ensure_ascii=True)),
        ("escaped solidus", json.dumps(doc, ensure_ascii=False).replace("/", "\\/")),
        ("sorted keys", json.dumps(doc, ensure_ascii=False, sort_keys=True)),
    ]
    for seed in range(5):
        shuffled = reordered(doc, random.Random(seed))
        out.append((f"key order {seed}", json.dumps(shuffled, ensure_ascii=True, indent=1)))
    return out


def test_c1_a_seal_certificate_expired_or_not_yet_valid_at_signing_is_refused(
    exchange: Exchange, filing: CertificatePublic, bundle: TrustBundle
) -> None:
    zhujian = DemoDepartment.load(exchange, "zhujian")
    entry = bundle.seal(zhujian.cert_kid)
    assert entry is not None
    not_after = entry.certificate.not_valid_after_utc
    not_before = entry.certificate.not_valid_before_utc
    late = not_after + timedelta(days=1)
    early = not_before - timedelta(days=1)
    for created, clock in ((late, late + timedelta(minutes=1)), (early, early)):
        resealed = _resealed(filing.credential, zhujian.cert_key, zhujian.cert_kid, created)
        resealed_verifier = Verifier(bundle, clock=lambda at=clock: at)
        verdict = resealed_verifier.check(resealed)
        failed = {c.name: c.reason for c in verdict.failures}
        assert "issuer_chain" in failed, verdict  # (status and validity may fail too)
        # judged at the time of verification, not at the time the signer claims
        assert f"at {clock.isoformat()}" in (failed["issuer_chain"] or "")


def test_c1_a_revoked_seal_key_or_revoked_certificate_is_refused(
    exchange: Exchange, city: City, bundle: TrustBundle
) -> None:
    code, request = certificate_requests(city.flats[4])[0]
    cert = exchange.certificates.issue(exchange.registry.by_code(code).uscc, request)
    kid = cert.credential["proof"]["verificationMethod"].partition("#")[2]
    revoked_key = TrustBundle(
        bundle.root,
        seals=bundle.seals.values(),
        status_signers=bundle.status_signers.values(),
        # revoked before the proof was made: a proof made after its key's revocation is refused
        revocations=[KeyRevocation(kid, datetime.now(UTC) - timedelta(minutes=1), "compromised")],
        snapshots=exchange.certificates.trust_bundle().snapshots.values(),
    )
    assert not Verifier(revoked_key).check(cert.credential).valid
    exchange.certificates.change_status(
        cert.issuer, cert.id, StatusChange(action=StatusAction.REVOKE, reason="C1")
    )
    refreshed = TrustBundle.from_json(json.dumps(exchange.certificates.trust_bundle().to_json()))
    verdict = Verifier(refreshed).check(cert.credential)
    assert [c.name for c in verdict.failures] == ["status"]


def test_each_check_refuses_on_its_own_even_under_a_valid_seal(
    exchange: Exchange, filing: CertificatePublic, bundle: TrustBundle
) -> None:
    """A competent department that seals a bad document is still refused, by the right check."""
    zhujian = DemoDepartment.load(exchange, "zhujian")
    now = datetime.now(UTC).replace(microsecond=0)
    cases: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
        ("schema", lambda d: d["credentialSubject"].update(total_price="12"), "total_price"),
        ("schema", lambda d: d["metadata"].update(holder_name="某人"), "holder_name"),
        ("schema", lambda d: d.update(name="结婚证"), "name must be"),
        ("schema", lambda d: d.update(note="x"), "unexpected members"),
        ("identifier", lambda d: d.update(id=d["id"][:-1] + _other(d["id"][-1])), "check"),
        ("validity_period", lambda d: _validity(d, "2019-01-01", "2020-01-01"), "expired"),
        ("validity_period", lambda d: _validity(d, "2999-01-01", None), "not valid yet"),
        ("status", lambda d: d.pop("credentialStatus") and None, "no credentialStatus"),
        ("status", lambda d: d["credentialStatus"].pop(0) and None, "revocation status entry"),
    ]
    verifier = Verifier(bundle)
    for check, change, says in cases:
        doc = {k: v for k, v in _copy(filing.credential).items() if k != "proof"}
        change(doc)
        sealed = add_proof(doc, zhujian.cert_key, verification_method=key_urn(zhujian.cert_kid),
                           created=now)  # fmt: skip
        verdict = verifier.check(sealed)
        failed = {c.name: c.reason or "" for c in verdict.failures}
        # the content differs from what was issued under the id, so the register refuses too
        assert list(failed) == [check, "register"], (says, failed)
        assert says in failed[check], failed
        assert "not among" in failed["register"], failed


def _other(char: str) -> str:
    return "0" if char != "0" else "1"


def _validity(doc: dict[str, Any], start: str, end: str | None) -> None:
    doc["validFrom"] = f"{start}T00:00:00Z"
    doc["metadata"]["valid_from"] = start
    doc.pop("validUntil", None)
    doc["metadata"]["valid_until"] = end
    if end is not None:
        doc["validUntil"] = f"{end}T00:00:00Z"
