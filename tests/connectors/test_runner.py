from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from connectors.base import SourceRecord
from connectors.config import build_source, load_config, load_credentials
from connectors.errors import Unreachable
from connectors.mapping import Mapper
from connectors.outbox import Outbox, OutboxBatch
from connectors.publishers import Delivery, EmbeddedPublisher, Publisher
from connectors.runner import EXIT_ROWS_REFUSED, Runner, RunSummary
from connectors.sealer import Sealer
from exchange.cli.connector import SAMPLES
from exchange.demo.samples.generate import BAD_ROWS, CSV_FILE
from exchange.service import Exchange

from .postgres import PostgresServer

ID_CARDS = SAMPLES / "gongan_resident_id_cards.toml"


def stored(exchange: Exchange, resource: str) -> tuple[int, int]:
    """(rows in the record history, distinct keys) of a resource."""
    row = exchange.store.fetchone(
        "SELECT count(*), count(DISTINCT key) FROM record_history WHERE resource = ?", [resource]
    )
    assert row is not None
    return int(row[0]), int(row[1])


class Crashing:
    """A publisher that delivers ``survive`` batches, then dies like a killed process.

    ``lose_ack``: the last batch reaches the exchange but its acknowledgement is lost.
    """

    def __init__(self, inner: Publisher, survive: int, *, lose_ack: bool = False) -> None:
        self.inner = inner
        self.left = survive
        self.lose_ack = lose_ack

    def describe(self) -> str:
        return "crashing"

    def groups(self) -> int:
        return 1

    def partition_of(self, key: str) -> int:
        return 0

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        for batch in batches:
            if self.left == 0:
                if self.lose_ack:
                    list(self.inner.publish([batch]))
                raise Unreachable("the connection died")
            self.left -= 1
            yield from self.inner.publish([batch])

    def close(self) -> None:
        return None


def make_runner(
    config: Path,
    env: dict[str, str],
    publisher: Publisher | None,
    outbox: Path | None,
    *,
    batch_size: int | None = None,
) -> Runner:
    loaded = load_config(config, env)
    creds = load_credentials(loaded, need_auth=False)
    return Runner(
        name=loaded.name,
        source=build_source(loaded),
        mapper=Mapper(loaded.config.mapping, loaded.definition),
        sealer=Sealer(loaded.definition.code, creds.uscc, creds.seal_key, creds.seal_kid),
        outbox=None if outbox is None else Outbox(outbox, loaded.definition.code),
        publisher=publisher,
        batch_size=batch_size or loaded.config.connector.batch_size,
    )


def run(runner: Runner, *, dry_run: bool = False) -> RunSummary:
    try:
        return runner.run(dry_run=dry_run)
    finally:
        if runner.outbox is not None:
            runner.outbox.close()


