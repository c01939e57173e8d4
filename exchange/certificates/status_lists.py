"""The status lists this exchange publishes (Bitstring Status List): allocation, bits, proofs.

Lists come in pairs, revocation ``n`` and suspension ``n + 1``; a certificate gets one
random index in both. ``GET /v1/status-lists/{n}`` serves each list as a credential signed
by the exchange's own ``seal`` key (certified by the root as the status signer), valid for
:data:`STATUS_LIST_VALIDITY`.
"""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from exchange import moment
from exchange.certificates.trust import SealEntry, StatusSnapshot
from exchange.certificates.vocabulary import VC2_CONTEXT, TrustError, key_urn, uscc_urn
from exchange.errors import NotFound
from exchange.keyring import seal_validity
from signing.ca import certificate_from_pem, certificate_to_pem, issue_seal_certificate
from signing.multibase import encode_base64url
from signing.proofs import add_proof, format_created
from signing.purposes import purpose_of
from signing.status_list import MIN_LENGTH, StatusList, StatusPurpose, status_list_credential
from signing.suites import HashName

if TYPE_CHECKING:
    from exchange.keyring import Keyring
    from exchange.store import Store

__all__ = [
    "DIGEST_BYTES",
    "ISSUED_DIGESTS_TYPE",
    "STATUS_LIST_VALIDITY",
    "PublishedLists",
    "issued_digests_credential",
]

ISSUED_DIGESTS_TYPE = "GovexIssuedDigests"
DIGEST_BYTES = 16
"""Each issued certificate's digest is carried truncated to 128 bits (second preimages stay
out of reach; a bundle of a million certificates carries ~21 MB of base64url)."""


