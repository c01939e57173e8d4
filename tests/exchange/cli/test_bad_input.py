"""Bad input to ``govex`` (issue 19, items 9 and 11): one clear line, a non-zero exit,
nothing done."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.config import Settings
from exchange.service import Exchange

pytestmark = pytest.mark.slow

MATTER = "budongchan.new_commercial_housing_transfer"


def govex(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def ours(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if any(line.startswith("nanobind:") for line in lines):
        lines = lines[: next(i for i, x in enumerate(lines) if x.startswith("nanobind:"))]
    return lines


def one_clear_line(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = ours(done.stderr)
    assert len(lines) == 1, done.stderr
    assert says in lines[0], lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input") / "city"
    assert govex("init", "--data", folder, "--demo").returncode == 0
    return folder


def _certificates(data: Path) -> int:
    with Exchange.open(Settings(data=data)) as exchange:
        row = exchange.store.fetchone("SELECT count(*) FROM certificates")
    return int(row[0]) if row else 0


def test_serve_refuses_a_port_that_is_not_one(data: Path) -> None:
    done = govex("serve", "--data", data, "--port", "99999")
    one_clear_line(done, "--port 99999 is not a TCP port")
    assert "serving" not in done.stdout


def test_serve_refuses_a_port_in_use_before_saying_it_serves(data: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = govex("serve", "--data", data, "--port", str(port))
    one_clear_line(done, f"cannot listen on 127.0.0.1:{port}")
    assert "serving" not in done.stdout


def test_a_stopped_exchange_shows_each_retry_then_one_error(data: Path, tmp_path: Path) -> None:
    sample = Path("exchange/demo/samples/gongan_resident_id_cards.toml").resolve()
    text = sample.read_text("utf-8")
    text = text.replace('path = "', f'path = "{sample.parent}/', 1)
    assert "[publish]" not in text
    config = tmp_path / "gongan.toml"
    config.write_text(text + "\n[publish]\nretry_deadline_s = 1.5\n", "utf-8")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = govex(
        "connector", "run", config, "--exchange", f"http://127.0.0.1:{port}",
        "--outbox", tmp_path / "outbox.sqlite",
        env={"GOVEX_DATA": str(data), "GOVEX_CONNECTOR_KEY_PASSPHRASE": "govex-demo-only"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = ours(done.stderr)
    retries = [line for line in lines if line.startswith("retrying in ")]
    assert retries, done.stderr
    assert all(f"127.0.0.1:{port}" in line for line in retries)
    assert lines[-1].startswith("error"), lines


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        (["--subject", "411503198012147597"], "check character"),
        (["--subject", "not-an-id"], "neither a valid ID number nor a valid USCC"),
        (["--case", "BDC-2099-999999"], "no such case"),
        (["--dept", "nobody"], "no such department"),
    ],
)
def test_audit_trace_refuses_what_names_nothing(data: Path, selector: list[str], says: str) -> None:
    one_clear_line(govex("audit", "trace", "--data", data, *selector), says)


def test_audit_trace_takes_a_department_code(data: Path) -> None:
    done = govex("audit", "trace", "--data", data, "--dept", "gongan")
    assert done.returncode == 0, done.stderr
    assert "\tgongan\tpublish\t" in done.stdout


def test_case_resolve_refuses_an_undefined_role_and_keeps_the_case_number(data: Path) -> None:
    from exchange.demo.case import couple_applicants
    from exchange.demo.city import generate_city

    applicants = [f"{a['role']}:{a['id']}" for a in couple_applicants(generate_city(), 0)]
    wrong = ["--applicant", "seller:" + applicants[0].split(":", 1)[1]]
    base = ["case", "resolve", "--data", data, "--matter", MATTER, "--case", "BDC-T-000001"]
    one_clear_line(govex(*base, *wrong), "no applicant role 'seller'")
    right = [x for a in applicants for x in ("--applicant", a)]
    done = govex(*base, *right)
    assert done.returncode == 0, done.stderr  # the number was not taken by the refusal


def test_cert_issue_checks_its_output_before_issuing(data: Path, tmp_path: Path) -> None:
    subject = tmp_path / "s.json"
    subject.write_text(
        '{"holder_name":"赵浩然","holder_code":"411503198012147596",'
        '"holder_code_type":"citizen_id","sex":"1","ethnicity":"01","birth_date":"1980-12-14",'
        '"address":"信阳市","issuing_authority":"信阳市公安局"}',
        "utf-8",
    )
    before = _certificates(data)
    done = govex(
        "cert", "issue", "--data", data, "--issuer", "gongan", "--type", "resident_id_card",
        "--subject", subject, "--out", tmp_path / "missing" / "x.json",
    )  # fmt: skip
    one_clear_line(done, "does not exist")
    assert _certificates(data) == before


def test_backup_refuses_a_missing_folder_and_creates_none(data: Path, tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "dir"
    one_clear_line(govex("backup", "--data", data, "--out", target / "x.tar.gz"), "does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_bench_refuses_an_unknown_figure() -> None:
    one_clear_line(govex("bench", "--only", "p99"), "no such figure")


def _connector_config(tmp_path: Path, **replace: str) -> Path:
    """The demo's 公安 connector config, its CSV path absolute, with ``replace`` applied."""
    sample = Path("exchange/demo/samples/gongan_resident_id_cards.toml").resolve()
    text = sample.read_text("utf-8").replace('path = "', f'path = "{sample.parent}/', 1)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    config = tmp_path / "gongan.toml"
    config.write_text(text, "utf-8")
    return config


