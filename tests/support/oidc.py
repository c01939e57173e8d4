"""A real OpenID Connect provider for the tests: scripts/oidc.sh (panva's oidc-provider).

:class:`OidcProvider` installs the provider into the cache when needed (``scripts/oidc.sh
install``: npm, pinned by the lockfile), starts it in the foreground on a free loopback
port (``scripts/oidc.sh run``), waits for its discovery document and stops it on exit.
The static clients' redirect URIs are given at start (the staff client's default: the
TestClient's staff callback); the static test citizen's 公民身份号码 is the demo city's
first husband unless ``id_number`` says otherwise; the static test staff member's claim
names :data:`STAFF_ID`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx
import pytest

from tests.support import LOOPBACK, free_ports

ROOT = Path(__file__).resolve().parents[2]
OIDC_SCRIPT = ROOT / "scripts" / "oidc.sh"
CLIENT_ID = "govex-console"
CLIENT_SECRET = "govex-test-secret"
USER = "citizen"
PASSWORD = "citizen-pass"
STAFF_CLIENT_ID = "govex-staff"
STAFF_CLIENT_SECRET = "govex-staff-secret"
STAFF_USER = "clerk"
STAFF_PASSWORD = "clerk-pass"
STAFF_CLAIM = "staff_id"
STAFF_ID = "gongan-oidc-1"
STAFF_NAME = "钱志远"  # the name the provider gives; govex shows its own staff record's
AUDITOR_USER = "auditor"  # a second staff member, whose roles need a second factor
AUDITOR_PASSWORD = "auditor-pass"
AUDITOR_OTP = "246810"  # the provider's static one-time code: "amr" then names "otp"
AUDITOR_ID = "shenji-oidc-1"
START_TIMEOUT_S = 60.0
# the TestClient's origin: where the provider's static client may send browsers back to
TESTCLIENT_CALLBACK = "http://testserver/console/citizen/callback"
TESTCLIENT_STAFF_CALLBACK = "http://testserver/console/login/oidc/callback"


class OidcUnavailable(RuntimeError):
    """The provider cannot be installed or started here (no node, no npm registry)."""


class OidcProvider:
    def __init__(
        self,
        redirect_uris: list[str],
        *,
        id_number: str | None = None,
        staff_redirect_uris: list[str] | None = None,
    ) -> None:
        self.redirect_uris = redirect_uris
        self.staff_redirect_uris = staff_redirect_uris or [TESTCLIENT_STAFF_CALLBACK]
        self.id_number = id_number
        self.port = free_ports(1)[0]
        self.issuer = f"http://{LOOPBACK}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Self:
        install = subprocess.run(
            ["bash", str(OIDC_SCRIPT), "install"],
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if install.returncode != 0:
            raise OidcUnavailable(install.stderr.decode(errors="replace").strip()[-500:])
        env = {
            **os.environ,
            "GOVEX_OIDC_HOST": LOOPBACK,
            "GOVEX_OIDC_CLIENT_ID": CLIENT_ID,
            "GOVEX_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "GOVEX_OIDC_REDIRECT_URIS": ",".join(self.redirect_uris),
            "GOVEX_OIDC_USER": USER,
            "GOVEX_OIDC_PASSWORD": PASSWORD,
            "GOVEX_OIDC_STAFF_CLIENT_ID": STAFF_CLIENT_ID,
            "GOVEX_OIDC_STAFF_CLIENT_SECRET": STAFF_CLIENT_SECRET,
            "GOVEX_OIDC_STAFF_REDIRECT_URIS": ",".join(self.staff_redirect_uris),
            "GOVEX_OIDC_STAFF_USER": STAFF_USER,
            "GOVEX_OIDC_STAFF_PASSWORD": STAFF_PASSWORD,
            "GOVEX_OIDC_STAFF_CLAIM": STAFF_CLAIM,
            "GOVEX_OIDC_STAFF_ID": STAFF_ID,
        }
        if self.id_number:
            env["GOVEX_OIDC_ID_NUMBER"] = self.id_number
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            ["bash", str(OIDC_SCRIPT), "run", "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_ready(self) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        with httpx.Client(timeout=2.0) as http:
            for _ in range(int(START_TIMEOUT_S / 0.2)):
                assert self._process is not None
                if self._process.poll() is not None:
                    raise OidcUnavailable(f"the provider exited: {self.output()[-800:]}")
                try:
                    if http.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                try:
                    self._process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    continue
        raise OidcUnavailable(f"the provider did not answer at {url}: {self.output()[-800:]}")

    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def started_oidc_provider(redirect_uris: list[str]) -> OidcProvider:
    """A started provider (close it after use); a test without node or npm is skipped
    on a developer's machine and fails in CI: oidc tests must run there."""
    provider = OidcProvider(redirect_uris)
    try:
        return provider.__enter__()
    except OidcUnavailable as exc:
        reason = f"OpenID Connect provider unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (oidc tests must run in CI; see scripts/oidc.sh install)")
        pytest.skip(reason)
