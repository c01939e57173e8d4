"""Departments and how they prove who they are.

- :mod:`.registry` — registered departments and their state, their keys by purpose
  (``auth``, ``seal``, ``cert``) with state, and the certificates the root issued them;
- :mod:`.auth` — RFC 7523 client assertions → access tokens, and token checks
  (the department's side, building assertions, is :mod:`exchange.client`); the
  RFC 8693 ``act`` claim names the person a department acts for;
- :mod:`.lifecycle` — the operator's functions: add, rotate and revoke keys, suspend,
  resume, remove (audited; what the CLI and ``/v1/admin/departments`` call);
- :mod:`.keyfolder` — the department's own side: its key folder (``govex keys new``), the
  public files it hands over, a token from its auth key (through :mod:`exchange.client`);
- :mod:`.staff` — staff accounts (工作人员): argon2id passwords, TOTP, enrolment codes,
  who an ``act`` claim may name, ``require_act``;
- :mod:`.staff_changes` — every write to the staff tables, each one call (a control
  event in a cluster): the enrolment code's one use decided there;
- :mod:`.staff_oidc` — a department's own OpenID Connect provider for its staff's
  console sign-in (issuer, client, the claim naming the staff id);
- :mod:`.staff_roles` — staff roles and the department role each acts with;
- :mod:`.throttle` — failed sign-ins counted per account and per address;
- :mod:`.demo_keys` — a demo exchange's department keys (the console's sign-in picker).
"""