def test_a_csv_with_bad_rows_publishes_every_good_row_and_reports_every_bad_one(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    bus = EmbeddedPublisher(exchange.embedded_bus())
    summary = run(make_runner(ID_CARDS, connector_env, bus, tmp_path / "o.sqlite"))
    assert (summary.read, summary.published, summary.accepted) == (405, 400, 400)
    assert {p.line for p in summary.refused} == set(BAD_ROWS[CSV_FILE])
    reasons = {p.line: p.reason for p in summary.refused}
    assert "check character should be" in reasons[9]
    assert "column 姓名 is empty" in reasons[17]
    assert "unknown code 'X'" in reasons[26]
    assert "does not match the date format" in reasons[34]
    assert "not valid GBK" in reasons[43]
    assert summary.exit_code == EXIT_ROWS_REFUSED
    assert stored(exchange, "gongan.resident_id_card") == (400, 400)
    assert summary.outbox == {"pending": 0, "sealed": 0, "sent": 400, "refused": 0}


def test_a_second_run_publishes_nothing_already_published(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    bus = EmbeddedPublisher(exchange.embedded_bus())
    run(make_runner(ID_CARDS, connector_env, bus, tmp_path / "o.sqlite"))
    again = run(make_runner(ID_CARDS, connector_env, bus, tmp_path / "o.sqlite"))
    assert (again.published, again.stored) == (0, 0)
    assert again.skipped == 400
    # the rows refused by the first run are retried, still refused, and reported again
    assert again.retried == len(BAD_ROWS[CSV_FILE]) - 1  # the unreadable line has no time
    assert sorted(p.line for p in again.refused) == [9, 17, 26, 34, 43]
    assert again.withdrawn == []
    assert stored(exchange, "gongan.resident_id_card") == (400, 400)


def test_a_refused_row_fixed_at_the_source_publishes_on_the_next_run(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "cards.csv"
    shutil.copy(ID_CARDS.parent / CSV_FILE, source)
    config = tmp_path / "cards.toml"
    config.write_text(
        ID_CARDS.read_text("utf-8").replace(f'path = "{CSV_FILE}"', f'path = "{source}"'),
        "utf-8",
    )
    bus = EmbeddedPublisher(exchange.embedded_bus())
    first = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert 17 in {p.line for p in first.refused}  # 姓名 is empty on line 17
    lines = source.read_bytes().split(b"\r\n" if b"\r\n" in source.read_bytes() else b"\n")
    cells = lines[16].split(b",")
    cells[1] = "补录".encode("gbk")  # fixed at the source, its update time unchanged
    lines[16] = b",".join(cells)
    del lines[8]  # line 9 is withdrawn from the source
    source.write_bytes((b"\r\n" if b"\r\n" in source.read_bytes() else b"\n").join(lines))
    again = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert again.published == 1, again
    assert 9 in {p.line for p in again.withdrawn}
    assert {p.line for p in again.refused} == {25, 33, 42}  # the others, one line up
    assert stored(exchange, "gongan.resident_id_card") == (401, 401)


@pytest.mark.parametrize("lose_ack", [False, True])
def test_a_run_killed_mid_stream_resumes_from_its_outbox_losing_and_duplicating_nothing(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path, lose_ack: bool
) -> None:
    bus = EmbeddedPublisher(exchange.embedded_bus())
    outbox = tmp_path / "o.sqlite"
    crashing = Crashing(bus, survive=2, lose_ack=lose_ack)
    with pytest.raises(Unreachable):
        run(make_runner(ID_CARDS, connector_env, crashing, outbox, batch_size=50))
    assert stored(exchange, "gongan.resident_id_card")[0] == (150 if lose_ack else 100)
    resumed = run(make_runner(ID_CARDS, connector_env, bus, outbox, batch_size=50))
    assert resumed.resent == 50
    assert resumed.duplicates == (50 if lose_ack else 0)
    assert stored(exchange, "gongan.resident_id_card") == (400, 400)
    assert resumed.outbox["sent"] == 400


def test_a_dry_run_stores_and_publishes_nothing(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    runner = make_runner(ID_CARDS, connector_env, None, None)
    summary = run(runner, dry_run=True)
    assert (summary.stored, summary.published, len(summary.refused)) == (400, 0, 5)
    assert summary.exit_code == EXIT_ROWS_REFUSED
    assert stored(exchange, "gongan.resident_id_card") == (0, 0)


SQL_CONFIG = """
[connector]
name = "deed-tax"
resource = "shuiwu.deed_tax_payment"
batch_size = 2

[department]
uscc = "114115000000010384"
seal_key = "${{GOVEX_DATA}}/demo-keys/shuiwu.seal.pem"

[source]
kind = "sql"
driver = "{driver}"
dsn = "{dsn}"
query = "SELECT * FROM qs"

[mapping]
version = {{ column = "gxsj", kind = "timestamp" }}
watermark = "gxsj"

[mapping.fields]
tax_voucher_number = "pzxh"
taxpayer_id_number = {{ value = "41150219880301059X" }}
taxpayer_name = {{ value = "王芳" }}
property_address = {{ value = "信阳市平桥区新七大道88号" }}
unit_number = {{ value = "411502006000GB00000F00010101" }}
taxable_amount = {{ column = "jsyj", decimals = 2 }}
tax_rate = {{ value = "0.015" }}
tax_amount = {{ column = "jsyj", decimals = 2 }}
paid_date = "jkrq"
tax_authority = {{ value = "国家税务总局信阳市税务局" }}
"""


def _tax_rows(first: int, last: int) -> list[tuple[object, ...]]:
    return [
        (f"3411500269{i:08d}", 1000 + i, f"2026-01-{i:02d}", datetime(2026, 1, i, 9))
        for i in range(first, last + 1)
    ]


def test_incremental_sync_reads_only_rows_newer_than_the_watermark(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    db_path = tmp_path / "tax.sqlite"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE qs (pzxh TEXT, jsyj REAL, jkrq TEXT, gxsj TEXT)")
    db.executemany("INSERT INTO qs VALUES (?, ?, ?, ?)", _tax_rows(1, 5))
    db.commit()
    config = tmp_path / "tax.toml"
    config.write_text(SQL_CONFIG.format(driver="sqlite3", dsn=db_path), encoding="utf-8")
    bus = EmbeddedPublisher(exchange.embedded_bus())
    first = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert (first.read, first.published, first.batches) == (5, 5, 3)
    db.executemany("INSERT INTO qs VALUES (?, ?, ?, ?)", _tax_rows(6, 8))
    db.commit()
    db.close()
    second = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert (second.read, second.published) == (3, 3)
    assert stored(exchange, "shuiwu.deed_tax_payment") == (8, 8)


@pytest.mark.postgres
def test_incremental_sync_from_postgresql_keeps_a_timestamp_watermark(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path, postgres: PostgresServer
) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS qs")
        conn.execute("CREATE TABLE qs (pzxh text, jsyj numeric(12,2), jkrq date, gxsj timestamp)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO qs VALUES (%s, %s, %s, %s)", _tax_rows(1, 4))
    config = tmp_path / "tax.toml"
    config.write_text(SQL_CONFIG.format(driver="psycopg", dsn=postgres.dsn), encoding="utf-8")
    bus = EmbeddedPublisher(exchange.embedded_bus())
    first = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert (first.read, first.accepted, first.rows_refused) == (4, 4, 0)
    with Outbox(tmp_path / "o.sqlite", "shuiwu.deed_tax_payment") as outbox:
        assert outbox.watermark() == datetime(2026, 1, 4, 9)
    with psycopg.connect(postgres.dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO qs VALUES (%s, %s, %s, %s)", _tax_rows(5, 6))
    second = run(make_runner(config, connector_env, bus, tmp_path / "o.sqlite"))
    assert (second.read, second.accepted) == (2, 2)
    assert stored(exchange, "shuiwu.deed_tax_payment") == (6, 6)


def test_batches_full_by_bytes_are_published_while_the_source_is_still_read(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    bus = EmbeddedPublisher(exchange.embedded_bus())
    runner = make_runner(ID_CARDS, connector_env, None, tmp_path / "o.sqlite", batch_size=100)
    runner.max_batch_bytes = 12_000  # about 30 ID cards: every batch is full by bytes
    source = runner.source
    rows_read = 0
    read_at_publish: list[int] = []
    sizes: list[int] = []

    class Counting:
        def describe(self) -> str:
            return source.describe()

        def read(self, since: object = None) -> Iterator[SourceRecord]:
            nonlocal rows_read
            for row in source.read(since):
                rows_read += 1
                yield row

    class Watching:
        def describe(self) -> str:
            return "watching"

        def groups(self) -> int:
            return 1

        def partition_of(self, key: str) -> int:
            return 0

        def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
            for delivery in bus.publish(batches):
                read_at_publish.append(rows_read)
                sizes.append(delivery.records)
                yield delivery

        def close(self) -> None:
            return None

    runner.source = Counting()
    runner.publisher = Watching()
    summary = run(runner)
    assert summary.accepted == 400
    assert max(sizes) < 100
    assert read_at_publish[0] < 405, "the first batch waited for the whole source"


def test_records_left_in_an_outbox_of_one_row_per_record_are_sealed_and_published(
    exchange: Exchange, connector_env: dict[str, str], tmp_path: Path
) -> None:
    """An outbox written before chunks (``outbox_before_chunks.sqlite``: e f g pending at
    lines 14–16, ``bat_sealed`` sealed with a message that is no sealed batch) is taken
    over by a run: the old message is resent and refused, the pending records are sealed
    with the department's key, their seal verifies and each record is judged on its own,
    reported at its source line."""
    shutil.copy(SAMPLES / ID_CARDS.name, tmp_path / "c.toml")
    header = (
        "公民身份号码,姓名,性别,民族,出生日期,住址,签发机关,有效期起始日期,有效期截止日期,更新时间"
    )
    (tmp_path / "gongan_resident_id_cards.csv").write_bytes(header.encode("gbk") + b"\n")
    outbox = tmp_path / "o.sqlite"
    shutil.copy(Path(__file__).with_name("outbox_before_chunks.sqlite"), outbox)
    publisher = EmbeddedPublisher(exchange.embedded_bus())
    summary = run(make_runner(tmp_path / "c.toml", connector_env, publisher, outbox))
    assert [text.split(":")[0] for text in summary.refused_batches] == ["bat_sealed"]
    assert summary.published == 5  # the two of the refused message and the three pending
    assert summary.accepted == 0
    assert [(q.line, q.key) for q in summary.quarantined] == [(14, "e"), (15, "f"), (16, "g")]
    assert all(q.code == "schema.invalid_record" for q in summary.quarantined)
    assert summary.outbox == {"pending": 0, "sealed": 0, "sent": 5, "refused": 2}
