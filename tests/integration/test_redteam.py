"""RELIABILITY J4: the red team's twelve attacks replayed against a live ``govex serve``.

See :mod:`tests.integration.redteam` for each attack. The test prints a table (one line of
evidence per attack), the J3, J5 and D4 figures the replay measured, and
``J4: attacks replayed N, held N``; it fails on any BREACHED.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.redteam import ATTACKS, run, table


def test_j4_every_attack_of_the_red_team_is_held(tmp_path: Path) -> None:
    findings, figures = run(tmp_path)
    print()
    print(table(findings))
    for name, figure in figures.items():
        print(f"{name}: {figure}")
    held = sum(f.held for f in findings)
    print(f"J4: attacks replayed {len(findings)}, held {held}")
    assert [f.number for f in findings] == [n for n, _, _ in ATTACKS]
    breached = [f for f in findings if not f.held]
    assert not breached, "\n" + table(breached)
