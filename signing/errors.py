"""Errors of the signing package.

Exception tree (classes defined outside this module name their module)::

    SigningError                      code: signing.*
    ├── CanonicalizationError         JSON that cannot be signed (duplicate keys, NaN, big ints)
    ├── KeyLoadError                  a key that cannot be loaded or has the wrong type
    ├── VerificationError             a proof, seal or signature that does not verify
    │   ├── SealError                 a batch seal or a record's inclusion path is wrong
    │   ├── MerkleProofError          an inclusion or consistency proof is wrong
    │   ├── ChainError                ca: a certificate the root does not vouch for
    │   ├── ProofError                proofs: a Data Integrity proof missing or wrong
    │   └── StatusListError           status_list: a status list or index that is wrong
    ├── CheckpointError               a signed note / checkpoint that cannot be parsed or verified
    ├── CertificateIssueError         ca: an inconsistent request to issue a certificate
    │   └── CsrError                  csr: a certificate request that cannot be certified
    ├── KeyPurposeError               purposes: a key used outside the one purpose it serves
    ├── MultibaseError                multibase: a string that is not valid multibase
    ├── SuiteError                    suites: a cryptographic suite govex does not know
    └── TileError                     tiles: a tile path or tile that is not C2SP tlog-tiles

``verify`` functions return what they verified or raise; they never return a bool.
"""

from __future__ import annotations

from schemas.errors import ErrorCode

__all__ = [
    "CanonicalizationError",
    "CheckpointError",
    "KeyLoadError",
    "MerkleProofError",
    "SealError",
    "SigningError",
    "VerificationError",
]


class SigningError(Exception):
    """Root of the errors raised by ``signing``."""

    code: ErrorCode = ErrorCode.INVALID_PROOF

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class CanonicalizationError(SigningError):
    code = ErrorCode.NON_CANONICAL_JSON


class KeyLoadError(SigningError):
    code = ErrorCode.INVALID_KEY


class VerificationError(SigningError):
    code = ErrorCode.INVALID_PROOF


class SealError(VerificationError):
    code = ErrorCode.INVALID_SEAL


class MerkleProofError(VerificationError):
    code = ErrorCode.INVALID_MERKLE_PROOF


class CheckpointError(SigningError):
    code = ErrorCode.INVALID_CHECKPOINT