CONNECTOR_ENV = {"GOVEX_CONNECTOR_KEY_PASSPHRASE": "govex-demo-only"}


def test_connector_run_refuses_a_since_that_is_no_watermark_before_it_connects(
    data: Path, tmp_path: Path
) -> None:
    config = _connector_config(tmp_path)
    outbox = tmp_path / "outbox.sqlite"
    for since in ("yesterday", "2026-13-45"):
        done = govex(
            "connector", "run", config, "--exchange", "http://127.0.0.1:9", "--outbox", outbox,
            "--since", since,
            env={"GOVEX_DATA": str(data), **CONNECTOR_ENV},
        )  # fmt: skip
        one_clear_line(done, f"--since {since!r} is neither a number nor a date/time")
    assert not outbox.exists()


@pytest.mark.parametrize(
    ("uscc", "seal", "says"),
    [
        ("1141150000000102X4", "gongan", "gongan.resident_id_card belongs to gongan"),
        ("11411500000009999X", "gongan", "is not a department of this exchange"),
        ("11411500000001011C", "minzheng", "is not gongan's active seal key"),
    ],
)
def test_connector_check_names_a_department_that_does_not_own_the_resource_or_its_key(
    data: Path, tmp_path: Path, uscc: str, seal: str, says: str
) -> None:
    config = _connector_config(
        tmp_path,
        **{
            'uscc = "11411500000001011C"': f'uscc = "{uscc}"',
            "demo-keys/gongan.seal.pem": f"demo-keys/{seal}.seal.pem",
        },
    )
    done = govex(
        "connector", "check", config, "--data", data, env={"GOVEX_DATA": str(data), **CONNECTOR_ENV}
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    head, *problems = ours(done.stderr)
    assert head == f"{config}: {len(problems)} problem(s)"
    assert any(says in p for p in problems), problems


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        (
            "GOVEX_API__FAST_READ",
            "maybe",
            "GOVEX_API__FAST_READ='maybe': Input should be",
        ),
        (
            "GOVEX_AUDIT__GROUP_COMMIT_MAX",
            "abc",
            "GOVEX_AUDIT__GROUP_COMMIT_MAX='abc': Input should",
        ),
    ],
)
def test_a_setting_that_cannot_be_read_is_named_in_one_line(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    """A ``GOVEX_…`` setting pydantic refuses: the variable as it is set and why, in one line
    (not pydantic's report over several lines), and nothing is made."""
    done = govex("init", "--demo", "--data", tmp_path / "city", env={name: value})
    one_clear_line(done, says)
    assert not (tmp_path / "city").exists()
