"""Offline verification in batches: runs of entry lines checked at once, read in chunks that
cut lines anywhere, and every problem still named at its exact entry."""

from __future__ import annotations

import base64
import itertools
import os
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.audit import entrylines, verify
from exchange.audit.checkpoints import Checkpointer
from exchange.audit.export import ENTRY_PREFIX, export_log
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.verify import AuditExportInvalid, verify_export
from exchange.config import AuditSettings
from exchange.store import Store
from tests.support.orphans import HAS_PROC, left_behind

ENTRIES = 300
TRICKY = 7  # an entry whose detail holds text shaped like the ``seq`` member


@pytest.fixture(scope="module")
def export_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("verify")
    store = Store(folder / "data", create=True)
    log = AuditLog(store, b"k" * 32, AuditSettings())
    signer = Checkpointer.for_key(log, ed25519.Ed25519PrivateKey.generate(), "t.example/audit")
    events = [
        AuditEvent(
            actor="11411500000001054R",
            action="query",
            outcome="allowed",
            target="gongan.resident_id_card",
            subject=f"41150219900101{i % 20:04d}",
            detail={"a": 1, "seq": 3, "subject_hash": "x"} if i == TRICKY else {"i": i},
        )
        for i in range(ENTRIES)
    ]
    for k in range(0, ENTRIES, 70):
        log.append_many(events[k : k + 70])
        signer.sign_now()
    out = folder / "export.jsonl"
    export_log(log, signer, out)
    log.close()
    store.close()
    return out


def _split(path: Path) -> tuple[list[bytes], list[bytes]]:
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(ENTRY_PREFIX))
    return lines[:first], lines[first:]


@pytest.mark.parametrize("chunk", [97, 4096, 1 << 23])
def test_an_export_verifies_whatever_the_chunks_cut(
    export_file: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", chunk)
    assert verify_export(export_file).end == ENTRIES


def test_detail_shaped_like_the_seq_member_does_not_confuse_the_batch(export_file: Path) -> None:
    _head, entries = _split(export_file)
    assert b'"seq":3,"subject_hash":"x"' in entries[TRICKY]
    assert verify_export(export_file).end == ENTRIES


@pytest.mark.parametrize("chunk", [97, 1 << 23])
@pytest.mark.parametrize("index", [0, TRICKY, 150, ENTRIES - 1])
def test_an_edited_entry_is_named_exactly_in_any_chunk(
    export_file: Path, tmp_path: Path, chunk: int, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", chunk)
    head, entries = _split(export_file)
    entries[index] = entries[index].replace(b'"action":"query"', b'"action":"querx"')
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"".join(head + entries))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path)
    assert caught.value.index == index


@pytest.mark.parametrize("workers", [0, 2])
def test_a_last_line_without_its_newline_is_malformed(
    export_file: Path, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    path = tmp_path / "cut.jsonl"
    path.write_bytes(export_file.read_bytes()[:-1])
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path, workers=workers)
    assert caught.value.index == ENTRIES - 1
    assert "malformed" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b'","entry":', b'","entrx":', "malformed"),
        (b'{"leaf":"', b'{"leaf":"0', "malformed"),
        (b"}\n", b"} \n", "malformed"),
    ],
)
def test_a_malformed_entry_line_is_named_exactly(
    export_file: Path, tmp_path: Path, old: bytes, new: bytes, reason: str
) -> None:
    head, entries = _split(export_file)
    entries[150] = entries[150].replace(old, new, 1)
    path = tmp_path / "malformed.jsonl"
    path.write_bytes(b"".join(head + entries))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path)
    assert caught.value.index == 150
    assert reason in str(caught.value)


def test_a_stored_leaf_hash_that_is_not_the_entrys_is_named_exactly(
    export_file: Path, tmp_path: Path
) -> None:
    head, entries = _split(export_file)
    line = entries[42]
    stored = line[len(b'{"leaf":"') : len(b'{"leaf":"') + 64]
    entries[42] = line.replace(stored, bytes(reversed(stored)), 1)
    path = tmp_path / "hash.jsonl"
    path.write_bytes(b"".join(head + entries))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path)
    assert caught.value.index == 42
    assert "does not hash to the leaf hash stored with it" in str(caught.value)


