"""A subject's erasure is not undone in memory by a lookup that read its salt before: neither
one that raced the deletion (autocommit) nor one made while the erasure's transaction was
open. Both fail with a cache that is only cleared where the salt is deleted."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.audit.subjects import SubjectKeys
from exchange.store import Store

SUBJECT = "411503198012147596"


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[SubjectKeys]:
    with Store(tmp_path, create=True) as store:
        store.migrate()
        found = SubjectKeys(store, secrets.token_bytes(32))
        store.execute(
            "INSERT INTO audit_subject_salts VALUES (?, ?, ?)",
            [found.ref(SUBJECT), secrets.token_bytes(32), datetime.now(UTC)],
        )
        yield found


def test_a_lookup_that_raced_the_erasure_keeps_nothing(
    keys: SubjectKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    read, go = threading.Event(), threading.Event()
    real = keys._stored

    def paused(value: str) -> str | None:
        found = real(value)
        if threading.current_thread().name == "lookup":
            read.set()  # the salt as it was before the erasure
            assert go.wait(10)
        return found

    monkeypatch.setattr(keys, "_stored", paused)
    seen: list[str | None] = []
    lookup = threading.Thread(target=lambda: seen.append(keys.find(SUBJECT)), name="lookup")
    lookup.start()
    assert read.wait(10)
    erased = keys.forget(SUBJECT)
    go.set()
    lookup.join(10)
    assert erased is not None
    assert keys.find(SUBJECT) is None  # erased: never met, as far as the log can tell
    assert keys.hash(SUBJECT) != erased  # met again: a new salt, unlinkable to the old


def test_a_lookup_while_the_erasure_is_uncommitted_leaves_nothing_after_it(
    keys: SubjectKeys,
) -> None:
    store = keys.store
    seen: list[str | None] = []
    with store.transaction():
        erased = keys.forget(SUBJECT)
        lookup = threading.Thread(target=lambda: seen.append(keys.find(SUBJECT)))
        lookup.start()
        lookup.join(10)
    assert seen == [erased]  # the deletion was not committed then
    assert keys.find(SUBJECT) is None
