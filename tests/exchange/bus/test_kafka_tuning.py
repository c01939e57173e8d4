from __future__ import annotations

import importlib.util

import pytest

from connectors.errors import ConfigError
from connectors.publishers import KafkaPublisher
from exchange.bus.kafka_tuning import ConsumerTuning, ProducerTuning, codec_problem
from exchange.config import Settings


def test_the_producer_options_name_the_codec_and_none_is_no_codec() -> None:
    assert ProducerTuning("zstd", 0, 16384).options() == {
        "compression_type": "zstd",
        "linger_ms": 0,
        "batch_size": 16384,
    }
    assert ProducerTuning("none").options()["compression_type"] is None


def test_consumer_fetch_sizes_follow_the_largest_message_unless_set() -> None:
    small = ConsumerTuning().options(1_000_000)
    assert small["max_partition_fetch_bytes"] == 1024 * 1024
    assert small["fetch_max_bytes"] == 50 * 1024 * 1024
    big = ConsumerTuning().options(8_000_000)
    assert big["max_partition_fetch_bytes"] == 8_000_000 + 4096  # one whole message
    set_ = ConsumerTuning(500, 2 * 2**20, 2**20).options(1_000_000)
    assert set_["max_poll_records"] == 500
    assert set_["max_partition_fetch_bytes"] == 2 * 2**20
    assert set_["fetch_max_bytes"] == 2 * 2**20  # never below one partition's fetch


def test_the_installed_codecs_need_nothing_more() -> None:
    for codec in ("none", "gzip", "lz4", "zstd"):
        assert codec_problem(codec) is None


def test_a_codec_without_its_package_is_a_config_error_naming_the_package() -> None:
    if importlib.util.find_spec("snappy") is not None:
        pytest.skip("python-snappy is installed here")
    with pytest.raises(ConfigError, match="python-snappy"):
        KafkaPublisher("127.0.0.1:9", "r", tuning=ProducerTuning("snappy"))


def test_the_consumer_settings_come_from_govex_kafka_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVEX_KAFKA__MAX_POLL_RECORDS", "8")
    monkeypatch.setenv("GOVEX_KAFKA__FETCH_MAX_BYTES", "4194304")
    kafka = Settings().kafka
    assert (kafka.max_poll_records, kafka.fetch_max_bytes) == (8, 4194304)
    assert kafka.max_partition_fetch_bytes == 0
