"""govex signing package: everything that touches keys and proofs.

- :mod:`.algorithms` — Ed25519 and ECDSA P-256 over raw bytes;
- :mod:`.keyfolder` — key generation, encrypted PEM at rest, PEM/JWK, stable key ids;
- :mod:`.purposes` — key purposes (``auth``, ``seal``, ``cert``) and their OIDs;
- :mod:`.csr` — PKCS#10 requests for department keys and their certification;
- :mod:`.ca` — the root CA and the certificates it issues to department keys;
- :mod:`.canonical` — RFC 8785 canonical JSON and a strict parser;
- :mod:`.proofs` — W3C VC Data Integrity proofs (JCS cryptosuites);
- :mod:`.seal` — batch seals over a Merkle root;
- :mod:`.merkle` — RFC 6962 / 9162 Merkle trees and proofs;
- :mod:`.checkpoint` — C2SP signed notes and checkpoints;
- :mod:`.status_list` — W3C Bitstring Status Lists;
- :mod:`.multibase` — Multibase strings and Multikey;
- :mod:`.errors` — the exception tree (``signing.*`` codes).
"""
