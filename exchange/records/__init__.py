"""Shared records: from a sealed batch on the bus to an answer for a reader.

- :mod:`.intake` — decode a bus message, ingest it, quarantine poison (both buses);
- :mod:`.batch` — a sealed batch as plain records, decoded once for the whole batch;
- :mod:`.validation` — the record check shared with connectors (``schemas.validation``), a
  batch that passes whole checked at once;
- :mod:`.ingest` — seal check, ownership, one DuckDB transaction per batch, quarantine;
- :mod:`.cache` — the read cache of hot records;
- :mod:`.query` — reads by key or subject: sharing type, grant, masking, durable audit;
- :mod:`.quarantine` — listing what ingest refused, identifiers masked for non-publishers;
  an operator's release or discard of a row, decided once.
"""
