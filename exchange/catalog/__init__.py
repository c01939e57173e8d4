"""The catalog of shared resources (政务信息资源目录), grants, and masking.

- :mod:`.resources` — :class:`Catalog`: the resources with their owner departments.
- :mod:`.grants` — :class:`Grants`: grant requests and decisions (audited), the answer
  deadline, and the access decision of a read (sharing type + grants).
- :mod:`.masking` — :class:`AccessDecision` and masking of the fields a reader may
  not see in clear.

Import names from their modules (``from exchange.catalog.grants import Grants``).
"""
