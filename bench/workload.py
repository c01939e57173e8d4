"""The 居民身份证 (resident ID card) workload shared by the ingest benchmarks and the
process tests: valid rows with distinct ID numbers, their CSV, and the config of the
connector that publishes them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

__all__ = ["RESOURCE", "connector_config", "id_card_rows", "write_csv"]

RESOURCE = "gongan.resident_id_card"
_REGIONS = ("411502", "411503", "411521", "411522", "411525")

_CONFIG = """
[connector]
name = "{name}"
resource = "gongan.resident_id_card"
batch_size = {batch_size}
{connector_extra}
[department]
uscc = "{uscc}"
seal_key = "${{GOVEX_DATA}}/demo-keys/gongan.seal.pem"

[source]
kind = "csv"
path = "{csv}"

[mapping]
version = 1

[mapping.fields]
id_number = "id_number"
name = "name"
sex = "sex"
ethnicity = "ethnicity"
birth_date = "birth_date"
address = "address"
issuing_authority = "issuing_authority"
valid_from = "valid_from"
valid_until = "valid_until"

[publish]
topic_prefix = "{prefix}"
{publish_extra}"""


def id_card_rows(count: int) -> Iterator[dict[str, str]]:
    """``count`` valid 居民身份证 records with distinct ID numbers, one at a time."""
    from schemas.identifiers import make_id_number

    for i in range(count):
        day, k = divmod(i, 500)
        female = k % 2 == 1
        born = date(1950, 1, 1) + timedelta(days=day % 20_000)
        region = _REGIONS[(day // 20_000) % len(_REGIONS)]
        yield {
            "id_number": make_id_number(region, born, 2 * k + (0 if female else 1), female=female),
            "name": f"居民{i}",
            "sex": "2" if female else "1",
            "ethnicity": "01",
            "birth_date": born.isoformat(),
            "address": f"信阳市浉河区新华路{i % 300 + 1}号",
            "issuing_authority": "信阳市公安局浉河分局",
            "valid_from": "2016-01-01",
            "valid_until": "长期",
        }


def write_csv(path: Path, rows: Iterable[dict[str, str]]) -> set[str]:
    """Write ``rows`` as a UTF-8 CSV with a header line; return their ID numbers."""
    keys: set[str] = set()
    with path.open("w", encoding="utf-8") as out:
        header: list[str] | None = None
        for row in rows:
            if header is None:
                header = list(row)
                out.write(",".join(header) + "\n")
            out.write(",".join(row[h] for h in header) + "\n")
            keys.add(row["id_number"])
    return keys


def connector_config(
    *,
    name: str,
    uscc: str,
    csv: Path,
    prefix: str,
    batch_size: int,
    max_batch_bytes: int | None = None,
    retry_deadline_s: float | None = None,
    kafka_auth: str = "",
) -> str:
    """The TOML config of the connector that publishes the CSV at ``csv`` as ``uscc``.

    ``kafka_auth`` is a ``[publish.kafka]`` section (its principal on a secured bus), or "".
    """
    connector_extra = "" if max_batch_bytes is None else f"max_batch_bytes = {max_batch_bytes}\n"
    publish_extra = "" if retry_deadline_s is None else f"retry_deadline_s = {retry_deadline_s}\n"
    return (
        _CONFIG.format(
            name=name,
            batch_size=batch_size,
            uscc=uscc,
            csv=csv,
            prefix=prefix,
            connector_extra=connector_extra,
            publish_extra=publish_extra,
        )
        + kafka_auth
    )
