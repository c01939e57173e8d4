"""GET /log/…: the audit log as a C2SP tiled log, checked the way a tlog-tiles client does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from exchange.audit.log import AuditEvent
from exchange.service import Exchange
from signing.checkpoint import NoteSigner, NoteVerifier, OpenedCheckpoint, open_checkpoint
from signing.errors import CheckpointError, MerkleProofError
from signing.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from signing.tiles import Tile, TileNodes, decode_bundle

Auth = Callable[[str], dict[str, str]]


def _checkpoint(client: TestClient) -> OpenedCheckpoint:
    found = client.get("/.well-known/govex").json()
    r = client.get("/log/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=5"
    verifier = NoteVerifier.from_vkey(found["log_vkey"])
    return open_checkpoint(r.content, verifier, origin=found["log_origin"])


def _fetch(client: TestClient, seen: list[str]) -> Callable[[Tile], bytes]:
    def fetch(tile: Tile) -> bytes:
        r = client.get(f"/log/{tile.path}")
        assert r.status_code == 200, (tile.path, r.text)
        assert r.headers["content-type"] == "application/octet-stream"
        immutable = "public, max-age=31536000, immutable"
        assert (r.headers["cache-control"] == immutable) == tile.full
        seen.append(tile.path)
        return r.content

    return fetch


def test_checkpoint_and_hash_tiles_are_public_and_prove_inclusion_and_consistency(
    exchange: Exchange, client: TestClient, auth: Auth
) -> None:
    client.post("/v1/audit/checkpoint", headers=auth("shenji"))
    old = _checkpoint(client).checkpoint
    assert old.extensions == ()
    for _ in range(3):  # grow the log past one tile, then sign again
        client.get("/v1/audit/entries?limit=1", headers=auth("shenji"))
    exchange.audit.append_many(
        [AuditEvent(actor="a", action="query", outcome="ok") for _ in range(600)]
    )
    client.post("/v1/audit/checkpoint", headers=auth("shenji"))
    new = _checkpoint(client).checkpoint
    assert new.size > old.size
    size_before = exchange.audit.size
    seen: list[str] = []
    tree = MerkleTree(TileNodes(new.size, _fetch(client, seen)), new.size)
    assert tree.root() == new.root
    verify_consistency(old.size, new.size, old.root, new.root, tree.consistency_proof(old.size))
    assert exchange.audit.size == size_before  # public reads do not grow the log
    assert {"tile/0/000", "tile/1/000.p/2"} <= set(seen)
    bundle = client.get(f"/log/{Tile(-1, 0).path}", headers=auth("shenji"))
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"].startswith("private")
    entries = decode_bundle(bundle.content)
    checked = 0
    for index in (0, 1, len(entries) - 1):
        proof = tree.inclusion_proof(index)
        verify_inclusion(leaf_hash(entries[index]), index, new.size, proof, new.root)
        checked += 1
    print(f"L1 tiles fetched {len(seen)}, inclusion checks {checked}, consistency checks 1")
    # a broken artefact fails each check: a flipped byte, another key
    flipped = bytearray(entries[0])
    flipped[-2] ^= 1
    with pytest.raises(MerkleProofError):
        verify_inclusion(leaf_hash(bytes(flipped)), 0, new.size, tree.inclusion_proof(0), new.root)
    other = NoteSigner(new.origin, ed25519.Ed25519PrivateKey.generate()).verifier
    with pytest.raises(CheckpointError):
        open_checkpoint(client.get("/log/checkpoint").content, other, origin=new.origin)


def test_entry_bundles_are_for_auditors_only(client: TestClient, auth: Auth) -> None:
    path = "/log/tile/entries/000.p/1"
    assert client.get(path).status_code == 401
    refused = client.get(path, headers=auth("gongan"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "exchange.role_forbidden"
    assert client.get(path, headers=auth("shenji")).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/log/tile/01/000", "/log/tile/64/000", "/log/tile/0/0000", "/log/tile/0/000.p/0",
     "/log/tile/0/000.p/256", "/log/tile/0/x000/001", "/log/tile/0/x999/x999/999",
     "/log/tile/5/000.p/1", "/log/tile/x/000"],
)  # fmt: skip
def test_a_path_that_names_no_tile_is_a_404_problem(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "exchange.no_such_tile"


def test_head_of_the_checkpoint_and_a_tile_is_gets_answer_without_its_body(
    client: TestClient,
) -> None:
    """RFC 9110 §9.3.2: a cache or mirror checks a public resource with HEAD."""
    size = _checkpoint(client).checkpoint.size
    assert size >= 1
    for path in ("/log/checkpoint", f"/log/tile/0/000.p/{min(size, 255)}", "/log/tile/0/x9/999"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b""
        for name in ("content-type", "content-length", "cache-control"):
            assert head.headers.get(name) == got.headers.get(name), (path, name)


def test_head_of_an_entry_bundle_is_no_hash_tile(client: TestClient) -> None:
    """HEAD is served for the public resources only: an entry bundle's path is not taken
    for a hash tile of a level ``entries`` (no 422)."""
    r = client.head("/log/tile/entries/000")
    assert r.status_code in (404, 405)
