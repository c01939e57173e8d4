"""Export, offline verification, tampering (D1), forks (D3), archive and retention, trace."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from exchange.api.routes.audit import _checkpoint as public_checkpoint
from exchange.audit.checkpoints import witness_cosign
from exchange.audit.export import export_log
from exchange.audit.log import AuditEvent
from exchange.audit.query import COLUMNS, EntryFilter, Scope, count, entry_from_row, search
from exchange.audit.segments import log_dir
from exchange.audit.tilestore import tiles_dir
from exchange.audit.verify import AuditExportInvalid, verify_export
from exchange.cli.main import app
from exchange.config import Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from exchange.store import Store
from signing.checkpoint import NoteSigner, open_checkpoint
from signing.cosignature import CosignatureSigner
from signing.errors import SigningError
from signing.merkle import verify_consistency

ENTRIES = 600
runner = CliRunner()


def _fill(exchange: Exchange, n: int, start: int = 0) -> None:
    events = [
        AuditEvent(
            actor=f"1141150000000100{i % 9}X",
            action=("query", "query.subject", "publish", "grant.request")[i % 4],
            outcome="allowed" if i % 5 else "refused",
            target="gongan.resident_id_card",
            subject=f"4115021990010{i % 50:05d}",
            purpose="audit.test",
            case_no=f"CASE-{i % 13}",
            detail={"i": i, "note": "审计 ✓"} if i % 3 else None,
        )
        for i in range(start, start + n)
    ]
    for k in range(0, n, 97):  # several commits and, between some, signed checkpoints
        exchange.audit.append_many(events[k : k + 97])
        if (k // 97) % 2:
            exchange.checkpoints.sign_now()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed exchange with a few hundred entries and several checkpoints."""
    data = tmp_path_factory.mktemp("audit") / "data"
    with create_demo(Settings(data=data)) as exchange:
        _fill(exchange, ENTRIES)
    return data


