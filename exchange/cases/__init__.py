"""Cases of a matter (事项, 一件事一次办): what the exchange obtains, what the applicant brings.

- :mod:`.models` — the case request, the applicants, the figures per matter;
- :mod:`.bundle` — the signed case bundle (its type, the masking of applicants, the sealer);
- :mod:`.resolver` — resolve a matter's materials for a case, store and sign the bundle;
- :mod:`.bundle_check` — verify a case bundle offline;
- :mod:`.reads` — a case's applicants in the audit log: their keyed hashes, and the
  ``case.read`` entry of every re-read of a bundle.
"""
