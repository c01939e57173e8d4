"""Publishers: sealed batches to an exchange over HTTP, to Kafka, or to the embedded bus.

- :mod:`.base` — the :class:`Publisher` protocol, :class:`Delivery`, :class:`Retry`;
- :mod:`.http` — :class:`HttpPublisher`: ``POST /v1/records`` with an access token from
  an RFC 7523 client assertion (:mod:`exchange.client`);
- :mod:`.kafka` — :class:`KafkaPublisher`: topic ``govex.records.<resource>``, keyed by
  record key (:func:`murmur2`, Kafka's partitioner);
- :mod:`.embedded` — :class:`EmbeddedPublisher`: the exchange's in-process bus.
"""

from __future__ import annotations

from connectors.publishers.base import Delivery, Publisher, QuarantinedRecord, Retry
from connectors.publishers.embedded import EmbeddedPublisher
from connectors.publishers.http import HttpPublisher
from connectors.publishers.kafka import KafkaPublisher, murmur2

__all__ = [
    "Delivery",
    "EmbeddedPublisher",
    "HttpPublisher",
    "KafkaPublisher",
    "Publisher",
    "QuarantinedRecord",
    "Retry",
    "murmur2",
]
