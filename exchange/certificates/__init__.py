"""E-certificates (电子证照): issuance, status, trust and verification.

- :mod:`.service` — issuance, lookup, status changes (the certificate service);
- :mod:`.trust` — the trust store and the exportable trust bundle;
- :mod:`.verifier` — online and offline verification, check by check;
- :mod:`.qr` — QR payloads for offline checks at a counter;
- :mod:`.subjects` — who a certificate is about, for the audit log.
"""
