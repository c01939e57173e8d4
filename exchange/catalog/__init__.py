"""The catalog of shared resources (政务信息资源目录), grants, and masking.

- :mod:`.resources` — :class:`Catalog`: the resources with their owner departments, and
  every version of each resource's schema.
- :mod:`.versions` — :class:`SchemaVersion` (``major.minor``) and which updates are
  compatible (a minor version) and which need a new major version.
- :mod:`.metaschema` — the resource meta-schema a definition must fit.
- :mod:`.service` — :class:`CatalogService`: add, update and list resources on a running
  exchange (audited); the API's ``/v1/admin/catalog`` and ``govex catalog`` use it.
- :mod:`.grants` — :class:`Grants`: grant requests (purposes are 事项 codes) and
  decisions (audited), the answer deadline, and the access decision of a read (sharing
  type + grants).
- :mod:`.grants_calendar` — working days with 法定节假日 and 调休 (``chinese-calendar``),
  and a request's answer deadline.
- :mod:`.grants_owner` — the owner revokes or narrows an approved grant (audited) and sees
  the reads made under it and its history, from the audit index.
- :mod:`.masking` — :class:`AccessDecision` and masking of the fields a reader may
  not see in clear.

Import names from their modules (``from exchange.catalog.grants import Grants``).
"""
