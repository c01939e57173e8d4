"""The register of issued certificates (the ``certificates`` table): rows in, public views out.

Issuance writes rows with :meth:`CertificateRegister.insert` (Arrow, one statement per
chunk); look-ups read them back as :class:`~exchange.certificates.models.CertificatePublic`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from exchange.certificates.models import CertificatePublic, CertificateStatus
from exchange.certificates.vocabulary import certificate_id_of, credential_digest
from exchange.errors import InvalidRequest, NotFound
from exchange.store import Store
from schemas.errors import SchemaError
from schemas.identifiers import parse_certificate_id
from signing.suites import HashName

__all__ = ["COLUMNS", "CertificateRegister", "IssuedRecord", "to_public", "valid_id"]

COLUMNS = (
    "id, type, type_code, issuer, serial, holder_code, holder_name, status, status_reason, "
    "status_changed_at, revocation_list, suspension_list, status_index, valid_from, "
    "valid_until, document, issued_at, digest"
)
"""The columns of a register row, in the order of every tuple this module reads or writes."""
_INSERT_SQL = f"INSERT INTO certificates ({COLUMNS}) SELECT {COLUMNS} FROM new_certificates"  # noqa: S608 - constant columns
_ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("type_code", pa.string()),
        ("issuer", pa.string()),
        ("serial", pa.int64()),
        ("holder_code", pa.string()),
        ("holder_name", pa.string()),
        ("status", pa.string()),
        ("status_reason", pa.string()),
        ("status_changed_at", pa.timestamp("us", tz="UTC")),
        ("revocation_list", pa.int32()),
        ("suspension_list", pa.int32()),
        ("status_index", pa.int32()),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_until", pa.timestamp("us", tz="UTC")),
        ("document", pa.string()),
        ("issued_at", pa.timestamp("us", tz="UTC")),
        ("digest", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class IssuedRecord:
    """What the register says about one id: the content issued, its status, when."""

    digest: str
    status: CertificateStatus
    issued_at: datetime


class CertificateRegister:
    """Reads and writes the ``certificates`` table of one store."""

    def __init__(self, store: Store, hash_name: HashName = "sha-256") -> None:
        self.store = store
        # the hash of every stored digest: the exchange's suite's (SM3 on an SM2 exchange)
        self.hash_name: HashName = hash_name

    def backfill_digests(self) -> int:
        """Store the digest of every certificate issued before digests were kept."""
        rows = self.store.fetchall("SELECT id, document FROM certificates WHERE digest IS NULL")
        if rows:
            with self.store.transaction() as tx:
                tx.executemany(
                    "UPDATE certificates SET digest = ? WHERE id = ?",
                    [
                        [credential_digest(orjson.loads(doc), self.hash_name), cid]
                        for cid, doc in rows
                    ],
                )
        return len(rows)

    def issued(self, certificate_id: str) -> IssuedRecord | None:
        """The register's record of ``certificate_id`` (prefix optional), or None."""
        row = self.store.fetchone(
            "SELECT digest, status, issued_at FROM certificates WHERE id = ?",
            [certificate_id_of(certificate_id)],
        )
        if row is None or row[0] is None:
            return None
        return IssuedRecord(str(row[0]), CertificateStatus(row[1]), row[2])

    def digests(self) -> list[str]:
        """The digest of every issued certificate (for the offline trust bundle)."""
        return [str(r[0]) for r in self.store.fetchall("SELECT digest FROM certificates")]

    @staticmethod
    def insert(cur: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
        """Write rows (``COLUMNS`` order) inside the caller's transaction."""
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [
                pa.array(list(col), type=f.type)
                for col, f in zip(columns, _ARROW_SCHEMA, strict=True)
            ],
            schema=_ARROW_SCHEMA,
        )
        cur.register("new_certificates", table)
        try:
            cur.execute(_INSERT_SQL)
        finally:
            cur.unregister("new_certificates")

    def select(self, where: str, params: list[Any], *, limit: int = 1) -> list[CertificatePublic]:
        """Certificates matching a fixed ``where`` clause, newest first."""
        rows = self.store.fetchall(
            f"SELECT {COLUMNS} FROM certificates WHERE {where} "  # noqa: S608 - fixed clauses
            "ORDER BY issued_at DESC, id LIMIT ?",
            [*params, limit],
        )
        return [to_public(r, orjson.loads(r[15])) for r in rows]

    def get(self, certificate_id: str) -> CertificatePublic:
        """One stored certificate (no access control: callers decide who may see it)."""
        cid = valid_id(certificate_id)
        rows = self.select("id = ?", [cid])
        if not rows:
            raise NotFound(f"no certificate {cid}")
        return rows[0]


def valid_id(value: str) -> str:
    """The GB/T 36904 identifier in ``value`` (``urn:govex:cert:`` optional), checked."""
    cid = certificate_id_of(value)
    try:
        parse_certificate_id(cid)
    except SchemaError as exc:
        raise InvalidRequest(exc.message, code=exc.code) from exc
    return cid


def to_public(row: tuple[Any, ...], credential: dict[str, Any]) -> CertificatePublic:
    """The public view of a ``certificates`` row (columns in ``COLUMNS`` order)."""
    return CertificatePublic(
        id=row[0],
        type=row[1],
        issuer=row[3],
        holder_name=row[6],
        holder_code=row[5],
        status=CertificateStatus(row[7]),
        status_reason=row[8],
        issued_at=row[16],
        credential=credential,
    )