def test_a_stored_leaf_hash_in_upper_case_is_not_the_entrys(
    export_file: Path, tmp_path: Path
) -> None:
    """The batch check compares every line's first bytes with the leaf hashes it computed,
    as bytes: the same hash written in upper case is not the line the exchange wrote."""
    head, entries = _split(export_file)
    line = entries[200]
    start = len(ENTRY_PREFIX)
    entries[200] = line[:start] + line[start : start + 64].upper() + line[start + 64 :]
    assert entries[200] != line
    path = tmp_path / "upper.jsonl"
    path.write_bytes(b"".join(head + entries))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path)
    assert caught.value.index == 200


@pytest.mark.parametrize("index", [None, 0, TRICKY, 150, ENTRIES - 1])
def test_worker_processes_name_the_same_first_bad_entry(
    export_file: Path, tmp_path: Path, index: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)  # many runs of entry lines, hashed apart
    head, entries = _split(export_file)
    if index is not None:
        entries[index] = entries[index].replace(b'"action":"query"', b'"action":"querx"')
        entries[-1] = entries[-1].replace(b'"action":"query"', b'"action":"querx"')
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"".join(head + entries))
    seen: list[int] = []
    if index is None:
        result = verify_export(path, workers=2, progress=lambda done, _n: seen.append(done))
        assert result.end == ENTRIES
        assert seen == sorted(seen)
        assert seen[-1] == ENTRIES
        return
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path, workers=2)
    assert caught.value.index == index


