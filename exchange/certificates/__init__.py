"""E-certificates (电子证照): issuance, status, trust and verification.

From the bottom up:

- :mod:`.vocabulary` — contexts, URN names (certificate, key, issuer), China time, the
  clock skew, :class:`~.vocabulary.TrustError`;
- :mod:`.context` — the govex JSON-LD context, generated from the certificate types and
  shipped as ``credentials-v1.context.json``;
- :mod:`.credential_schema` — the VC JSON Schema of each type (the whole credential);
- :mod:`.did` — ``did:web`` names of the exchange and its departments, their DID documents
  (``Multikey`` methods), and the two issuer forms a verifier reads (did:web, urn:uscc);
- :mod:`.models` — requests and public views of the certificate service;
- :mod:`.register` — the register of issued certificates (the ``certificates`` table);
- :mod:`.seals` — department seal keys the exchange holds as the hosted seal service;
- :mod:`.status_lists` — the Bitstring Status Lists this exchange publishes;
- :mod:`.trust` — what a verifier trusts (the ``TrustStore`` protocol), the root chain
  check, the exchange's live trust store;
- :mod:`.bundle` — the trust bundle for offline verification (``govex trust export``),
  with the published documents (context, schemas, DID documents) so nothing is fetched;
- :mod:`.template` — a certificate's canonical bytes from the template of its type and
  issuer (what every such certificate shares serialized once);
- :mod:`.issuance` — issuing certificates: checks, drafts, proofs;
- :mod:`.bulk` — issuing many at once, signed by processes on every core;
- :mod:`.lookup` — audited reads by id and by holder;
- :mod:`.status` — revoke, suspend, resume; withdraw a seal key;
- :mod:`.intake` — the size and nesting caps every path applies before parsing a credential;
- :mod:`.checks` — the individual verification checks; :mod:`.shape` — the document's
  shape they hold a credential to (VC 2.0, members, issuer, GB/T 36903 metadata);
- :mod:`.verifier` — the verifier: every check, one verdict;
- :mod:`.qr` — QR payloads for offline checks at a counter;
- :mod:`.subjects` — who a certificate is about, for the audit log;
- :mod:`.service` — :class:`~.service.CertificateService`, the facade the exchange wires.
"""
