"""The README's Performance table is written from a run's figures, between markers only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.figures import Figure
from bench.readme import BEGIN, END, render, write

FIGURES = [
    Figure(
        "P4",
        "verify | one",
        3641.2,
        "verifications/s",
        "raw Ed25519",
        8329.0,
        0.437,
        "≥ 5,000/s",
        False,
        note="best of rounds",
    ),
    Figure("P8", "fresh demo", 3.14, "s", "import", 0.8, 3.9, "≤ 60 s", True),
]


def test_the_table_shows_each_figure_beside_its_peer_and_says_what_was_missed() -> None:
    text = render(FIGURES, mode="full", when=datetime(2026, 11, 24, tzinfo=UTC))
    assert text.startswith(BEGIN)
    assert text.endswith(END)
    assert "`govex bench --full`, 2026-11-24" in text
    assert (
        "| P4 | verify \\| one | 3,641 verifications/s | raw Ed25519: 8,329 "
        "verifications/s | 0.44 | ≥ 5,000/s | **no** |"
    ) in text
    assert "| P8 | fresh demo | 3.14 s | import: 0.80 s | 3.90 | ≤ 60 s | yes |" in text
    assert "- **P4** — best of rounds" in text


def test_write_replaces_only_the_marked_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n\n{BEGIN}\nold table\n{END}\n\n## after\n", "utf-8")
    write(readme, FIGURES, mode="quick")
    text = readme.read_text("utf-8")
    assert text.startswith("# intro\n\n" + BEGIN)
    assert text.endswith(END + "\n\n## after\n")
    assert "old table" not in text
    assert "| P8 |" in text
    write(readme, FIGURES[:1], mode="quick")  # a second run replaces, never appends
    assert readme.read_text("utf-8").count(BEGIN) == 1
    assert "| P8 |" not in readme.read_text("utf-8")


def test_a_readme_without_markers_is_refused_not_guessed(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n", "utf-8")
    with pytest.raises(ValueError, match="no bench block"):
        write(readme, FIGURES, mode="full")
    assert readme.read_text("utf-8") == "# no block here\n"
