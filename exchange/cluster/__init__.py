"""One exchange on many nodes: the control plane on Kafka.

- :mod:`.events` — a control event (kind, JSON arguments, time, seed, origin, id), a
  node's heartbeat, the cluster's topic names (``<base>.control``, ``<base>.nodes``) and
  the errors of a command on a cluster node;
- :mod:`.kinds` — which service method each event kind stands for (grants, certificate
  issuance and status, client-assertion ``jti``, departments and their keys, catalog
  changes) and its arguments' types;
- :mod:`.kinds_people` — the kinds of staff accounts, case bundles and quarantine
  decisions;
- :mod:`.sealed` — the secret arguments of events (TOTP secrets, identity providers'
  client secrets) sealed for the nodes of this exchange, opened in the apply;
- :mod:`.plane` — :class:`~.plane.ControlPlane`: publish a command as an event, apply
  every event in topic order on every node, wait for one's own apply; heartbeats;
  :func:`~.plane.claim_node` (a node id taken elsewhere refused before this node
  consumes anything) and :func:`~.plane.join_cluster` (``govex serve --node-id``);
- :mod:`.cases` — case numbers claimed through the topic (unique per approver in the
  cluster);
- :mod:`.status` — the topics' creation, ``govex cluster status``, the state digest;
- :mod:`.membership` — heartbeats, a node id taken by a live node refused, a node
  drained (``govex cluster drain``) and removed (``govex cluster remove``);
- :mod:`.ops` — the ``cluster.status``, ``cluster.drain`` and ``cluster.remove`` operations.

What an apply may not take from the node it runs on (the time, random ids and indexes)
comes from the event through :mod:`exchange.moment`.
"""