@pytest.fixture(scope="module")
def export_file(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "audit.jsonl"
    with Exchange.open(Settings(data=data_dir)) as exchange:
        export_log(exchange.audit, exchange.checkpoints, out)
    return out


def test_an_export_verifies_offline(export_file: Path) -> None:
    result = verify_export(export_file)
    assert result.first == 0
    assert result.end >= ENTRIES
    assert len(result.checkpoints) >= 3
    assert not result.key_pinned


def test_the_cli_exports_and_verifies(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    r = runner.invoke(app, ["audit", "export", "--data", str(data_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["audit", "verify", str(out)])
    assert r.exit_code == 0, r.output
    assert "VERIFIED" in r.output


# -- D1: tampering is found at the exact entry ------------------------------------------


def _lines(path: Path) -> tuple[list[bytes], list[bytes]]:
    lines = path.read_bytes().splitlines(keepends=True)
    head = [ln for ln in lines if not ln.startswith(b'{"leaf":')]
    return head, [ln for ln in lines if ln.startswith(b'{"leaf":')]


def _rehash(line: bytes) -> bytes:
    data = line[83:-2]
    leaf = hashlib.sha256(b"\x00" + data).hexdigest().encode()
    return line[:9] + leaf + line[73:]


def _edit(line: bytes) -> bytes:
    return line.replace(b'"outcome":"', b'"outcome":"x', 1)


Tamper = Callable[[list[bytes], int], tuple[list[bytes], int]]


def _edit_entry(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    return [*entries[:i], _edit(entries[i]), *entries[i + 1 :]], i


def _delete(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    return [*entries[:i], *entries[i + 1 :]], i


def _insert(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    forged = _rehash(entries[i].replace(b'"purpose":"', b'"purpose":"forged ', 1))
    return [*entries[:i], forged, *entries[i:]], i


def _swap(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    j = min(i + 1 + i % 7, len(entries) - 1)
    out = list(entries)
    out[i], out[j] = out[j], out[i]
    return out, i


def _truncate(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    return entries[:i], i


def _rewrite_and_rehash(entries: list[bytes], i: int) -> tuple[list[bytes], int]:
    return [*entries[:i], _rehash(_edit(entries[i])), *entries[i + 1 :]], i


TAMPERS: dict[str, Tamper] = {
    "edit": _edit_entry,
    "delete": _delete,
    "insert": _insert,
    "swap": _swap,
    "truncate": _truncate,
    "rewrite-and-rehash": _rewrite_and_rehash,
}


def test_d1_tampering_is_detected_at_the_exact_entry(export_file: Path, tmp_path: Path) -> None:
    head, entries = _lines(export_file)
    rng = random.Random(6962)
    positions = [0, 1, len(entries) // 2, len(entries) - 2, *rng.sample(range(len(entries)), 4)]
    detected = total = 0
    misplaced: list[tuple[str, int, int | None]] = []
    for name, tamper in TAMPERS.items():
        for i in positions:
            tampered, expected = tamper(entries, i)
            path = tmp_path / f"{name}-{i}.jsonl"
            path.write_bytes(b"".join(head + tampered))
            total += 1
            with pytest.raises(AuditExportInvalid) as caught:
                verify_export(path)
            if caught.value.index == expected:
                detected += 1
            else:
                misplaced.append((name, expected, caught.value.index))
    print(f"D1 tampering detected {detected}/{total} at the right index")
    assert misplaced == []


def test_the_cli_names_the_first_entry_that_does_not_match(
    export_file: Path, tmp_path: Path
) -> None:
    head, entries = _lines(export_file)
    tampered, _ = _rewrite_and_rehash(entries, 321)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(head + tampered))
    r = runner.invoke(app, ["audit", "verify", str(path)])
    assert r.exit_code == 1
    assert "entry 321 does not match" in r.output


def test_a_rewritten_tree_is_refused_by_the_signed_roots(export_file: Path, tmp_path: Path) -> None:
    """Entry, its leaf hash and the tree's leaf rewritten: the signatures still refuse it."""
    import base64

    import orjson

    head, entries = _lines(export_file)
    i = 300
    forged = _rehash(_edit(entries[i]))
    new_leaf = bytes.fromhex(forged[9:73].decode())
    rewritten = []
    for line in head:
        if line.startswith(b'{"tree":0,'):
            item = orjson.loads(line)
            hashes = bytearray(base64.b64decode(item["hashes"]))
            at = 32 * (i - item["from"])
            if 0 <= at < len(hashes):
                hashes[at : at + 32] = new_leaf
                item["hashes"] = base64.b64encode(hashes).decode()
                line = orjson.dumps(item) + b"\n"
        rewritten.append(line)
    path = tmp_path / "tree.jsonl"
    path.write_bytes(b"".join([*rewritten, *entries[:i], forged, *entries[i + 1 :]]))
    with pytest.raises(AuditExportInvalid, match="root signed") as caught:
        verify_export(path)
    assert caught.value.index in (i - 1, i)  # its pair: the level-1 node no longer matches


def test_a_forged_checkpoint_signature_is_refused(export_file: Path, tmp_path: Path) -> None:
    text = export_file.read_text("utf-8")
    path = tmp_path / "sig.jsonl"
    path.write_text(text.replace('{"anchor":"govex.example/demo/audit\\n', '{"anchor":"x\\n'))
    with pytest.raises(AuditExportInvalid, match="checkpoint"):
        verify_export(path)


def test_a_pinned_key_refuses_an_export_signed_by_another(export_file: Path) -> None:
    other = NoteSigner("govex.example/demo/audit", _new_key()).vkey
    with pytest.raises(AuditExportInvalid, match="another log key"):
        verify_export(export_file, vkey=other)


def _new_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


# -- known checkpoints and D3: forks --------------------------------------------------------


@pytest.fixture
def fork(data_dir: Path, tmp_path: Path) -> Iterator[tuple[Exchange, Exchange, str]]:
    """The real log (grown after an auditor kept a checkpoint) and a fork of it.

    The fork is the same exchange with one old entry rewritten, its segments and tree
    rebuilt and
    re-signed with the same log key: what an operator would show a second auditor.
    """
    real_dir, fork_dir = tmp_path / "real", tmp_path / "fork"
    shutil.copytree(data_dir, real_dir)
    with Exchange.open(Settings(data=real_dir)) as real:
        kept = real.checkpoints.sign_now().note  # auditor 1 keeps this
        _fill(real, 50, start=ENTRIES)
    shutil.copytree(real_dir, fork_dir)
    with Store(fork_dir) as store:
        store.execute("UPDATE audit_entries SET purpose = 'forged' WHERE seq = 42")
        rows = store.fetchall(f"SELECT {COLUMNS} FROM audit_entries ORDER BY seq")
        for row in rows:
            stored = entry_from_row(row)
            store.execute(
                "UPDATE audit_entries SET leaf_hash = ? WHERE seq = ?",
                [stored.entry.leaf_hash(), stored.entry.seq],
            )
        store.execute("DELETE FROM checkpoints")
    # the segment and tree files rewritten from the forged rows (the store migrates them)
    shutil.rmtree(log_dir(fork_dir))
    shutil.rmtree(tiles_dir(fork_dir))
    real, forked = Exchange.open(Settings(data=real_dir)), Exchange.open(Settings(data=fork_dir))
    yield real, forked, kept
    real.close()
    forked.close()


def test_d3_a_forked_history_is_detected_by_consistency_proofs(
    fork: tuple[Exchange, Exchange, str], tmp_path: Path
) -> None:
    real, forked, kept = fork
    assert forked.audit.healthy  # the fork is internally consistent
    verifier = real.checkpoints.verifier
    origin = real.checkpoints.origin
    old = open_checkpoint(kept, verifier, origin=origin).checkpoint
    shown = open_checkpoint(forked.checkpoints.sign_now().note, verifier, origin=origin)
    new = shown.checkpoint  # validly signed by the log key: only consistency can tell
    detected = []
    try:  # auditor 1 asks the fork to prove its new checkpoint extends the one it kept
        verify_consistency(
            old.size, new.size, old.root, new.root, forked.audit.consistency_proof(old.size)
        )
    except SigningError:
        detected.append("consistency proof")
    try:  # a witness that cosigned the real checkpoint refuses the fork
        witness = CosignatureSigner("witness.example.org/dept-11411500000001054R", _new_key())
        seen = open_checkpoint(kept, verifier, origin=origin)
        witness_cosign(
            forked.checkpoints.get(new.size).note,
            verifier,
            origin,
            witness,
            previous=seen,
            proof=forked.audit.consistency_proof(old.size),
        )
    except SigningError:
        detected.append("witness")
    out = tmp_path / "fork.jsonl"
    export_log(forked.audit, forked.checkpoints, out)
    try:
        verify_export(out, known=kept)
    except AuditExportInvalid as exc:
        if "forked or rewritten" in exc.message:
            detected.append("offline verify")
    real_out = tmp_path / "real.jsonl"
    export_log(real.audit, real.checkpoints, real_out)
    assert verify_export(real_out, known=kept).known == old.size  # the real log extends it
    print(f"D3 fork detected: {', '.join(detected)}")
    assert detected == ["consistency proof", "witness", "offline verify"]


def test_the_cli_checks_a_known_checkpoint(data_dir: Path, tmp_path: Path) -> None:
    """Kept as the note (``GET /log/checkpoint``) or as the audit API's JSON
    (``GET /v1/audit/checkpoint``); a file that holds neither is one clear line."""
    real = tmp_path / "real"
    shutil.copytree(data_dir, real)
    with Exchange.open(Settings(data=real)) as exchange:
        kept = tmp_path / "kept.txt"
        stored = exchange.checkpoints.sign_now()
        kept.write_text(stored.note, "utf-8")
        as_json = tmp_path / "kept.json"
        as_json.write_text(public_checkpoint(exchange, stored).model_dump_json(), "utf-8")
        _fill(exchange, 10, start=ENTRIES)
    out = tmp_path / "later.jsonl"
    assert runner.invoke(app, ["audit", "export", "-d", str(real), "-o", str(out)]).exit_code == 0
    for path in (kept, as_json):
        r = runner.invoke(app, ["audit", "verify", str(out), "--checkpoint", str(path)])
        assert r.exit_code == 0, r.output
        assert f"consistent with the known checkpoint of size {stored.size}" in r.output
    other = tmp_path / "other.json"
    other.write_text('{"size": 3}', "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "exchange", "audit", "verify", str(out), "--checkpoint", str(other)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error [exchange.invalid_option]: --checkpoint "), done.stderr
    assert "holds no signed checkpoint" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# -- time ranges, archives and retention ----------------------------------------------


@pytest.fixture
def aged(data_dir: Path, tmp_path: Path) -> Path:
    """A copy whose first 400 entries are dated 200 days back (the ``ts`` column only)."""
    data = tmp_path / "aged"
    shutil.copytree(data_dir, data)
    with Store(data) as store:
        store.execute("UPDATE audit_entries SET ts = ts - INTERVAL 200 DAY WHERE seq < 400")
    return data


def test_a_time_range_export_verifies_with_its_prefix(aged: Path, tmp_path: Path) -> None:
    since = (datetime.now(UTC) - timedelta(days=100)).date().isoformat()
    out = tmp_path / "recent.jsonl"
    r = runner.invoke(app, ["audit", "export", "-d", str(aged), "-o", str(out), "--from", since])
    assert r.exit_code == 0, r.output
    result = verify_export(out)
    assert result.first == 400
    head, entries = _lines(out)
    path = tmp_path / "recent-bad.jsonl"
    tampered, _ = _rewrite_and_rehash(entries, 5)
    path.write_bytes(b"".join(head + tampered))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path)
    assert caught.value.index == 405


def test_entries_younger_than_the_retention_cannot_be_archived(aged: Path) -> None:
    r = runner.invoke(app, ["audit", "archive", "-d", str(aged), "--before", "2999-01-01"])
    assert r.exit_code != 0
    assert "183 days" in str(r.exception) + r.output
    with Store(aged) as store:
        assert store.fetchone("SELECT count(*) FROM audit_archives") == (0,)


def test_archived_entries_move_to_parquet_and_still_verify(aged: Path, tmp_path: Path) -> None:
    before = (datetime.now(UTC) - timedelta(days=190)).date().isoformat()
    r = runner.invoke(app, ["audit", "archive", "-d", str(aged), "--before", before])
    assert r.exit_code == 0, r.output
    assert "archived entries 0..399" in r.output
    with Exchange.open(Settings(data=aged)) as exchange:
        assert exchange.audit.healthy
        online = exchange.store.fetchone("SELECT min(seq), count(*) FROM audit_entries")
        assert online is not None
        assert online[0] == 400
        parquet = exchange.store.fetchone("SELECT path, sha256 FROM audit_archives")
        assert parquet is not None
        assert hashlib.sha256(Path(parquet[0]).read_bytes()).hexdigest() == parquet[1]
        proof = exchange.audit.inclusion_proof(10)
        assert len(proof) > 0
    out = tmp_path / "after-archive.jsonl"
    assert runner.invoke(app, ["audit", "export", "-d", str(aged), "-o", str(out)]).exit_code == 0
    assert verify_export(out).first == 0
    trace = runner.invoke(app, ["audit", "trace", "-d", str(aged), "--case", "CASE-3"])
    assert trace.exit_code == 0, trace.output
    assert "proven in the signed checkpoint" in trace.output
    rows = trace.output.splitlines()  # not a terminal: one tab-separated row per entry
    assert any(row.startswith("3\t") for row in rows)  # entry 3 is archived and still shown


def test_a_subjects_entries_are_found_online_and_archived(aged: Path) -> None:
    """The subject search reads the online entries by the index (a union of the first and
    the further subjects) and still finds the archived ones, which are not online."""
    before = (datetime.now(UTC) - timedelta(days=190)).date().isoformat()
    r = runner.invoke(app, ["audit", "archive", "-d", str(aged), "--before", before])
    assert r.exit_code == 0, r.output
    with Exchange.open(Settings(data=aged)) as exchange:
        subject = exchange.audit.subjects.find("411502199001000007")
        assert subject is not None
        flt = EntryFilter(subject_hash=subject)
        found = search(exchange.store, flt, Scope.everything(), limit=1000, archived=True)
        everywhere = [e.entry.seq for e in found]
        online = [e.entry.seq for e in search(exchange.store, flt, Scope.everything(), limit=1000)]
        assert len(everywhere) == ENTRIES // 50  # every 50th entry _fill appended names it
        assert min(everywhere) < 400 <= max(everywhere)  # archived ones, and online ones
        assert online == [seq for seq in everywhere if seq >= 400]
        assert count(exchange.store, flt, Scope.everything()) == len(online)


def test_trace_needs_exactly_one_selector(data_dir: Path) -> None:
    r = runner.invoke(app, ["audit", "trace", "-d", str(data_dir)])
    assert r.exit_code != 0


def test_trace_by_subject_hashes_the_id_and_proves_each_entry(data_dir: Path) -> None:
    r = runner.invoke(
        app, ["audit", "trace", "-d", str(data_dir), "--subject", "411502199001000007"]
    )
    assert r.exit_code == 0, r.output
    assert "entries;" in r.output
    assert "proven" in r.output
