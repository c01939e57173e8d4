from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import (
    CsvSourceConfig,
    build_source,
    load_config,
    load_credentials,
)
from connectors.csv import CsvSource
from connectors.errors import ConfigError
from connectors.http import HttpSource
from connectors.jsonl import JsonlSource
from connectors.sql import SqlSource
from exchange.bus.kafka_tuning import ProducerTuning
from exchange.cli.connector import sample_configs
from exchange.demo.setup import demo_departments
from exchange.service import Exchange

MINIMAL = """
[connector]
name = "t"
resource = "gongan.resident_id_card"

[department]
uscc = "11411500000001011C"
seal_key = "${GOVEX_DATA}/demo-keys/gongan.seal.pem"
auth_key = "${GOVEX_DATA}/demo-keys/gongan.auth.pem"

[source]
kind = "csv"
path = "rows.csv"

[mapping.fields]
id_number = "a"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_sample_config_loads_and_names_its_owner_departments_uscc() -> None:
    usccs = {d.code: d.uscc for d in demo_departments()}
    configs = sample_configs()
    assert len(configs) == 3
    for path in configs:
        loaded = load_config(path, {"GOVEX_DATA": "/x"})
        assert loaded.config.department.uscc == usccs[loaded.definition.owner]
        assert loaded.resolve(loaded.config.department.seal_key, "k") == Path(
            f"/x/demo-keys/{loaded.definition.owner}.seal.pem"
        )


def test_sources_are_built_with_paths_relative_to_the_config(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, MINIMAL), {})
    source = build_source(loaded)
    assert isinstance(source, CsvSource)
    assert source.path == tmp_path / "rows.csv"
    assert isinstance(loaded.config.source, CsvSourceConfig)
    jsonl = MINIMAL.replace('kind = "csv"', 'kind = "jsonl"')
    assert isinstance(build_source(load_config(write(tmp_path, jsonl), {})), JsonlSource)
    sql = MINIMAL.replace(
        'kind = "csv"\npath = "rows.csv"',
        'kind = "sql"\ndriver = "sqlite3"\ndsn = "d.sqlite"\nquery = "SELECT 1"',
    )
    assert isinstance(build_source(load_config(write(tmp_path, sql), {})), SqlSource)
    http = MINIMAL.replace(
        'kind = "csv"\npath = "rows.csv"',
        'kind = "http"\nurl = "${API}/rows"\nheaders = { Authorization = "Bearer ${T}" }',
    )
    source = build_source(load_config(write(tmp_path, http), {"API": "http://d", "T": "t"}))
    assert isinstance(source, HttpSource)
    assert source.url == "http://d/rows"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[connector", "is not valid TOML"),
        (MINIMAL.replace('name = "t"', 'name = "Bad Name!"'), "connector.name"),
        (MINIMAL.replace("gongan.resident_id_card", "gongan.nothing"), "is not in the catalog"),
        (MINIMAL.replace('kind = "csv"', 'kind = "excel"'), "source"),
        (MINIMAL.replace('path = "rows.csv"', 'path = "rows.csv"\nencoding = "big5"'), "big5"),
        (MINIMAL + "\nextra = 1\n", "extra"),
    ],
)
def test_a_wrong_config_is_refused_in_plain_words(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), {})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.toml")


def test_keys_load_with_the_passphrase_from_the_named_variable(
    tmp_path: Path, exchange: Exchange, connector_env: dict[str, str]
) -> None:
    path = write(tmp_path, MINIMAL)
    credentials = load_credentials(load_config(path, connector_env), need_auth=True)
    assert credentials.uscc == "11411500000001011C"
    assert exchange.registry.key(credentials.seal_kid, "seal") is not None
    assert exchange.registry.key(credentials.auth_kid or "", "auth") is not None
    with pytest.raises(ConfigError, match="export GOVEX_CONNECTOR_KEY_PASSPHRASE"):
        load_credentials(load_config(path, {"GOVEX_DATA": "/x"}), need_auth=False)
    with pytest.raises(ConfigError, match="environment variable GOVEX_DATA is not set"):
        load_credentials(
            load_config(path, {"GOVEX_CONNECTOR_KEY_PASSPHRASE": "x"}), need_auth=False
        )
    wrong = {**connector_env, "GOVEX_CONNECTOR_KEY_PASSPHRASE": "wrong"}
    with pytest.raises(ConfigError, match=r"department\.seal_key: cannot load"):
        load_credentials(load_config(path, wrong), need_auth=False)
    no_auth = write(
        tmp_path, MINIMAL.replace('auth_key = "${GOVEX_DATA}/demo-keys/gongan.auth.pem"\n', "")
    )
    with pytest.raises(ConfigError, match="auth_key is needed"):
        load_credentials(load_config(no_auth, connector_env), need_auth=True)


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "real-exchange"


def test_a_resource_added_with_catalog_add_is_named_by_its_definition_file() -> None:
    loaded = load_config(EXAMPLE / "minzheng_elderly_allowance.toml", {"MINZHENG_KEYS": "/k"})
    assert loaded.definition.code == "minzheng.elderly_allowance"
    assert loaded.definition.key_field == "allowance_no"
    source = build_source(loaded)
    assert isinstance(source, CsvSource)
    assert source.path == EXAMPLE / "minzheng_elderly_allowance.csv"


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (None, "cannot read"),
        ("{", "not a resource definition"),
        ('{"code": "gongan.resident_id_card"}', "not a resource definition"),
        ("OTHER", "not connector.resource"),
    ],
)
def test_a_bad_definition_file_is_refused_in_plain_words(
    tmp_path: Path, definition: str | None, message: str
) -> None:
    text = MINIMAL.replace('name = "t"', 'name = "t"\ndefinition = "d.json"')
    if definition == "OTHER":
        definition = (EXAMPLE / "minzheng.elderly_allowance.json").read_text("utf-8")
    if definition is not None:
        (tmp_path / "d.json").write_text(definition, "utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), {})


def test_the_producer_section_sets_batching_and_compression(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL), {}).config.publish.producer.tuning() == (
        ProducerTuning()
    )
    text = MINIMAL + '\n[publish.producer]\ncompression_type = "zstd"\nlinger_ms = 20\n'
    tuning = load_config(write(tmp_path, text), {}).config.publish.producer.tuning()
    assert (tuning.compression_type, tuning.linger_ms) == ("zstd", 20)
    with pytest.raises(ConfigError, match="compression_type"):
        load_config(write(tmp_path, text.replace('"zstd"', '"brotli"')), {})