def test_worker_processes_refuse_a_rewritten_leaf_of_the_tree(
    export_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    lines = export_file.read_bytes().splitlines(keepends=True)
    tree = next(i for i, line in enumerate(lines) if line.startswith(b'{"tree":0'))
    item = orjson.loads(lines[tree])
    hashes = bytearray(base64.b64decode(item["hashes"]))
    hashes[32 * 40] ^= 1  # leaf 40 as the tree section gives it
    item["hashes"] = base64.b64encode(bytes(hashes)).decode()
    lines[tree] = orjson.dumps(item) + b"\n"
    path = tmp_path / "tree.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path, workers=2)
    assert caught.value.index == 40


@pytest.mark.parametrize("change", ["repeat", "drop", "foreign"])
def test_worker_processes_and_this_one_refuse_alike(
    export_file: Path, tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    head, entries = _split(export_file)
    if change == "repeat":
        entries.insert(151, entries[150])
    elif change == "drop":
        del entries[150]
    else:
        entries.insert(151, b'{"x":1}\n')
    path = tmp_path / f"{change}.jsonl"
    path.write_bytes(b"".join(head + entries))
    refusals = []
    for workers in (0, 2):
        with pytest.raises(AuditExportInvalid) as caught:
            verify_export(path, workers=workers)
        refusals.append((caught.value.index, str(caught.value)))
    assert refusals[0] == refusals[1]
    assert refusals[0][0] in (None, 150, 151)


_VERIFIES_THEN_WAITS = """
import json, multiprocessing, sys
from pathlib import Path
from exchange.audit import verify
verify._CHUNK = 4096

def progress(done: int, n: int) -> None:  # the first run checked: the workers are up
    print(json.dumps([p.pid for p in multiprocessing.active_children()]), flush=True)
    sys.stdin.read()

verify.verify_export(Path(sys.argv[1]), workers=2, progress=progress)
"""


@pytest.mark.skipif(not HAS_PROC, reason="reads processes from /proc")
def test_the_workers_and_their_fork_server_leave_when_the_verifier_is_killed(
    export_file: Path,
) -> None:
    assert left_behind(_VERIFIES_THEN_WAITS, str(export_file)) == []


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("level_chunk", [1, 16, 64])
def test_tree_levels_built_in_ranges_give_the_same_verdicts(
    export_file: Path,
    tmp_path: Path,
    workers: int,
    level_chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    monkeypatch.setattr(entrylines, "LEVEL_CHUNK", level_chunk)  # ranges of whole subtrees
    assert verify_export(export_file, workers=workers).end == ENTRIES
    lines = export_file.read_bytes().splitlines(keepends=True)
    tree = next(i for i, line in enumerate(lines) if line.startswith(b'{"tree":0'))
    item = orjson.loads(lines[tree])
    hashes = bytearray(base64.b64decode(item["hashes"]))
    hashes[32 * 64] ^= 1  # leaf 64: where a range begins
    item["hashes"] = base64.b64encode(bytes(hashes)).decode()
    lines[tree] = orjson.dumps(item) + b"\n"
    path = tmp_path / "tree.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(AuditExportInvalid) as caught:
        verify_export(path, workers=workers)
    assert caught.value.index == 64


def _tree_line(export_file: Path, tmp_path: Path, edit: bytes) -> Path:
    lines = export_file.read_bytes().splitlines(keepends=True)
    tree = next(i for i, line in enumerate(lines) if line.startswith(b'{"tree":0'))
    start = lines[tree].index(b'"hashes":"') + len(b'"hashes":"')
    lines[tree] = lines[tree][:start] + edit + lines[tree][start:]
    path = tmp_path / "tree.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_a_tree_line_is_decoded_as_before_leniency_and_errors_alike(
    export_file: Path, tmp_path: Path
) -> None:
    # base64's lenient decoding leaves out what is not of its alphabet: the same hashes
    assert verify_export(_tree_line(export_file, tmp_path, b"\\n*")).end == ENTRIES
    with pytest.raises(
        AuditExportInvalid, match="line 7 is malformed: Invalid base64-encoded string"
    ):
        verify_export(_tree_line(export_file, tmp_path, b"A"))


def _run_starts(path: Path, workers: int) -> list[int]:
    """Where the runs of entry lines begin (file offsets), as the verification cuts them."""
    with path.open("rb") as f:
        f.readline()
        if workers == 0:
            return [offset for offset, _data, _end in entrylines.runs(f, 4096)]
        fd, size = f.fileno(), os.fstat(f.fileno()).st_size
        at, starts = entrylines.entries_start(fd, f.tell(), size), []
        while at < size:
            starts.append(at)
            at = entrylines.cut(fd, at, size, 4096)
        return starts


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_seq_rewritten_at_a_run_boundary_is_named_exactly(
    export_file: Path, tmp_path: Path, workers: int, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    head, entries = _split(export_file)
    offsets = list(itertools.accumulate(map(len, entries), initial=sum(map(len, head))))
    boundary = next(at for at in _run_starts(export_file, workers) if at > offsets[100])
    n = offsets.index(boundary) - (0 if where == "first" else 1)  # a run's first or last line
    entries[n] = entries[n].replace(b'"seq":%d,' % n, b'"seq":%d,' % (n + 1))
    path = tmp_path / "seq.jsonl"
    path.write_bytes(b"".join(head + entries))
    with pytest.raises(AuditExportInvalid, match=f"line of entry {n} holds {n + 1}") as caught:
        verify_export(path, workers=workers)
    assert caught.value.index == n


@pytest.mark.parametrize("where", ["tree", "entries"])
def test_workers_sent_runs_ahead_refuse_a_malformed_line_as_this_process_does(
    export_file: Path, tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the workers hash the first runs of entries while the tree section is read here
    monkeypatch.setattr(verify, "_CHUNK", 4096)
    head, entries = _split(export_file)
    if where == "tree":
        tree = next(i for i, line in enumerate(head) if line.startswith(b'{"tree":0'))
        head[tree] = head[tree].replace(b'"hashes":"', b'"hashes":"A')
    else:  # a checkpoint line among the entries, the runs after it sent on
        entries.insert(120, next(line for line in head if line.startswith(b'{"anchor"')))
    path = tmp_path / f"{where}.jsonl"
    path.write_bytes(b"".join(head + entries))
    refusals = []
    for workers in (0, 2):
        try:
            verify_export(path, workers=workers)
            refusals.append("verified")
        except AuditExportInvalid as exc:
            refusals.append(f"{exc.index} {exc}")
    assert refusals[0] == refusals[1]
    expected = "None line 7 is malformed: Invalid base64" if where == "tree" else "verified"
    assert refusals[0].startswith(expected)
