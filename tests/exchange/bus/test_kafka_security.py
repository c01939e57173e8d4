"""Who a client is on Kafka, and the open bus govex serve refuses (issue 22, 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.bus import parse_bus_url
from exchange.bus.kafka_security import KafkaSecurity, is_loopback, open_bus_problem
from exchange.config import KafkaSettings, Settings
from exchange.demo.setup import create_demo
from exchange.errors import InvalidRequest


def test_sasl_and_tls_options_come_from_settings_and_the_url(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    security = KafkaSecurity(username="node-a", password_file=secret, ssl_cafile=tmp_path / "ca")
    options = security.client_options(tls=True)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "s3cret"
    assert options["ssl_cafile"] == str(tmp_path / "ca")
    assert "s3cret" not in repr(KafkaSecurity(username="x", password="s3cret"))  # type: ignore[arg-type]
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    with pytest.raises(ValueError, match="needs a username and a password"):
        KafkaSecurity(protocol="SASL_SSL").client_options()
    address = parse_bus_url("kafkas://10.0.0.5:9093,10.0.0.6:9093")
    assert address.tls
    assert address.bootstrap == "10.0.0.5:9093,10.0.0.6:9093"
    assert str(address) == "kafkas://10.0.0.5:9093,10.0.0.6:9093"


def test_an_unauthenticated_bus_off_loopback_is_refused(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1:9092,localhost:9093")
    assert not is_loopback("127.0.0.1:9092,10.0.0.5:9092")
    assert open_bus_problem("127.0.0.1:9092", KafkaSecurity()) is None
    assert open_bus_problem("10.0.0.5:9092", KafkaSecurity(username="a", password="b")) is None  # type: ignore[arg-type]
    with create_demo(Settings(data=tmp_path / "data")) as exchange:
        with pytest.raises(InvalidRequest) as refused:
            exchange.start_consumer("10.0.0.5:9092")
        assert refused.value.code.value == "exchange.bus_unsafe"
        assert "without authentication" in refused.value.message
        assert exchange.consumer is None


def test_a_sasl_principal_without_a_password_is_named_before_any_connection(
    tmp_path: Path,
) -> None:
    settings = Settings(data=tmp_path / "data", kafka=KafkaSettings(username="node-a"))
    with (
        create_demo(settings) as exchange,
        pytest.raises(InvalidRequest, match="needs a username and a password"),
    ):
        exchange.start_consumer("10.0.0.5:9092", tls=True)
