"""The ``govex`` command line: the composition root.

The only package that imports ``connectors``, ``bench`` and :mod:`exchange.demo`.

- :mod:`.main` — the app and its global ``--url``/``--uscc``/``--key``/``-v``,
  ``serve``/``demo``/``bench`` and friends; :mod:`.backup` — ``govex backup`` and
  ``govex restore``;
- :mod:`.init` — ``govex init`` (a demo city or a real exchange, whole or not at all);
- :mod:`.options` — ``--data`` resolved once, and :func:`~.options.operate`: run a
  registered operation (:mod:`exchange.admin`) directly, through the running server's admin
  socket, or ``--url``;
- :mod:`.audit` — ``govex audit …``; :mod:`.case` — ``govex case …``;
- :mod:`.cert` — ``govex cert …`` and ``govex trust …``; :mod:`.cert_csv` — the CSV
  files of ``cert issue-bulk`` (UTF-8 or GB18030, header, lines) and its results folder;
- :mod:`.connector` — ``govex connector …``;
- :mod:`.grant` — ``govex grant …`` (request, decide, revoke, narrow, list grants);
- :mod:`.catalog` — ``govex catalog …`` (add, update, list resources and schema versions);
- :mod:`.department` — ``govex department …`` (the operator's lifecycle), ``govex departments``;
- :mod:`.keys` — ``govex keys new`` (a department's key folder) and ``govex token``;
- :mod:`.witness` — ``govex witness …`` (a C2SP tlog-witness);
- :mod:`.staff` — ``govex staff …`` (staff accounts, enrolment codes, require-act).
"""
