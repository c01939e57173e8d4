"""The ``govex`` command line: the composition root.

The only package that imports ``connectors``, ``bench`` and :mod:`exchange.demo`.

- :mod:`.main` — the app, ``init``/``serve``/``demo``/``bench``/``backup`` and friends;
- :mod:`.audit` — ``govex audit …``; :mod:`.case` — ``govex case …``;
- :mod:`.cert` — ``govex cert …`` and ``govex trust …``;
- :mod:`.connector` — ``govex connector …``;
- :mod:`.witness` — ``govex witness …`` (a C2SP tlog-witness);
- :mod:`.catalog` — ``govex catalog …`` (add, update, list resources and schema versions);
- :mod:`.staff` — ``govex staff …`` (staff accounts, enrolment codes, require-act).
"""
