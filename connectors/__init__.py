"""Department connectors: a department's register in, sealed batches out, nothing lost.

A connector reads a department system through a :mod:`source <connectors.base>`
(:mod:`~connectors.csv`, :mod:`~connectors.jsonl`, :mod:`~connectors.sql`,
:mod:`~connectors.http`), maps each row onto a catalog resource
(:mod:`~connectors.mapping`, :mod:`~connectors.codes`; a plain CSV export is read and mapped
as columns, :mod:`~connectors.columns`), validates it
(:mod:`~connectors.validator`), stores it in a durable :mod:`~connectors.outbox`,
seals batches (:mod:`~connectors.sealer`) and publishes them
(:mod:`~connectors.publishers`: HTTP, Kafka or the embedded bus). :mod:`~connectors.runner`
drives one run; :mod:`~connectors.config` reads the TOML config that declares it all;
:mod:`~connectors.errors` holds the error tree.
"""
