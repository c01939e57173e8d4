"""`govex connector …` as a user runs it: real subprocesses, a real served exchange."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exchange.cli.connector import SAMPLES
from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.samples.generate import BAD_ROWS, CSV_FILE
from exchange.demo.setup import create_demo
from tests.support import free_port

ID_CARDS = SAMPLES / "gongan_resident_id_cards.toml"


def govex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    create_demo(Settings(data=data)).close()
    return data


def env_of(data: Path) -> dict[str, str]:
    return {"GOVEX_DATA": str(data), "GOVEX_CONNECTOR_KEY_PASSPHRASE": DEMO_PASSPHRASE}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`govex serve` on a fresh demo exchange, as a subprocess."""
    data = tmp_path / "served"
    create_demo(Settings(data=data)).close()
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.1)
    yield url, data
    process.terminate()
    process.wait(timeout=60)


def test_check_validates_a_sample_config_against_the_catalog_and_its_source(demo: Path) -> None:
    result = govex("connector", "check", str(ID_CARDS), env=env_of(demo))
    assert result.returncode == 0, result.stderr
    assert "OK — gongan-resident-id-cards maps 9 field(s) onto gongan.resident_id_card" in (
        result.stdout
    )


def test_check_lists_every_problem_in_plain_words(tmp_path: Path) -> None:
    config = ID_CARDS.read_text(encoding="utf-8")
    config = config.replace('name = "姓名"', 'nickname = "姓名"')
    config = config.replace('address = "住址"', 'address = "住所"')
    config = config.replace(
        'path = "gongan_resident_id_cards.csv"', f'path = "{SAMPLES}/{CSV_FILE}"'
    )
    path = tmp_path / "bad.toml"
    path.write_text(config, encoding="utf-8")
    result = govex("connector", "check", str(path))
    assert result.returncode == 1
    assert "field 'nickname' is not in gongan.resident_id_card" in result.stderr
    assert "required field 'name' (姓名) is not mapped" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_a_source_column_that_does_not_exist(tmp_path: Path) -> None:
    config = ID_CARDS.read_text(encoding="utf-8")
    config = config.replace('address = "住址"', 'address = "住所"')
    config = config.replace(
        'path = "gongan_resident_id_cards.csv"', f'path = "{SAMPLES}/{CSV_FILE}"'
    )
    path = tmp_path / "bad.toml"
    path.write_text(config, encoding="utf-8")
    result = govex("connector", "check", str(path))
    assert result.returncode == 1
    assert "column '住所' is not in the source (it has: 公民身份号码, 姓名" in result.stderr


def test_run_needs_exactly_one_target(demo: Path) -> None:
    result = govex("connector", "run", str(ID_CARDS), env=env_of(demo))
    assert result.returncode == 1
    assert "give exactly one of --exchange URL or --bus kafka://HOST:PORT" in result.stderr


def test_a_dry_run_reports_what_would_be_refused_and_publishes_nothing(
    demo: Path, tmp_path: Path
) -> None:
    result = govex("connector", "run", str(ID_CARDS), "--dry-run", env=env_of(demo))
    assert result.returncode == 3
    for line in BAD_ROWS[CSV_FILE]:
        assert f"refused: line {line}" in result.stdout
    assert "5 row(s) would be refused" in result.stdout


def test_a_gbk_csv_with_bad_rows_publishes_every_good_row_over_http_and_exits_3(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = served
    result = govex(
        "connector", "run", str(ID_CARDS), "--exchange", url,
        "--outbox", str(tmp_path / "o.sqlite"),
        env=env_of(data),
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert re.search(r"accepted by the exchange\s+│\s+400\b", result.stdout), result.stdout
    reasons = {
        9: "check character should be",
        17: "column 姓名 is empty; name (姓名) is required",
        26: "unknown code 'X'",
        34: "does not match the date format",
        43: "not valid GBK",
    }
    for line, reason in reasons.items():
        (reported,) = [
            x for x in result.stdout.splitlines() if re.search(rf"refused: line {line}\b", x)
        ]
        assert reason in reported
    again = govex(
        "connector", "run", str(ID_CARDS), "--exchange", url,
        "--outbox", str(tmp_path / "o.sqlite"), "--json",
        env=env_of(data),
    )  # fmt: skip
    assert '"published": 0' in again.stdout


def test_an_unreachable_broker_is_one_clear_line_and_the_records_stay_in_the_outbox(
    demo: Path, tmp_path: Path
) -> None:
    config = ID_CARDS.read_text(encoding="utf-8") + "\n[publish]\nretry_deadline_s = 0.5\n"
    config = config.replace(
        'path = "gongan_resident_id_cards.csv"', f'path = "{SAMPLES}/{CSV_FILE}"'
    )
    path = tmp_path / "c.toml"
    path.write_text(config, encoding="utf-8")
    outbox = tmp_path / "o.sqlite"
    result = govex(
        "connector", "run", str(path), "--bus", f"kafka://127.0.0.1:{free_port()}",
        "--outbox", str(outbox),
        env=env_of(demo),
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    *retries, last = lines  # each wait is shown, then the one error line
    assert all(line.startswith("retrying in ") for line in retries), result.stderr
    assert last.startswith("error [exchange.bus_unavailable]: Kafka 127.0.0.1:")
    assert "the records wait in the outbox" in result.stderr
    assert "Traceback" not in result.stderr
    assert outbox.exists()


def test_quarantine_lists_what_the_exchange_refused_and_why(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with create_demo(Settings(data=data)) as exchange:
        exchange.embedded_bus().deliver(b'{"resource": "gongan.resident_id_card", "x": NaN}')
    result = govex("connector", "quarantine", "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert "schema.malformed_json" in result.stdout
    assert "1 quarantined row(s)" in result.stdout


def test_since_and_reset_watermark_start_a_run_where_they_say(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    import json

    url, data = served
    base = ["connector", "run", str(ID_CARDS), "--exchange", url, "--json"]
    base += ["--outbox", str(tmp_path / "o.sqlite")]

    def run(*extra: str) -> dict[str, int]:
        done = govex(*base, *extra, env=env_of(data))
        assert done.returncode == 3, done.stderr  # the sample's bad rows stay refused
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    first = run()
    assert first["published"] == 400
    again = run()  # everything is covered by the watermark but the refused rows
    assert again["skipped"] == first["read"] - again["retried"] - 1  # line 43 has no time
    assert again["published"] == 0
    # the CSV's 更新时间 runs from 2026-01-05 09:01; --since either way, a space or a T
    for since in ("2026-01-05 09:30:00", "2026-01-05T09:30"):
        later = run("--since", since)
        assert 0 < later["skipped"] < again["skipped"], (since, later)
        assert later["already"] > 0  # read again, never sent twice
        assert later["published"] == 0
    reset = run("--reset-watermark")
    assert reset["skipped"] == 0
    assert reset["already"] == 400
    assert reset["published"] == 0
    both = govex(*base, "--since", "1", "--reset-watermark", env=env_of(data))
    assert both.returncode == 1
    assert both.stderr.strip() == "error: give --since or --reset-watermark, not both"
