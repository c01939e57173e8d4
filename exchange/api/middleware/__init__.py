"""ASGI middleware of the API, outermost first in :func:`exchange.api.app.create_app`.

- :mod:`.drain` — a cluster node that drains: ``/healthz`` 503 ``draining``, new requests
  503 ``exchange.node_draining``, those in flight counted until they finish;
- :mod:`.limits` — body size and JSON depth limits;
- :mod:`.audit` — one durable audit entry per request (route templates, never raw
  paths; the disk floor answered first);
- :mod:`.calltimes` — call volumes and response times per department (the operator's
  console);
- :mod:`.refusals` — anonymous refusals counted per address and minute beyond a few;
- :mod:`.catchup` — record reads flagged (``Govex-Lag``) or refused while the node's bus
  lag is above ``kafka.catchup_lag``;
- :mod:`.fastread` — the read hot path for single-record reads (the contract it shares
  with the route is :mod:`exchange.api.record_read`).
"""
