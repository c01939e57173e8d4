"""Many signatures on every core: a pool of signer processes.

Ed25519 signing in ``cryptography`` holds the GIL, so threads do not sign in parallel;
worker processes do. A :class:`SigningPool` signs a run of messages with one key, split
into one slice per worker, and hands back the base58btc proof values in the order of the
messages, the same as :func:`sign_encoded` makes in this process. The key travels to a
worker with each slice as its private bytes over the pool's pipe (never to disk); a
worker keeps the few keys it has loaded. The workers are forked by multiprocessing's fork
server (never from the parent itself, which may hold threads and open databases) on first
use and live until :meth:`close`.

The workers of an :class:`OwnedExecutor` (this pool's, and the audit verifier's) exit when
the process that made them is gone, even when it was killed without a word: each worker
watches the read end of a pipe whose only write end that process holds, and leaves at its
end of file. (A worker's parent is the fork server, not that process, so neither
``os.getppid()`` nor Linux's ``PR_SET_PDEATHSIG`` would see it die; and the fork server
itself lives as long as any worker it forked, since each holds its "alive" pipe.) Once the
workers are gone the fork server and the resource tracker see their own pipes close and
exit too.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .algorithms import PrivateKey, algorithm_of, sign
from .gm.sm2 import SM2PrivateKey
from .multibase import encode_base58btc

__all__ = ["OwnedExecutor", "SigningPool", "cores", "sign_encoded"]

_Kind = Literal["Ed25519", "ES256", "SM2"]
_Blob = tuple[_Kind, bytes]
_loaded: dict[_Blob, PrivateKey] = {}  # in a worker: the keys it has been sent


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def sign_encoded(key: PrivateKey, messages: list[bytes]) -> list[str]:
    """The base58btc multibase signature (a proof value) of each message, in order."""
    return [encode_base58btc(sign(key, m)) for m in messages]


def _blob(key: PrivateKey) -> _Blob:
    """The key as bytes a worker can load again."""
    kind = algorithm_of(key)
    if isinstance(key, SM2PrivateKey):
        return kind, key.pkcs8_der()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw
        return kind, key.private_bytes(*raw, serialization.NoEncryption())
    der = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8
    return kind, key.private_bytes(*der, serialization.NoEncryption())


def _load(blob: _Blob) -> PrivateKey:
    kind, data = blob
    if kind == "SM2":
        return SM2PrivateKey.from_pkcs8_der(data)
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(data)
    key = serialization.load_der_private_key(data, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _sign_slice(blob: _Blob, messages: list[bytes]) -> list[str]:
    """In a worker: sign a slice of the messages."""
    key = _loaded.get(blob)
    if key is None:
        if len(_loaded) >= 8:
            _loaded.clear()
        key = _loaded[blob] = _load(blob)
    return sign_encoded(key, messages)


def _leave_with_owner(owner: Connection) -> None:
    """In a worker, first thing: leave as soon as the owner's end of ``owner`` closes."""

    def watch() -> None:
        try:
            owner.poll(None)  # nothing is ever sent: this returns at end of file
        finally:
            os._exit(0)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


class OwnedExecutor(ProcessPoolExecutor):
    """A process pool of the fork server whose workers exit when this process is gone.

    The pipe's write end stays here (not inheritable, sent to no one) and is closed once
    :meth:`shutdown` has waited for the workers (with ``wait=False``, by a thread that
    waits), or when the executor is collected."""

    def __init__(self, workers: int) -> None:
        reader, self._owner = multiprocessing.Pipe(duplex=False)
        super().__init__(
            workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_leave_with_owner,
            initargs=(reader,),
        )
        self._reader = reader  # sent to each worker as it starts (workers start lazily)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # the thread that joins the workers once the work queued is done (the base class
        # lets go of it in shutdown)
        manager: threading.Thread | None = getattr(self, "_executor_manager_thread", None)
        super().shutdown(wait, cancel_futures=cancel_futures)
        if wait or manager is None:
            self._close()
        else:  # closed when the work queued is done (not when the executor is collected)
            threading.Thread(
                target=self._close_after, args=(manager,), name="owned-pool", daemon=True
            ).start()

    def _close_after(self, manager: threading.Thread) -> None:
        manager.join()
        self._close()

    def _close(self) -> None:
        self._owner.close()
        self._reader.close()


class SigningPool:
    """``workers`` signer processes, started on first use."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a signing pool needs at least one worker")
        self.workers = workers
        self._executor: OwnedExecutor | None = None

    def submit(self, key: PrivateKey, messages: list[bytes]) -> Callable[[], list[str]]:
        """Start signing ``messages``; the returned call waits for their proof values
        (in order) and raises what a worker raised."""
        if self._executor is None:
            self._executor = OwnedExecutor(self.workers)
        blob = _blob(key)
        step = -(-len(messages) // self.workers) or 1
        parts: list[Future[list[str]]] = [
            self._executor.submit(_sign_slice, blob, messages[i : i + step])
            for i in range(0, len(messages), step)
        ]

        def gather() -> list[str]:
            return [value for part in parts for value in part.result()]

        return gather

    def close(self) -> None:
        """Stop the workers (a later :meth:`submit` starts them again)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
