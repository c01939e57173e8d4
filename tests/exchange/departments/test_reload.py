"""The in-memory departments (and staff) are read again once a transaction that changed
them has ended: a change rolled back leaves no trace in memory (a cluster node applies a
control event in one transaction, and reloads within it). Fails when a reload within a
transaction is the last one."""

from __future__ import annotations

import pytest

from exchange.service import Exchange


def test_a_suspension_rolled_back_is_not_kept_in_memory(exchange: Exchange) -> None:
    store, registry = exchange.store, exchange.registry
    uscc = registry.by_code("renshe").uscc

    def suspended_then_undone() -> None:
        with store.transaction():
            store.execute("UPDATE departments SET state = 'suspended' WHERE uscc = ?", [uscc])
            registry.reload()
            assert not registry.is_active(uscc)  # within it, its own change is seen
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        suspended_then_undone()
    assert registry.is_active(uscc)


def test_a_staff_change_rolled_back_is_not_kept_in_memory(exchange: Exchange) -> None:
    store, staff = exchange.store, exchange.staff
    uscc = exchange.registry.by_code("renshe").uscc

    def required_then_undone() -> None:
        with store.transaction():
            store.execute(
                "INSERT OR REPLACE INTO department_settings VALUES (?, true, now())",
                [uscc],
            )
            staff.reload()
            assert staff.requires_act(uscc)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        required_then_undone()
    assert not staff.requires_act(uscc)
