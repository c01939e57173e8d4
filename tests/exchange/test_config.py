"""Settings: a ``GOVEX_<SECTION>__<FIELD>`` variable that names no setting is reported
(a typo, or a setting since removed, would otherwise be ignored without a word), and
every such variable the documentation names is a setting."""

from __future__ import annotations

import re
from pathlib import Path

from exchange.config import unknown_settings

_ROOT = Path(__file__).resolve().parents[2]


def test_a_misspelt_or_removed_nested_setting_is_reported() -> None:
    lines = unknown_settings(
        {
            "GOVEX_API__MAX_BODY_BYTE": "1",  # one letter short
            "GOVEX_AUDIT__INDEX_WORKER": "process",  # a setting of an earlier version
            "GOVEX_NOPE__X": "1",  # no such section
            "GOVEX_API__MAX_BODY_BYTES": "1",  # a setting
            "govex_api__fast_read": "1",  # a setting, in any case
            "GOVEX_KAFKA__PASSWORD": "x",
            "GOVEX_URL": "http://x",  # the CLI's own options are not nested
            "GOVEX_KEY_PASSPHRASE": "x",
            "PATH": "/bin",
        }
    )
    assert lines == [
        "GOVEX_API__MAX_BODY_BYTE is not a govex setting and is ignored; "
        "did you mean GOVEX_API__MAX_BODY_BYTES?",
        "GOVEX_AUDIT__INDEX_WORKER is not a govex setting and is ignored (README: Configuration)",
        "GOVEX_NOPE__X is not a govex setting and is ignored (README: Configuration)",
    ]


def test_every_nested_setting_the_documentation_names_is_a_setting() -> None:
    texts = [_ROOT / "README.md", *sorted((_ROOT / "docs").rglob("*.md"))]
    named = {
        name
        for path in texts
        for name in re.findall(r"GOVEX_[A-Z0-9]+__[A-Z0-9_]*[A-Z0-9]", path.read_text("utf-8"))
    }
    assert len(named) > 30  # the README's Configuration table
    assert unknown_settings(dict.fromkeys(named, "")) == []
