"""C2SP signed notes and checkpoints: published vectors, our own notes, witnesses."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing import checkpoint as checkpoint_module
from signing.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign_note,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)
from signing.errors import CheckpointError
from signing.gm.sm2 import SM2PrivateKey
from signing.merkle import MerkleTree, leaf_hash, verify_consistency

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
DATA = json.loads((VECTORS / "checkpoint" / "signed_note_vectors.json").read_text())
NOTE_CASES = DATA["vectors"]
VKEY_CASES = DATA["verifierKeyCases"]
FORMAT_ONLY = DATA["formatOnlyExamples"]


def _note(case: dict[str, Any]) -> str | bytes:
    if "noteBase64" in case:
        return base64.b64decode(case["noteBase64"])
    text: str = case["note"]
    return text


def _run_note_case(case: dict[str, Any]) -> None:
    verifiers = [NoteVerifier.from_vkey(v) for v in case["verifierKeys"]]
    if "expectedOrigin" in case:
        log = next(v for v in verifiers if v.name == "sum.golang.org")
        opened = open_checkpoint(_note(case), log, origin=case["expectedOrigin"])
        verified = opened.signers
    else:
        note = open_note(_note(case), verifiers)
        verified = note.signers
        expect = case["expect"]
        assert list(verified) == expect["verifiedSigners"]
        if "unverifiedSignatures" in expect:
            assert len(note.unverified) == expect["unverifiedSignatures"]
        if "text" in expect:
            assert note.text == expect["text"]
        if "checkpoint" in expect:
            parsed = Checkpoint.parse(note.text)
            assert parsed.origin == expect["checkpoint"]["origin"]
            assert parsed.size == expect["checkpoint"]["size"]
            assert parsed.root == base64.b64decode(expect["checkpoint"]["rootHashBase64"])


def _classified_right(case: dict[str, Any]) -> bool:
    try:
        _run_note_case(case)
    except CheckpointError:
        return not case["expect"]["valid"]
    return bool(case["expect"]["valid"])


def test_public_api_is_listed() -> None:
    assert set(checkpoint_module.__all__) == {
        "MAX_SIGNATURES",
        "KeyVerifier",
        "SIGNATURE_TYPE_ED25519",
        "SIGNATURE_TYPE_SM2",
        "Checkpoint",
        "NoteSignature",
        "NoteSigner",
        "NoteVerifier",
        "OpenedCheckpoint",
        "OpenedNote",
        "cosign_note",
        "key_id",
        "open_checkpoint",
        "open_note",
        "sign_checkpoint",
        "sign_note",
    }


# --- published vectors -------------------------------------------------------------


def test_vector_counts() -> None:
    assert len(NOTE_CASES) == 19
    assert len(VKEY_CASES) == 6


@pytest.mark.parametrize("case", NOTE_CASES, ids=lambda c: c["id"])
def test_note_vector_behaves_as_expected(case: dict[str, Any]) -> None:
    if case["expect"]["valid"]:
        _run_note_case(case)
    else:
        with pytest.raises(CheckpointError):
            _run_note_case(case)


@pytest.mark.parametrize("case", VKEY_CASES, ids=lambda c: c["vkey"][:24])
def test_vkey_vector_behaves_as_expected(case: dict[str, Any]) -> None:
    if case["valid"]:
        assert NoteVerifier.from_vkey(case["vkey"]).vkey == case["vkey"]
    else:
        with pytest.raises(CheckpointError):
            NoteVerifier.from_vkey(case["vkey"])


def test_signed_note_vector_figure() -> None:
    notes_right = sum(_classified_right(c) for c in NOTE_CASES)
    vkeys_right = 0
    for case in VKEY_CASES:
        try:
            NoteVerifier.from_vkey(case["vkey"])
            vkeys_right += case["valid"]
        except CheckpointError:
            vkeys_right += not case["valid"]
    print(
        f"D3 signed-note vectors: notes {notes_right}/{len(NOTE_CASES)}, "
        f"vkeys {vkeys_right}/{len(VKEY_CASES)}, "
        f"misclassified {len(NOTE_CASES) - notes_right + len(VKEY_CASES) - vkeys_right}"
    )
    assert notes_right == len(NOTE_CASES)
    assert vkeys_right == len(VKEY_CASES)


def test_sumdb_checkpoint_opens_with_its_origin() -> None:
    case = next(c for c in NOTE_CASES if c["id"] == "tdf-sumdb-checkpoint")
    log = NoteVerifier.from_vkey(case["verifierKeys"][0])
    opened = open_checkpoint(case["note"], log, origin="go.sum database tree")
    assert opened.checkpoint.size == 6476701
    assert opened.signers == ("sum.golang.org",)


def test_format_only_checkpoint_example_parses() -> None:
    case = next(c for c in FORMAT_ONLY if c["id"] == "c2sp-tlog-checkpoint-example")
    text = case["note"].split("\n\n")[0] + "\n"
    parsed = Checkpoint.parse(text)
    want = case["expect"]["checkpoint"]
    assert (parsed.origin, parsed.size) == (want["origin"], want["size"])
    assert parsed.root == base64.b64decode(want["rootHashBase64"])
    assert parsed.to_text() == text


def test_signature_block_starts_after_the_last_blank_line() -> None:
    case = next(c for c in FORMAT_ONLY if c["id"] == "c2sp-signed-note-intro")
    with pytest.raises(CheckpointError, match="no verifiable signatures"):
        open_note(case["note"], [])
    signer = NoteSigner("quasimodo.example/test", ed25519.Ed25519PrivateKey.generate())
    note = sign_note(case["expect"]["text"], [signer])
    assert open_note(note, [signer.verifier]).text == case["expect"]["text"]


# --- our own notes and checkpoints -----------------------------------------------

LOG_KEY = ed25519.Ed25519PrivateKey.generate()
WITNESS_KEY = ed25519.Ed25519PrivateKey.generate()
ORIGIN = "govex.example/audit"


def _log() -> NoteSigner:
    return NoteSigner(ORIGIN, LOG_KEY)


def _witness() -> NoteSigner:
    return NoteSigner("witness.example/w1", WITNESS_KEY)


def _tree(n: int) -> MerkleTree:
    tree = MerkleTree()
    tree.extend(leaf_hash(i.to_bytes(4, "big")) for i in range(n))
    return tree


def test_vkey_round_trips_and_key_id_is_the_spec_hash() -> None:
    signer = _log()
    verifier = NoteVerifier.from_vkey(signer.vkey)
    assert verifier.vkey == signer.vkey
    raw = base64.b64decode(signer.vkey.split("+", 2)[2])
    assert raw[0] == 0x01
    assert verifier.key_id == signer.key_id == key_id(ORIGIN, raw[1:])
    assert signer.vkey.split("+")[1] == f"{signer.key_id:08x}"


def test_own_checkpoint_round_trips() -> None:
    tree = _tree(37)
    cp = Checkpoint(origin=ORIGIN, size=tree.size, root=tree.root(), extensions=("ext one",))
    assert Checkpoint.parse(cp.to_text()) == cp
    note = sign_checkpoint(cp, [_log()])
    opened = open_checkpoint(note, NoteVerifier.from_vkey(_log().vkey), origin=ORIGIN)
    assert opened.checkpoint == cp
    assert opened.signers == (ORIGIN,)


def test_witness_cosigns_and_both_signatures_verify() -> None:
    log, witness = _log(), _witness()
    tree = _tree(12)
    note = sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), [log])
    cosigned = cosign_note(note, witness, [log.verifier])
    assert cosigned.startswith(note)
    opened = open_checkpoint(cosigned, log.verifier, origin=ORIGIN, witnesses=[witness.verifier])
    assert opened.signers == (ORIGIN, witness.name)
    # cosigning twice changes nothing
    assert cosign_note(cosigned, witness, [log.verifier]) == cosigned
    # a verifier that knows only the log still accepts, the cosignature is kept aside
    only_log = open_note(cosigned, [log.verifier])
    assert only_log.signers == (ORIGIN,)
    assert [s.name for s in only_log.unverified] == [witness.name]


def test_witness_refuses_to_cosign_what_it_cannot_verify() -> None:
    log, witness = _log(), _witness()
    note = sign_checkpoint(Checkpoint(ORIGIN, 5, _tree(5).root()), [log])
    forged = note.replace("\n5\n", "\n6\n", 1)
    with pytest.raises(CheckpointError, match="invalid signature"):
        cosign_note(forged, witness, [log.verifier])


def test_consecutive_checkpoints_are_proven_consistent() -> None:
    log = _log()
    tree = _tree(100)
    old = open_checkpoint(
        sign_checkpoint(Checkpoint(ORIGIN, 60, tree.root(60)), [log]), log.verifier, origin=ORIGIN
    ).checkpoint
    new = open_checkpoint(
        sign_checkpoint(Checkpoint(ORIGIN, 100, tree.root()), [log]), log.verifier, origin=ORIGIN
    ).checkpoint
    verify_consistency(old.size, new.size, old.root, new.root, tree.consistency_proof(60))


def test_checkpoint_signed_only_by_a_witness_is_refused() -> None:
    log, witness = _log(), _witness()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, _tree(1).root()), [witness])
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        open_checkpoint(note, log.verifier, origin=ORIGIN, witnesses=[witness.verifier])


def test_checkpoint_of_another_origin_is_refused() -> None:
    log = _log()
    note = sign_checkpoint(Checkpoint("other.example/log", 1, _tree(1).root()), [log])
    with pytest.raises(CheckpointError, match="expected"):
        open_checkpoint(note, log.verifier, origin=ORIGIN)


def test_altered_text_or_signature_fails() -> None:
    log = _log()
    note = sign_note("hello\n", [log])
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_note(note.replace("hello", "hellp"), [log.verifier])
    text, line = note.split("\n\n")
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[10] ^= 0x01
    forged = f"{text}\n\n— {log.name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_note(forged, [log.verifier])


def test_more_than_100_signatures_are_refused() -> None:
    signers = [NoteSigner(f"s{i}", ed25519.Ed25519PrivateKey.generate()) for i in range(101)]
    note = sign_note("many\n", signers)
    with pytest.raises(CheckpointError, match=f"more than {MAX_SIGNATURES}"):
        open_note(note, [signers[0].verifier])
    assert open_note(sign_note("many\n", signers[:100]), [signers[0].verifier]).signers == ("s0",)


@pytest.mark.parametrize(
    "text",
    ["no newline", "tab\there\n", "carriage\r\n"],
    ids=["no-final-newline", "tab", "carriage-return"],
)
def test_malformed_text_is_not_signed(text: str) -> None:
    with pytest.raises(CheckpointError, match="malformed note"):
        sign_note(text, [_log()])


def test_bad_signer_names_and_keys_are_refused() -> None:
    for name in ["", "has space", "has+plus"]:
        with pytest.raises(CheckpointError, match="invalid key name"):
            NoteSigner(name, LOG_KEY)
    with pytest.raises(CheckpointError, match="Ed25519"):
        NoteSigner("ecdsa", ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "origin\n",
        "origin\n10\n",
        "\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n010\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "origin\n10\nnot base64!\n",
        "origin\n10\nAAAA\n",
        "origin\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
        "origin\n10\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
    ids=[
        "origin-only",
        "no-root",
        "empty-origin",
        "leading-zero",
        "negative",
        "bad-base64",
        "short-root",
        "empty-extension",
        "no-final-newline",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(text)


# -- the govex-scoped SM2 signed-note type (docs/gm-crypto.md) ------------------------


def test_sm2_checkpoint_round_trips_through_its_vkey() -> None:
    signer = NoteSigner("govex.example/sm2/audit", SM2PrivateKey.generate())
    vkey = signer.vkey
    name, hex_id, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw.startswith(b"\xffgovex-sm2-sm3\x04")
    assert len(raw) == 14 + 65
    assert int(hex_id, 16) == int.from_bytes(
        hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4], "big"
    )
    note = sign_checkpoint(Checkpoint("govex.example/sm2/audit", 7, bytes(32)), [signer])
    opened = open_checkpoint(note, NoteVerifier.from_vkey(vkey), origin="govex.example/sm2/audit")
    assert opened.checkpoint.size == 7


def test_sm2_checkpoint_altered_or_under_another_key_is_refused() -> None:
    signer = NoteSigner("log", SM2PrivateKey.generate())
    note = sign_checkpoint(Checkpoint("log", 3, bytes(32)), [signer])
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_note(note.replace("\n3\n", "\n4\n"), [signer.verifier])
    other = NoteVerifier("log", SM2PrivateKey.generate().public_key())
    with pytest.raises(CheckpointError, match="no verifiable signatures"):
        open_note(note, [other])
    name, _hex_id, blob = signer.vkey.split("+", 2)
    short = base64.b64encode(base64.b64decode(blob)[:-1]).decode()
    digest = hashlib.sha256(name.encode() + b"\n" + base64.b64decode(short)).digest()
    with pytest.raises(CheckpointError, match="SM2 point"):
        NoteVerifier.from_vkey(f"{name}+{digest[:4].hex()}+{short}")
