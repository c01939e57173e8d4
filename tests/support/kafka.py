"""A real Apache Kafka broker (one KRaft node on loopback) owned by a test.

``KafkaBroker`` runs ``scripts/kafka.sh run``, which writes the broker's
config, formats its storage once and then *execs* the JVM, so the pid of the
subprocess is the broker's own pid. That is what lets a test break the broker
on purpose: ``pause()`` (SIGSTOP), ``resume()`` (SIGCONT), ``kill()`` (SIGKILL)
and ``restart()`` on the same ports and log dir, so committed data survives.

    with KafkaBroker() as broker:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, ...)

Readiness means a kafka-python admin client listed the topics, within a bound.
The jars come from the cache ``scripts/kafka.sh fetch`` fills; when they cannot
be had (no Maven, no network, no Java) ``KafkaUnavailable`` says why.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from tests.support import LOOPBACK, free_ports

__all__ = ["KAFKA_SCRIPT", "KafkaBroker", "KafkaBrokerError", "KafkaUnavailable", "fetch_jars"]

KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"
"""The one script that knows how to fetch, configure and run the broker."""

_LOG = logging.getLogger(__name__)
_FETCH_TIMEOUT_S = 600.0
_STOP_TIMEOUT_S = 30.0
_POLL_S = 0.2
_STOPPED_STATES = frozenset({"T", "t"})


class KafkaBrokerError(RuntimeError):
    """The broker did not start, did not answer, or did not stop as asked."""


class KafkaUnavailable(KafkaBrokerError):
    """Kafka cannot run on this machine: its jars cannot be fetched or Java is missing."""


def fetch_jars(script: Path = KAFKA_SCRIPT) -> None:
    """Make sure the broker's jars are cached (a no-op without network once they are).

    Raises ``KafkaUnavailable`` with the script's own explanation when they cannot be had.
    """
    if shutil.which("java") is None:
        raise KafkaUnavailable("java is not on PATH: the Kafka broker needs Java 17+")
    try:
        done = subprocess.run(
            ["bash", str(script), "fetch"],
            capture_output=True,
            text=True,
            timeout=_FETCH_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaUnavailable(f"{script.name} fetch could not run: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise KafkaUnavailable(
            f"{script.name} fetch failed (exit {done.returncode}): " + " | ".join(detail)
        )


class KafkaBroker:
    """One Kafka broker process on loopback, with its own ports and temporary dir.

    A context manager: entering fetches the jars if needed, starts the broker
    and waits until it answers; leaving stops it and removes the directory
    (unless the caller passed its own ``directory``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        directory: Path | None = None,
        start_timeout_s: float = 90.0,
        script: Path = KAFKA_SCRIPT,
    ) -> None:
        if port is None or controller_port is None:
            chosen = free_ports(2)
            port = port if port is not None else chosen[0]
            controller_port = controller_port if controller_port is not None else chosen[1]
        self.port = port
        self.controller_port = controller_port
        self.start_timeout_s = start_timeout_s
        self._script = script
        self._owns_directory = directory is None
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- facts ------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def directory(self) -> Path:
        """Where the config, the broker log (``broker.log``) and the data (``logs/``) live."""
        if self._directory is None:
            raise KafkaBrokerError("the broker has not been started yet")
        return self._directory

    @property
    def log_path(self) -> Path:
        """The broker's stdout and stderr, appended across restarts."""
        return self.directory / "broker.log"

    @property
    def pid(self) -> int:
        """The pid of the broker JVM (the subprocess this helper started)."""
        return self._require_process().pid

    @property
    def running(self) -> bool:
        """True while the broker process exists (also while it is paused)."""
        return self._process is not None and self._process.poll() is None

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start the broker and return once a client can list topics."""
        if self.running:
            raise KafkaBrokerError(f"broker already running (pid {self.pid})")
        fetch_jars(self._script)
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="govex-kafka-"))
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap()
        self._process = subprocess.Popen(
            [
                "bash",
                str(self._script),
                "run",
                "--port",
                str(self.port),
                "--controller-port",
                str(self.controller_port),
                "--dir",
                str(self._directory),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a ^C aimed at pytest does not hit the broker
        )
        self.wait_ready(self.start_timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        """Wait (bounded) until a kafka-python admin client lists the topics."""
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            process = self._require_process()
            if process.poll() is not None:
                self._reap()
                raise KafkaBrokerError(
                    f"broker exited with {process.returncode} before it was ready\n"
                    + self.log_tail()
                )
            try:
                _accepts_connections(self.port)
                _list_topics(self.bootstrap)
            except (OSError, KafkaError) as exc:
                last_error = exc
                time.sleep(_POLL_S)
            else:
                return
        raise KafkaBrokerError(
            f"broker on {self.bootstrap} did not answer within {timeout_s:g}s "
            f"(last error: {last_error!r})\n" + self.log_tail()
        )

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered.

        Returns once the kernel reports the process stopped.
        """
        self._signal(signal.SIGSTOP)
        self._await_state(stopped=True)

    def resume(self) -> None:
        """Let a paused broker go on (SIGCONT); returns once it runs again."""
        self._signal(signal.SIGCONT)
        self._await_state(stopped=False)

    @property
    def paused(self) -> bool:
        """True while the broker process is stopped by a signal."""
        return self.running and _process_state(self.pid) in _STOPPED_STATES

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would; the data dir stays."""
        process = self._require_process()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT_S)
        self._reap()

    def stop(self) -> None:
        """Shut the broker down cleanly (SIGTERM), SIGKILL if it takes too long."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused JVM would not see SIGTERM
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _LOG.warning("broker %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=_STOP_TIMEOUT_S)
        self._reap()

    def restart(self) -> None:
        """Start again on the same ports and data dir (stopping cleanly first if running)."""
        self.stop()
        self._process = None
        self.start()

    def close(self) -> None:
        """Stop the broker and remove the directory this helper created."""
        try:
            self.stop()
        finally:
            if self._owns_directory and self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the broker log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, KafkaBrokerError):
            return "(no broker log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"---- last lines of {self.log_path} ----\n{tail}"

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self._process.pid}" if self.running and self._process else "stopped"
        return f"KafkaBroker({self.bootstrap}, {state})"

    # -- internals --------------------------------------------------------------

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise KafkaBrokerError("the broker has not been started")
        return self._process

    def _signal(self, signum: signal.Signals) -> None:
        process = self._require_process()
        if process.poll() is not None:
            raise KafkaBrokerError(f"cannot send {signum.name}: broker exited")
        os.kill(process.pid, signum)

    def _await_state(self, *, stopped: bool) -> None:
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while self.paused is not stopped:
            if time.monotonic() > deadline:
                want = "stopped" if stopped else "running"
                raise KafkaBrokerError(f"broker {self.pid} not {want} after {_STOP_TIMEOUT_S:g}s")
            time.sleep(0.01)

    def _reap(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _process_state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat (R, S, T stopped, t traced, Z ...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return "X"
    return stat.rsplit(")", 1)[1].split()[0]


def _accepts_connections(port: int) -> None:
    """Raise ``OSError`` unless something accepts TCP connections on the port.

    Checked before any kafka-python client connects: kafka-python 3.0.x does not
    close the socket of a refused connection, which ``filterwarnings = error``
    turns into a failure (an unclosed-socket ``ResourceWarning``) at session end.
    """
    with socket.create_connection((LOOPBACK, port), timeout=1.0):
        pass


def _list_topics(bootstrap: str) -> None:
    """One short readiness probe: connect, list topics, close."""
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        bootstrap_timeout_ms=2000,
        reconnect_backoff_max_ms=200,
    )
    try:
        admin.list_topics()
    finally:
        admin.close()
