"""``govex staff …`` while ``govex serve`` runs: every command through the admin socket,
its effect on the running exchange at once (enrolment, act claims, require-act)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.exchange.admin.test_channel import SOCKET_SAYS, govex, ours
from tests.support.serve import govex_serve

pytestmark = pytest.mark.slow  # each command is a process of its own
PASSWORD = "correct horse battery staple"
LICENCE = "/v1/resources/shichang.business_licence/records"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    data = tmp_path_factory.mktemp("staff-ops") / "data"
    done = govex("init", "--data", data, "--demo")
    assert done.returncode == 0, done.stderr
    with govex_serve(data) as server:
        yield data, server.url


def _staff(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = govex("-v", "staff", *args, "--data", data)
    assert done.returncode == 0, done.stderr
    assert SOCKET_SAYS in done.stderr, done.stderr
    return done


def _code(done: subprocess.CompletedProcess[str], staff_id: str) -> str:
    found = re.search(rf"enrolment code for {staff_id}: ([0-9A-F-]{{19}})", done.stdout)
    assert found is not None, done.stdout
    return found.group(1)


def _enrol(url: str, staff_id: str, code: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/console/enrol")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf is not None, page.text
        done = client.post(
            "/console/enrol",
            data={"csrf": csrf.group(1), "staff_id": staff_id, "code": code, "password": PASSWORD},
        )
    assert done.status_code == 200, done.text


def _token(data: Path, *staff: str) -> subprocess.CompletedProcess[str]:
    return govex("token", "--data", data, "--dept", "budongchan", *staff)


def _read(url: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{url}{LICENCE}/91411500MA0000000X",
        params={"purpose": "staff.ops", "case": "OPS-1"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_staff_commands_work_while_serve_runs(served: tuple[Path, str]) -> None:
    data, url = served
    added = _staff(
        data, "add", "--dept", "budongchan", "--staff-id", "bdc-ops", "--name", "李娜",
        "--roles", "clerk",
    )  # fmt: skip
    _enrol(url, "bdc-ops", _code(added, "bdc-ops"))  # the running exchange knows them at once
    listed = _staff(data, "list", "--dept", "budongchan")
    assert re.search(r"bdc-ops\s+│?\s*李娜\s+│?\s*clerk\s+│?\s*active", listed.stdout), (
        listed.stdout
    )

    named = _token(data, "--staff", "bdc-ops")
    assert named.returncode == 0, named.stderr
    plain = _token(data)
    assert plain.returncode == 0, plain.stderr
    assert _read(url, named.stdout.strip()).status_code == 404  # not found, read allowed

    _staff(data, "require-act", "--dept", "budongchan", "on")
    refused = _read(url, plain.stdout.strip())
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "exchange.act_required"
    assert "require-act on" in _staff(data, "list", "--dept", "budongchan").stdout

    off = _staff(data, "disable", "--dept", "budongchan", "--staff-id", "bdc-ops")
    assert "bdc-ops (李娜) is disabled" in off.stdout
    stopped = _read(url, named.stdout.strip())  # the token issued before stops at once
    assert stopped.status_code == 401, stopped.text
    assert stopped.json()["code"] == "exchange.invalid_act"
    again = _token(data, "--staff", "bdc-ops")
    assert again.returncode != 0
    assert [line[:28] for line in ours(again.stderr)] == ["error [exchange.invalid_act]"]

    reset = _staff(data, "reset", "--dept", "budongchan", "--staff-id", "bdc-ops")
    on = _staff(data, "enable", "--dept", "budongchan", "--staff-id", "bdc-ops")
    assert "bdc-ops (李娜) is pending" in on.stdout  # enrols again with the new code
    _enrol(url, "bdc-ops", _code(reset, "bdc-ops"))
    assert _read(url, _token(data, "--staff", "bdc-ops").stdout.strip()).status_code == 404

    trail = govex("audit", "trace", "--data", data, "--dept", "local-operator", "--limit", "1000")
    for action in ("admin.staff.add", "admin.staff.status", "admin.staff.require_act"):
        assert action in trail.stdout, trail.stdout


def test_a_refused_staff_command_is_one_line_through_the_socket(served: tuple[Path, str]) -> None:
    data, _url = served
    for args, code in (
        (["add", "--dept", "budongchan", "--staff-id", "x1", "--name", "x", "--roles", "cook"],
         "exchange.invalid_staff_role"),
        (["disable", "--dept", "budongchan", "--staff-id", "nobody"], "exchange."),
        (["list", "--dept", "no-such-department"], "exchange."),
    ):  # fmt: skip
        done = govex("staff", *args, "--data", data)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        lines = ours(done.stderr)
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error [{code}"), lines[0]


def test_an_operator_department_lists_staff_over_url(
    served: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.demo.setup import demo_departments

    data, url = served
    uscc = next(d.uscc for d in demo_departments() if d.code == "dashuju")
    key = data / "demo-keys" / "dashuju.auth.pem"
    monkeypatch.setenv("GOVEX_KEY_PASSPHRASE", "govex-demo-only")
    remote = ["--url", url, "--uscc", uscc, "--key", str(key)]
    done = govex("-v", *remote, "staff", "list", "--dept", "budongchan", "--json")
    assert done.returncode == 0, done.stderr
    assert f"through the exchange at {url}" in done.stderr
    assert isinstance(json.loads(done.stdout)["staff"], list)


def test_staff_oidc_through_the_socket_offers_the_departments_sign_in_at_once(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = served
    secret = tmp_path / "secret"
    secret.write_text("s3cret-of-the-idp\n", encoding="utf-8")
    issuer = "https://idp.budongchan.example.gov.cn"
    done = _staff(
        data, "oidc", "--dept", "budongchan", "--issuer", issuer, "--client-id", "govex",
        "--client-secret-file", str(secret), "--staff-claim", "employee_no",
    )  # fmt: skip
    assert f"staff sign in through {issuer}" in done.stdout
    assert "claim employee_no, secret set" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    page = httpx.get(f"{url}/console/login", timeout=30).text  # the running exchange, at once
    assert "通过本单位统一身份认证登录" in page
    assert "/console/login/oidc?dept=budongchan" in page
    trail = govex("audit", "trace", "--data", data, "--dept", "local-operator", "--limit", "1000")
    assert "admin.staff.oidc" in trail.stdout
    exported = govex("audit", "export", "--data", data, "--out", tmp_path / "log.jsonl")
    assert exported.returncode == 0, exported.stderr
    assert "s3cret" not in (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    for args, code in (
        (["--issuer", "http://idp.example.com", "--client-id", "govex"], "exchange.invalid_option"),
        (["--client-id", "govex"], "exchange.invalid_option"),
        (["--issuer", issuer, "--client-id", "x", "--client-secret-file", str(tmp_path / "no")],
         "exchange.invalid_option"),
    ):  # fmt: skip
        refused = govex("staff", "oidc", "--dept", "budongchan", *args, "--data", data)
        assert refused.returncode != 0
        lines = ours(refused.stderr)
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith(f"error [{code}"), lines[0]
    off = _staff(data, "oidc", "--dept", "budongchan", "--off")
    assert "staff sign in with passwords" in off.stdout
    assert "/console/login/oidc?dept=budongchan" not in httpx.get(f"{url}/console/login").text
