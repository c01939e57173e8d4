"""The API app factory: the API does not import its console, nor the console the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from exchange.service import Exchange


def _modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(out.stdout.split())


def test_the_api_does_not_import_the_console() -> None:
    loaded = _modules_loaded_by("exchange.api.app")
    assert "exchange.web" not in loaded


def test_the_console_does_not_import_the_demo_package() -> None:
    loaded = _modules_loaded_by("exchange.server, exchange.web.routes.signin")
    assert not {m for m in loaded if m.startswith("exchange.demo")}


def test_the_demo_picker_offers_only_departments_with_a_demo_key(
    exchange: Exchange, client: TestClient
) -> None:
    """The picker's list comes from the exchange (which departments have demo keys)."""
    key = Path(exchange.settings.data) / "demo-keys" / "minzheng.auth.pem"
    assert 'value="minzheng"' in client.get("/console/login").text
    key.rename(key.with_suffix(".gone"))
    try:
        page = client.get("/console/login").text
        assert 'value="minzheng"' not in page
        assert 'value="gongan"' in page
    finally:
        key.with_suffix(".gone").rename(key)