def issued_digests_credential(
    url: str, issuer: str, digests: list[str], now: datetime, hash_name: HashName = "sha-256"
) -> dict[str, Any]:
    """The unsigned credential listing (sorted, truncated, concatenated) issued digests, each
    in ``hash_name`` (the exchange's suite hash: ``sha-256/128`` or ``sm3/128``)."""
    packed = b"".join(sorted({bytes.fromhex(d)[:DIGEST_BYTES] for d in digests}))
    return {
        "@context": [VC2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", ISSUED_DIGESTS_TYPE],
        "issuer": issuer,
        "validFrom": format_created(now),
        "credentialSubject": {
            "algorithm": f"{hash_name}/{DIGEST_BYTES * 8}",
            "count": len(packed) // DIGEST_BYTES,
            "digests": encode_base64url(packed),
        },
    }


STATUS_LIST_VALIDITY = timedelta(days=1)
"""How long a signed status list snapshot may be used offline."""

_GROUP_CAPACITY = MIN_LENGTH * 3 // 4
"""Indexes handed out per pair of lists before a new pair opens (random picks stay cheap)."""


class PublishedLists:
    """The status lists this exchange publishes: allocation, live bits, signed credentials.

    Lists come in pairs, revocation ``n`` and suspension ``n + 1``; a certificate gets
    one random index in both. The live bits are what the online verifier reads, so a
    change applies at once; :meth:`credential` signs a list with the exchange's
    ``seal`` key (certified by the root as the status signer) and caches it for the TTL
    or until the list changes.
    """

    def __init__(self, store: Store, keyring: Keyring, *, ttl: timedelta) -> None:
        self.store = store
        self.keyring = keyring
        self.ttl = ttl
        self.base = f"{keyring.identity.issuer}/v1/status-lists/"
        self.lists: dict[int, tuple[StatusPurpose, StatusList]] = {}
        for list_no, purpose, bits in store.fetchall(
            "SELECT list_no, purpose, bits FROM status_lists ORDER BY list_no"
        ):
            encoded = encode_base64url(gzip.compress(bytes(bits), mtime=0))
            kind: StatusPurpose = "revocation" if purpose == "revocation" else "suspension"
            self.lists[int(list_no)] = (kind, StatusList.decode(encoded))
        self.group: int | None = None
        self.used: set[int] = set()
        self._pool: list[int] = []
        self._signed: dict[int, tuple[dict[str, Any], datetime]] = {}
        revocation = [n for n, (p, _) in self.lists.items() if p == "revocation"]
        if revocation:
            self.group = max(revocation)
            rows = store.fetchall(
                "SELECT status_index FROM certificates WHERE revocation_list = ?", [self.group]
            )
            self.used = {int(r[0]) for r in rows}

    def url(self, list_no: int) -> str:
        return f"{self.base}{list_no}"

    def allocate(self) -> tuple[int, int, int]:
        """(revocation list, suspension list, index) for a new certificate."""
        if self.group is None or len(self.used) >= _GROUP_CAPACITY:
            self._open_group()
        assert self.group is not None
        index = self._random_index(self.lists[self.group][1])
        self.used.add(index)
        return self.group, self.group + 1, index

    def _random_index(self, lst: StatusList) -> int:
        """A uniformly random unused index, from the OS CSPRNG.

        Random bytes are drawn 3 KiB at a time (one system call per 1,024 candidates):
        the list length is a power of two dividing 2^24, so 3 bytes masked to it are
        uniform. Another length falls back to :meth:`StatusList.allocate_random_index`.
        """
        length = lst.length
        if length & (length - 1) or length > 1 << 24:
            return lst.allocate_random_index(self.used)
        while moment.is_fixed():  # a control event applies: every node draws the same
            index = int.from_bytes(moment.random_bytes(3), "big") & (length - 1)
            if index not in self.used:
                return index
        while True:
            if not self._pool:
                raw = os.urandom(3 * 1024)
                self._pool = [
                    int.from_bytes(raw[i : i + 3], "big") & (length - 1)
                    for i in range(0, len(raw), 3)
                ]
            index = self._pool.pop()
            if index not in self.used:
                return index

    def _open_group(self) -> None:
        first = max(self.lists, default=0) + 1
        now = moment.now()
        pair: tuple[tuple[int, StatusPurpose], ...] = (
            (first, "revocation"),
            (first + 1, "suspension"),
        )
        with self.store.transaction() as tx:
            for list_no, purpose in pair:
                lst = StatusList(MIN_LENGTH)
                tx.execute(
                    "INSERT INTO status_lists VALUES (?, ?, ?, ?, ?)",
                    [list_no, purpose, lst.length, lst.to_bytes(), now],
                )
                self.lists[list_no] = (purpose, lst)
        self.group, self.used = first, set()

    def get(self, url: str, purpose: str) -> StatusList:
        """The live list at ``url``; :class:`TrustError` if this exchange does not publish it."""
        number = url.removeprefix(self.base)
        if not url.startswith(self.base) or not number.isdigit():
            raise TrustError(f"status list {url} is not one this exchange publishes")
        found = self.lists.get(int(number))
        if found is None:
            raise TrustError(f"status list {url} does not exist")
        if found[0] != purpose:
            raise TrustError(f"status list {url} is a {found[0]} list, not {purpose}")
        return found[1]

    def bits_with(self, list_no: int, index: int, value: bool) -> bytes:
        """The raw bits of a list as they will be once ``index`` is set to ``value``."""
        bits = bytearray(self.lists[list_no][1].to_bytes())
        mask = 0x80 >> (index % 8)
        bits[index // 8] = bits[index // 8] | mask if value else bits[index // 8] & ~mask & 0xFF
        return bytes(bits)

    def apply(self, list_no: int, index: int, value: bool) -> None:
        """Set a live bit (after the change is committed): online verifiers see it at once."""
        self.lists[list_no][1].set(index, value)
        self._signed.pop(list_no, None)

    def credential(self, list_no: int) -> dict[str, Any]:
        """List ``list_no`` as a signed credential (re-signed after the TTL or a change)."""
        now = datetime.now(UTC)
        cached = self._signed.get(list_no)
        if cached is not None and now - cached[1] < self.ttl:
            return cached[0]
        found = self.lists.get(list_no)
        if found is None:
            raise NotFound(f"no status list {list_no}")
        signer = self.signer()
        unsigned = status_list_credential(
            self.url(list_no),
            uscc_urn(signer.uscc),
            found[0],
            found[1],
            now,
            now + STATUS_LIST_VALIDITY,
            ttl=self.ttl,
        )
        signed = add_proof(
            unsigned, self.keyring.key("seal"), verification_method=key_urn(signer.kid), created=now
        )
        self._signed[list_no] = (signed, now)
        return signed

    def issued_digests(self, digests: list[str]) -> dict[str, Any]:
        """The digests of every issued certificate as one credential signed by the status
        signer (what a trust bundle carries for the offline ``register`` check)."""
        now = datetime.now(UTC).replace(microsecond=0)
        signer = self.signer()
        unsigned = issued_digests_credential(
            f"{self.base.removesuffix('status-lists/')}issued-digests",
            uscc_urn(signer.uscc),
            digests,
            now,
            self.keyring.identity.suite.hash_name,
        )
        return add_proof(
            unsigned, self.keyring.key("seal"), verification_method=key_urn(signer.kid), created=now
        )

    def snapshots(self) -> list[StatusSnapshot]:
        """Every list, signed, as a trust bundle carries them."""
        now = datetime.now(UTC)
        return [StatusSnapshot(self.url(n), now, self.credential(n)) for n in sorted(self.lists)]

    def signer(self) -> SealEntry:
        """The status-list signer: the exchange's ``seal`` key, certified once by the root
        for the ``cert`` purpose (verifiers check status lists as they check certificates)."""
        identity = self.keyring.identity
        pem = self.store.meta("status_signer_certificate")
        cert = certificate_from_pem(pem) if pem else None
        if (
            cert is None
            or cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=30)
            or purpose_of(cert) not in (None, "cert")
        ):
            start, end = seal_validity(self.keyring.ca_certificate)
            cert = issue_seal_certificate(
                self.keyring.ca_key,
                self.keyring.ca_certificate,
                subject_public_key=self.keyring.public("seal"),
                uscc=identity.uscc,
                department_name=identity.name,
                valid_from=start,
                valid_until=end,
                purpose="cert",
            )
            self.store.set_meta("status_signer_certificate", certificate_to_pem(cert))
        return SealEntry(self.keyring.kids["seal"], identity.uscc, identity.name, None, cert)
