"""Departments and how they prove who they are.

- :mod:`.registry` — registered departments and their state, their keys by purpose
  (``auth``, ``seal``, ``cert``) with state, and the certificates the root issued them;
- :mod:`.auth` — RFC 7523 client assertions → access tokens, and token checks
  (the department's side, building assertions, is :mod:`exchange.client`);
- :mod:`.lifecycle` — the operator's functions: add, rotate and revoke keys, suspend,
  resume, remove (audited; what the CLI and ``/v1/admin/departments`` call);
- :mod:`.keyfolder` — the department's own side: its key folder (``govex keys new``), the
  public files it hands over, a token from its auth key (through :mod:`exchange.client`);
- :mod:`.demo_keys` — a demo exchange's department keys (the console's sign-in picker).
"""
