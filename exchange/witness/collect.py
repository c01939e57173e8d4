"""The exchange asks its witnesses for cosignatures after each signed checkpoint.

Configured by ``GOVEX_AUDIT__WITNESSES``, a JSON list of ``{"url": …, "vkey": …}``: the
witness's submission prefix and its cosigner key (type 0x04). :meth:`WitnessCollector.submit`
only queues the checkpoint; a daemon thread posts it to each witness
(c2sp.org/tlog-witness ``add-checkpoint``) with the consistency proof from the size
that witness last cosigned, learns that size from a ``409 text/x.tlog.size`` answer
and retries once, then stores the cosignature through
:meth:`exchange.audit.checkpoints.Checkpointer.add_cosignature` (which keeps only a
verified one, one per key). Every failure is logged and counted; the log never waits.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from exchange.audit.checkpoints import Checkpointer, StoredCheckpoint
from exchange.config import WitnessEndpoint
from exchange.errors import ExchangeError
from signing.cosignature import CosignatureVerifier
from signing.errors import SigningError

__all__ = ["ConfiguredWitness", "WitnessCollector"]

logger = logging.getLogger("govex.audit")
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class ConfiguredWitness:
    """A witness the exchange asks: its submission prefix and cosigner key."""

    url: str
    verifier: CosignatureVerifier

    @classmethod
    def of(cls, endpoint: WitnessEndpoint) -> ConfiguredWitness:
        return cls(endpoint.url.rstrip("/"), CosignatureVerifier.from_vkey(endpoint.vkey))


class WitnessCollector:
    """Collects cosignatures from ``witnesses`` for each checkpoint ``checkpoints`` signs."""

    def __init__(
        self,
        checkpoints: Checkpointer,
        witnesses: Sequence[ConfiguredWitness],
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self.checkpoints = checkpoints
        self.witnesses = list(witnesses)
        self.timeout_s = timeout_s
        self._sizes: dict[str, int] = {}  # the size each witness last cosigned
        self._queue: queue.Queue[StoredCheckpoint | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.collected = 0  # cosignatures stored
        self.failures = 0  # witness calls that failed (each logged)

    def start(self) -> WitnessCollector:
        if self._thread is None and self.witnesses:
            self._thread = threading.Thread(
                target=self._loop, name="govex-audit-witnesses", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=2 * self.timeout_s * max(1, len(self.witnesses)))
            self._thread = None

    def submit(self, stored: StoredCheckpoint) -> None:
        """Queue a newly signed checkpoint (the ``on_signed`` hook); never blocks."""
        self._queue.put(stored)

    def _loop(self) -> None:
        while (stored := self._queue.get()) is not None:
            while not self._queue.empty():  # only the newest checkpoint matters
                newer = self._queue.get()
                if newer is None:
                    return
                stored = newer if newer.size > stored.size else stored
            self.collect(stored)

    def collect(self, stored: StoredCheckpoint) -> int:
        """Ask every witness now; return how many cosignatures were stored."""
        stored_now = 0
        with httpx.Client(timeout=self.timeout_s) as http:
            for witness in self.witnesses:
                try:
                    stored_now += self._ask(http, witness, stored)
                except (httpx.HTTPError, ExchangeError, SigningError, ValueError) as exc:
                    self.failures += 1
                    logger.warning(
                        "witness %s did not cosign the checkpoint of size %d: %s",
                        witness.url, stored.size, exc,
                    )  # fmt: skip
        self.collected += stored_now
        return stored_now

    def _ask(self, http: httpx.Client, witness: ConfiguredWitness, stored: StoredCheckpoint) -> int:
        old = self._sizes.get(witness.url, 0)
        for _ in range(2):
            if old > stored.size:
                raise ValueError(f"the witness has already cosigned size {old}")
            proof = self.checkpoints.log.consistency_proof(old, stored.size) if old else []
            body = f"old {old}\n" + "".join(f"{base64.b64encode(h).decode()}\n" for h in proof)
            r = http.post(f"{witness.url}/add-checkpoint", content=f"{body}\n{stored.note}")
            if r.status_code == 409 and r.headers.get("content-type", "").startswith(SIZE_TYPE):
                old = int(r.text.strip())
                self._sizes[witness.url] = old
                continue
            if r.status_code != 200:
                raise ValueError(f"HTTP {r.status_code}: {r.text.strip()[:200]}")
            self.checkpoints.add_cosignature(stored.note + r.text, witness.verifier)
            self._sizes[witness.url] = stored.size
            return 1
        raise ValueError("the witness's size kept changing")
