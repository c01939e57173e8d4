"""Witnesses of the audit log (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature).

Modules (imported by name, e.g. ``from exchange.witness.server import Witness``):

* ``state`` — :class:`~exchange.witness.state.WitnessState`, a witness's own small
  store: the latest cosigned size and root per log origin, one JSON file written
  atomically;
* ``server`` — :class:`~exchange.witness.server.Witness`, the ``add-checkpoint``
  protocol (verify the log's signature, check the old size and the consistency
  proof, persist, cosign), and :func:`~exchange.witness.server.create_witness_app`,
  its HTTP app (``govex witness serve``);
* ``collect`` — :class:`~exchange.witness.collect.WitnessCollector`, the exchange's
  side: after each signed checkpoint it asks the configured witnesses
  (``GOVEX_AUDIT__WITNESSES``) for cosignatures and stores the ones that verify;
  failures are logged and never hold up the log.
"""
