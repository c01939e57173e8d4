"""Departments and how they prove who they are.

- :mod:`.registry` — registered departments, their codes, USCCs, roles and certificates;
- :mod:`.auth` — RFC 7523 client assertions → access tokens, and token checks
  (the department's side, building assertions, is :mod:`exchange.client`);
- :mod:`.demo_keys` — a demo exchange's department keys (the console's sign-in picker).
"""
