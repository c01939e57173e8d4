"""P7: query p99 at a large record count against a small one, same files, same process.

A data set of 100M ID-card records cannot go through the ingest path in a benchmark's
time (that path is P1's figure), so :class:`Generator` writes the rows the ingest path
would write — ``record_history``, ``record_latest``, ``record_subjects``, one sealed
``batches`` row and one ``publish`` audit entry per batch of 10,000, in one transaction
each through the audit log's writer as ingest does — straight from Arrow tables. The
records are real: valid ID numbers, data that passes the resource's schema, batches
sealed by 公安's seal key with the Merkle root of the records' canonical leaves.

The figure reads records through the exchange's :class:`~exchange.records.query.Reader` (access
decision, masking, durable ``query`` audit entry with a new subject salt), in process,
one key per read drawn uniformly from the whole data set so no cache helps: first at
the small size, then after appending up to the large size in the same files.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import resource
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from .figures import Figure, percentile

if TYPE_CHECKING:
    import duckdb

    from exchange.demo.setup import DemoDepartment
    from exchange.service import Exchange

__all__ = ["Generator", "ReadTimes", "key_of", "measure_reads", "open_exchange", "p7", "person"]

RESOURCE = "gongan.resident_id_card"
PURPOSE = "budongchan.new_commercial_housing_transfer"  # the 事项 bench.query's grant names
CASE = "BENCH-P7"
# records per sealed batch, built in memory and stored in one transaction: a batch as the
# embedded bus hands it to the ingestor (HTTP publishers send at most 10,000)
CHUNK = 100_000
SOURCE = "bench.scale"

# 10 county codes of 信阳市 × 20,000 birth days × 1,000 order codes: 200M distinct people
_REGIONS = (
    "411502",
    "411503",
    "411521",
    "411522",
    "411523",
    "411524",
    "411525",
    "411526",
    "411527",
    "411528",
)
_DAYS = 20_000
_FIRST_BIRTH = date(1930, 1, 1)
CAPACITY = len(_REGIONS) * _DAYS * 1000
# GB 11643 (ISO 7064 MOD 11-2): weights of the 17 digits, check character by sum mod 11
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"
_SEQ = [f"{s:03d}" for s in range(1000)]
_SEQ_SUM = [sum(int(c) * w for c, w in zip(s, _WEIGHTS[14:], strict=True)) for s in _SEQ]


# person i has the key of slot (i · _SPREAD) mod CAPACITY: records arrive in no key order,
# as from a real register, so DuckDB's min/max zone maps cannot stand in for an index
_SPREAD = 2_654_435_761  # coprime to CAPACITY (neither 2 nor 5 divides it)


@functools.lru_cache(maxsize=len(_REGIONS) * _DAYS)
def _prefix(block: int) -> tuple[str, int, str]:
    """The first 14 digits of the ID numbers of ``block`` (= slot // 1000), their weighted
    sum, and the birth date."""
    region = _REGIONS[block // _DAYS]
    birth = _FIRST_BIRTH + timedelta(days=block % _DAYS)
    head = f"{region}{birth:%Y%m%d}"
    return head, sum(int(c) * w for c, w in zip(head, _WEIGHTS, strict=False)), birth.isoformat()


def _check_index(index: int) -> None:
    if not 0 <= index < CAPACITY:
        raise ValueError(f"person {index}: the generator holds {CAPACITY:,} people")


def key_of(index: int) -> str:
    """The ID number (the record key) of person ``index`` of the generated data set."""
    _check_index(index)
    block, seq = divmod(index * _SPREAD % CAPACITY, 1000)
    head, total, _ = _prefix(block)
    return head + _SEQ[seq] + _CHECK[(total + _SEQ_SUM[seq]) % 11]


def _people(start: int, count: int) -> Iterator[dict[str, str]]:
    for i in range(start, start + count):
        block, seq = divmod(i * _SPREAD % CAPACITY, 1000)
        head, total, birth = _prefix(block)
        yield {
            "id_number": head + _SEQ[seq] + _CHECK[(total + _SEQ_SUM[seq]) % 11],
            "name": f"测试{i}",
            "sex": "1" if seq & 1 else "2",  # odd order codes are men's
            "ethnicity": "01",
            "birth_date": birth,
            "address": f"信阳市浉河区新华路{i % 300}号",
            "issuing_authority": "信阳市公安局",
            "valid_from": "2020-01-01",
            "valid_until": "长期",
        }


def person(index: int) -> dict[str, str]:
    """The ID-card record of person ``index`` (valid for the resource's schema)."""
    _check_index(index)
    return next(_people(index, 1))


@dataclass
class _Chunk:
    keys: list[str]
    data: list[str]
    leaves: list[bytes]


def _build(start: int, count: int) -> _Chunk:
    """Keys, stored data (as ingest stores it) and Merkle leaves of ``count`` people."""
    sort = orjson.OPT_SORT_KEYS
    dumps = orjson.dumps
    sha256 = hashlib.sha256
    keys: list[str] = []
    data: list[str] = []
    leaves: list[bytes] = []
    for row in _people(start, count):
        key = row["id_number"]
        keys.append(key)
        data.append(dumps(row).decode())
        # signing.seal.record_leaf: RFC 6962 leaf of the record's RFC 8785 form, which
        # orjson's sorted output is for these ASCII keys and plain strings
        record = {"resource": RESOURCE, "key": key, "version": 1, "data": row}
        leaves.append(sha256(b"\x00" + dumps(record, option=sort)).digest())
    return _Chunk(keys, data, leaves)


class Generator:
    """Appends generated ID-card records to an open exchange, as ingest would store them."""

    def __init__(self, exchange: Exchange, department: DemoDepartment) -> None:
        self.exchange = exchange
        self.department = department
        self.count = 0  # people generated so far: person indexes [first, first + count)
        self.first = 0

    def start_at(self, first: int) -> None:
        """Generate from person ``first`` on (people before it were published otherwise)."""
        self.first, self.count = first, 0

    def append(self, count: int, progress: Callable[[int], None] | None = None) -> None:
        """Generate and store the next ``count`` people, ``CHUNK`` at a time."""
        store = self.exchange.store
        # one checkpoint at the end instead of one per commit (each writes the indexes)
        store.execute("SET checkpoint_threshold = '4GB'")
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            chunk = _build(self.first + self.count, n)
            self._publish(chunk.keys, chunk.data, chunk.leaves)
            self.count += n
            done += n
            if progress is not None:
                progress(self.first + self.count)
        store.execute("RESET checkpoint_threshold")
        store.execute("CHECKPOINT")

    def _seal(self, leaves: list[bytes]) -> Any:
        """The batch seal :func:`signing.seal.seal_batch` would make over these leaves."""
        from signing.algorithms import algorithm_of, sign
        from signing.canonical import canonicalize
        from signing.merkle import root_of
        from signing.seal import SEAL_DOMAIN, BatchSeal

        dept = self.department
        now = datetime.now(UTC)
        fields: dict[str, Any] = {
            "v": 1,
            "batch_id": f"bat_{secrets.token_hex(16)}",
            "resource": RESOURCE,
            "issuer": dept.uscc,
            "kid": dept.seal_kid,
            "alg": algorithm_of(dept.seal_key),
            "size": len(leaves),
            "root": root_of(leaves).hex(),
            "sealed_at": now.strftime("%Y-%m-%dT%H:%M:%S") + f".{now.microsecond:06d}Z",
        }
        signature = sign(dept.seal_key, SEAL_DOMAIN + canonicalize(fields))
        fields["signature"] = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        return BatchSeal(**fields)

    def _publish(self, keys: list[str], data: list[str], leaves: list[bytes]) -> None:
        from exchange.audit.log import AuditEvent

        seal = self._seal(leaves)
        batch_id = seal.batch_id
        publisher = self.department.uscc
        n = len(keys)
        incoming = pa.table(
            {
                "key": pa.array(keys, pa.string()),
                "data": pa.array(data, pa.string()),
                "leaf_index": pa.array(range(n), pa.int32()),
            }
        )

        def work(tx: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            now = datetime.now(UTC)
            tx.register("generated", incoming)
            tx.execute(
                "INSERT INTO record_history SELECT ?, key, 1, data, ?, leaf_index, ?, ? "
                "FROM generated",
                [RESOURCE, batch_id, publisher, now],
            )
            tx.execute(
                "INSERT INTO record_latest SELECT ?, key, 1, data, ?, leaf_index, ? FROM generated",
                [RESOURCE, batch_id, now],
            )
            # ID numbers are digits and X: upper case already
            tx.execute("INSERT INTO record_subjects SELECT ?, key, key FROM generated", [RESOURCE])
            tx.unregister("generated")
            tx.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    RESOURCE,
                    publisher,
                    seal.model_dump_json(),
                    n,
                    b"".join(leaves),
                    SOURCE,
                    n,
                    0,
                    0,
                    now,
                ],
            )
            return {
                "accepted": n,
                "audit_detail": {
                    "batch_id": batch_id,
                    "accepted": n,
                    "duplicates": 0,
                    "quarantined": 0,
                },
            }

        self.exchange.audit.append(
            AuditEvent(
                actor=publisher,
                action="publish",
                outcome="ok",
                target=RESOURCE,
                detail={"records": n, "source": SOURCE},
            ),
            work=work,
        )


def open_exchange(seed: int = 1000) -> tuple[Exchange, Generator, str]:
    """A fresh demo exchange with a grant for 不动产登记中心 and ``seed`` people published
    through the real ingest path; returns it, a generator that continues after them, and
    the reader's USCC."""
    from exchange.config import Settings
    from exchange.demo.setup import DemoDepartment
    from exchange.service import Exchange

    from .query import prepare_exchange

    data, _, _ = prepare_exchange(0)
    exchange = Exchange.open(Settings(data=data))
    gongan = DemoDepartment.load(exchange, "gongan")
    rows = [person(i) for i in range(seed)]
    result = exchange.ingestor.ingest(gongan.seal(RESOURCE, rows, "id_number"), gongan.uscc)
    if result.accepted != seed:
        raise RuntimeError(f"seed batch refused: {result.quarantined[:1]}")
    generator = Generator(exchange, gongan)
    generator.start_at(seed)
    return exchange, generator, exchange.registry.by_code("budongchan").uscc


@dataclass
class ReadTimes:
    """Latencies in ms of cold store lookups and of whole reads (with the audit entry)."""

    lookups: list[float]
    reads: list[float]

    percentile = staticmethod(percentile)

    def summary(self) -> str:
        p = self.percentile
        return (
            f"read p50 {p(self.reads, 50):.2f} / p99 {p(self.reads, 99):.2f} ms, "
            f"lookup p50 {p(self.lookups, 50):.2f} / p99 {p(self.lookups, 99):.2f} ms"
        )


def measure_reads(
    exchange: Exchange, reader: str, size: int, count: int, rng: random.Random, used: set[int]
) -> ReadTimes:
    """``count`` cold lookups and ``count`` cold reads, alternating, each of a person never
    read before, drawn uniformly from the ``size`` people stored."""

    def fresh() -> str:
        while True:
            index = rng.randrange(size)
            if index not in used:
                used.add(index)
                return key_of(index)

    cache, read = exchange.reader.cache, exchange.reader.read
    for _ in range(min(50, count)):  # warm the code paths and the batch seals
        read(reader, RESOURCE, fresh(), purpose=PURPOSE, case_no=CASE)
    out = ReadTimes([], [])
    clock = time.perf_counter_ns
    for _ in range(count):
        key = fresh()
        t = clock()
        found = cache.get(RESOURCE, key)
        out.lookups.append((clock() - t) / 1e6)
        if found is None:
            raise RuntimeError(f"generated record {key} is missing")
        key = fresh()
        t = clock()
        record = read(reader, RESOURCE, key, purpose=PURPOSE, case_no=CASE)
        out.reads.append((clock() - t) / 1e6)
        if "id_number" not in record.masked_fields:
            raise RuntimeError(f"record {key} was read without its ID number masked")
    return out


def _bytes_on_disk(exchange: Exchange) -> int:
    data = Path(exchange.settings.data)
    return sum(f.stat().st_size for f in data.glob("govex.duckdb*"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def p7(quick: bool, log: Callable[[str], None] = lambda s: None) -> list[Figure]:
    """Query p99 at a large record count over a small one (target ≤ 2× for 100M vs 1M).

    Quick: 100k vs 1M. Full: 1M vs 10M measured, 100M extrapolated from the growth
    over that decade (100M records take ~40 GB and half an hour to generate).
    """
    small, large, reads = (100_000, 1_000_000, 1_000) if quick else (1_000_000, 10_000_000, 2_000)
    target = 100_000_000
    rng, used = random.Random(7), set[int]()
    exchange, generator, reader = open_exchange()
    data = Path(exchange.settings.data)
    try:
        started = time.perf_counter()
        generator.append(small - generator.first, lambda n: log(f"P7: {n:,} records"))
        gen_small = time.perf_counter() - started
        log(f"P7: reading at {small:,} records")
        at_small = measure_reads(exchange, reader, small, reads, rng, used)
        started = time.perf_counter()
        generator.append(large - small, lambda n: log(f"P7: {n:,} records"))
        gen_large = time.perf_counter() - started
        per_row = _bytes_on_disk(exchange) / large
        log(f"P7: reading at {large:,} records")
        at_large = measure_reads(exchange, reader, large, reads, rng, used)
    finally:
        exchange.close()
        shutil.rmtree(data.parent, ignore_errors=True)
    pct = ReadTimes.percentile
    growth = pct(at_large.reads, 99) / pct(at_small.reads, 99)
    lookup_growth = pct(at_large.lookups, 99) / pct(at_small.lookups, 99)
    rate = (large - small) / gen_large if gen_large else 0.0
    measured = (
        f"measured: {reads:,} cold reads and {reads:,} cold lookups at each size, in process; "
        f"{_label(small)}: {at_small.summary()}; {_label(large)}: {at_large.summary()}; "
        f"generated {_label(small)} in {gen_small:.0f} s, {_label(large)} in "
        f"{gen_small + gen_large:.0f} s ({rate:,.0f} records/s), {per_row:.0f} bytes/record "
        f"on disk, peak RSS {_rss_mb():,.0f} MB"
    )
    extrapolated = (
        f"extrapolated: {_label(target)} vs 1M ≈ {max(growth, 1.0) ** 2:.1f}× if p99 grows "
        f"by the factor measured over one decade ({growth:.2f}×, counted as at least 1) over "
        "each of the two decades"
    )
    return [
        Figure(
            "P7",
            f"cold query p99 at {_label(large)} records (Reader, durable audit)",
            pct(at_large.reads, 99),
            "ms",
            f"p99 at {_label(small)} records",
            pct(at_small.reads, 99),
            growth,
            "ratio ≤ 2 (100M vs 1M)",
            growth <= 2.0,
            note=f"{measured}; {extrapolated}",
        ),
        Figure(
            "P7-lookup",
            f"store lookup p99 at {_label(large)} records (record_latest by key, batch seal)",
            pct(at_large.lookups, 99),
            "ms",
            f"p99 at {_label(small)} records",
            pct(at_small.lookups, 99),
            lookup_growth,
            "ratio ≤ 2 (100M vs 1M)",
            lookup_growth <= 2.0,
            note=f"the DuckDB point lookup and batch seal of a read, without masking or audit; "
            f"extrapolated {_label(target)} vs 1M ≈ {max(lookup_growth, 1.0) ** 2:.1f}×",
        ),
    ]
