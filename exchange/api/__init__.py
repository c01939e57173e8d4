"""The HTTP API (FastAPI; OpenAPI at ``/openapi.json``, Swagger UI at ``/docs``).

- :mod:`.app` — the app factory, :func:`exchange.api.app.create_app`;
- :mod:`.deps` — dependencies shared by the routes: the exchange, Bearer parsing,
  the caller and its roles, the public path list;
- :mod:`.errors` — the one place where exceptions become RFC 9457 problem+json;
- :mod:`.oauth` — the token endpoint's OAuth 2.0 side: RFC 6749 answers and errors,
  RFC 8414 metadata;
- :mod:`.openapi` — the OpenAPI document completed: problem+json for every refusal;
- :mod:`.docs` — ``/docs``, Swagger UI served by the exchange itself (offline);
- :mod:`.record_read` — the single-record read contract shared by the route and its
  hot path;
- :mod:`.paging` — list answers bounded by bytes as well as items;
- :mod:`.middleware` — limits, audit, the read hot path;
- :mod:`.routes` — one router per concern (catalog, records, grants, audit, …).
"""
