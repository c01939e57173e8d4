"""Subject salts: many holders of one entry looked up at once give the hashes one by one gives."""

from __future__ import annotations

from exchange.audit.event import AuditEvent
from exchange.audit.log import AuditLog
from exchange.audit.query import EntryFilter, Scope, count, search

HOLDERS = [f"41150319800101{i:04d}" for i in range(40)]


def test_prefetch_gives_the_hashes_each_lookup_gives(log: AuditLog) -> None:
    first = [log.subjects.hash(h) for h in HOLDERS]  # drawn and staged
    log.append(AuditEvent(action="test.salts", actor="t", outcome="ok", subjects=HOLDERS))
    log.subjects._cache.clear()
    new = ["411503198001019999", "411503198001018888"]
    log.subjects.prefetch([*HOLDERS, *new])
    assert all(log.subjects.cached(h) for h in [*HOLDERS, *new])
    assert [log.subjects.hash(h) for h in HOLDERS] == first
    drawn = [log.subjects.hash(h) for h in new]
    log.append(AuditEvent(action="test.salts", actor="t", outcome="ok", subjects=new))
    log.subjects._cache.clear()
    assert [log.subjects.hash(h) for h in new] == drawn  # the staged salts were stored


def test_an_entry_naming_many_holders_is_found_under_each(log: AuditLog) -> None:
    log.append(AuditEvent(action="cert.issue_bulk", actor="t", outcome="ok", subjects=HOLDERS))
    log.subjects._cache.clear()
    seq, _ = log.append(
        AuditEvent(action="cert.issue_bulk", actor="t", outcome="ok", subjects=HOLDERS)
    )
    log.wait_indexed()
    for holder in (HOLDERS[0], HOLDERS[-1]):
        found = log.store.fetchall(
            "SELECT seq FROM audit_entries WHERE subject_hash = ? UNION "
            "SELECT seq FROM audit_subjects WHERE subject_hash = ?",
            [log.subjects.hash(holder)] * 2,
        )
        assert seq in {row[0] for row in found}


def test_the_subject_search_finds_an_entry_under_its_first_and_its_further_subjects(
    log: AuditLog,
) -> None:
    """``search`` and ``count`` by subject (online: the union of audit_entries and
    audit_subjects) find an entry under each holder it names, and not under others."""
    first, *further = HOLDERS[:3]
    seq, _ = log.append(
        AuditEvent(action="cert.issue", actor="t", outcome="ok", subject=first, subjects=further)
    )
    other, _ = log.append(
        AuditEvent(action="cert.issue", actor="t", outcome="ok", subject=HOLDERS[5])
    )
    log.wait_indexed()
    for holder in HOLDERS[:3]:
        flt = EntryFilter(subject_hash=log.subjects.hash(holder))
        assert [e.entry.seq for e in search(log.store, flt, Scope.everything())] == [seq]
        assert count(log.store, flt, Scope.everything()) == 1
    flt = EntryFilter(subject_hash=log.subjects.hash(HOLDERS[5]))
    assert [e.entry.seq for e in search(log.store, flt, Scope.everything())] == [other]
