"""C2SP tlog-cosignature v1: timestamped witness signatures on checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from signing.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from signing.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    cosignature_key_id,
    cosigned_message,
    witness_name,
)
from signing.errors import CheckpointError

ORIGIN = "govex.example/test/audit"
WITNESS = "witness.example.org/dept-11411500000001054r"


def _checkpoint() -> tuple[NoteSigner, str]:
    log = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
    return log, sign_checkpoint(Checkpoint(ORIGIN, 5, b"\x01" * 32), [log])


def test_a_cosignature_signs_the_v1_message_with_its_timestamp() -> None:
    witness = CosignatureSigner.generate(WITNESS)
    log, note = _checkpoint()
    text = note[: note.index("\n\n") + 1]
    line = witness.signature_line(text, timestamp=1679315147)
    name, blob = line[2:-1].split(" ")
    raw = base64.b64decode(blob)
    assert name == WITNESS
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[:4], "big") == witness.key_id
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    message = cosigned_message(text, 1679315147)
    assert message == f"cosignature/v1\ntime 1679315147\n{text}".encode()
    witness.verifier.public_key.verify(raw[12:], message)
    public = witness.verifier.vkey.split("+", 2)[2]
    key = base64.b64decode(public)
    assert key[0] == 0x04
    digest = hashlib.sha256(WITNESS.encode() + b"\n\x04" + key[1:]).digest()
    assert (
        witness.key_id == int.from_bytes(digest[:4], "big") == cosignature_key_id(WITNESS, key[1:])
    )
    opened = open_checkpoint(note + line, log.verifier, origin=ORIGIN, witnesses=[witness.verifier])
    assert opened.signers == (ORIGIN, WITNESS)


def test_keys_travel_as_vkeys_and_skeys() -> None:
    witness = CosignatureSigner.generate(WITNESS)
    assert CosignatureVerifier.from_vkey(witness.vkey).vkey == witness.vkey
    again = CosignatureSigner.from_skey(witness.skey)
    assert again.vkey == witness.vkey
    assert witness.skey.startswith(f"PRIVATE+KEY+{WITNESS}+{witness.key_id:08x}+")
    note_vkey = NoteSigner(WITNESS, ed25519.Ed25519PrivateKey.generate()).vkey  # type 0x01
    for bad in (note_vkey, witness.vkey.replace("+", "-", 1), witness.vkey[:-4] + "AAA=", ""):
        with pytest.raises(CheckpointError):
            CosignatureVerifier.from_vkey(bad)


def test_a_forged_or_altered_cosignature_is_refused() -> None:
    witness = CosignatureSigner.generate(WITNESS)
    forger = CosignatureSigner(WITNESS, ed25519.Ed25519PrivateKey.generate())
    log, note = _checkpoint()
    text = note[: note.index("\n\n") + 1]
    raw = base64.b64decode(witness.signature_line(text).split(" ")[2])
    verifier = witness.verifier
    verifier.verify(text.encode(), raw[4:])
    later = raw[4:11] + bytes([raw[11] ^ 1]) + raw[12:]  # another timestamp
    for signature in (later, raw[4:-1], raw[4:] + b"\x00", raw[12:]):
        with pytest.raises(CheckpointError):
            verifier.verify(text.encode(), signature)
    with pytest.raises(CheckpointError):
        verifier.verify(text.replace("5", "6").encode(), raw[4:])
    # a line under the witness's name and key id, signed by another key
    forged = forger.signature_line(text)
    forged_raw = base64.b64decode(forged.split(" ")[2])
    assert forged_raw[:4] != raw[:4]  # another key: another key id
    blob = raw[:4] + forged_raw[4:]
    line = f"\u2014 {WITNESS} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(CheckpointError, match="invalid cosignature"):
        open_checkpoint(note + line, log.verifier, origin=ORIGIN, witnesses=[verifier])


def test_witness_names_are_schema_less_urls() -> None:
    for good in (WITNESS, "witness.example.com/w1", "localhost:8080/w", "a.b"):
        assert witness_name(good) == good
    for bad in ("https://w.example/x", "11411500000001054R", "w example/x", "W.Example/x",
                "", "a+b/c", "-a.example/x", "a.example/x y"):  # fmt: skip
        with pytest.raises(CheckpointError):
            witness_name(bad)
