"""Batch seals: one signature per batch over a Merkle root, one inclusion path per record.

A department seals a batch of records (the OpenAttestation idea): every record's
canonical JSON (RFC 8785) is a leaf of an RFC 6962 tree, and the department's
seal key signs the root once. Signing is then not the ceiling of publishing,
and any single record can later be proven with the seal plus its inclusion path.

A record is ``{"resource": str, "key": str, "version": int, "data": dict}``; its
leaf is :func:`record_leaf`. The seal signature covers::

    b"govex-batch-seal-v1\\n" + canonicalize(seal fields except "signature")

The tree's hash follows the seal key's suite (:mod:`signing.suites`): SHA-256 for Ed25519
and P-256 keys, SM3 for SM2 keys. An SM3 seal says so in a signed field, ``"hash":
"sm3"``; a seal without it is SHA-256, so seals made before the field existed (and every
Ed25519 seal, byte for byte) read as they always did.

Verification comes in three grains:

* :func:`verify_seal` — the signature only;
* :func:`verify_batch` — the whole batch, all or nothing;
* :func:`check_batch` / :func:`verify_record` — per record, with the per-record
  proofs (:data:`RecordProof`), so ingest can quarantine only the records that
  were altered: one altered record changes the root, so only its own path can
  tell it apart from the intact ones.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import orjson
from pydantic import ConfigDict, Field, ValidationError

from schemas.base import StrictModel

from .algorithms import PrivateKey, PublicKey, algorithm_of, sign, verify
from .canonical import MAX_SAFE_INTEGER, canonicalize
from .errors import MerkleProofError, SealError, SigningError, VerificationError
from .merkle import HASH_SIZE, TREE_HASHES, TreeHash, TreeHashName, verify_inclusion
from .suites import suite_of

__all__ = [
    "SEAL_DOMAIN",
    "BatchCheck",
    "BatchSeal",
    "RecordProof",
    "SealedBatch",
    "check_batch",
    "record_leaf",
    "record_leaves",
    "seal_batch",
    "tree_hash_of",
    "verify_batch",
    "verify_record",
    "verify_seal",
]

SEAL_DOMAIN = b"govex-batch-seal-v1\n"
_RECORD_FIELDS = frozenset({"resource", "key", "version", "data"})


class BatchSeal(StrictModel):
    """The signed statement "these ``size`` records, with this Merkle root, are ours"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    batch_id: str = Field(min_length=1, max_length=128)
    resource: str = Field(min_length=1, max_length=128)
    issuer: str = Field(min_length=1, max_length=64, description="USCC of the department")
    kid: str = Field(min_length=1, max_length=256)
    alg: Literal["Ed25519", "ES256", "SM2"]
    size: int = Field(ge=1, le=MAX_SAFE_INTEGER)
    root: str = Field(pattern=r"^[0-9a-f]{64}$", description="Merkle root, lowercase hex")
    hash: Literal["sm3"] | None = Field(
        default=None,
        description='the Merkle tree\'s hash: absent for SHA-256 (RFC 6962), "sm3" (GB/T 32905)',
        exclude_if=lambda value: value is None,  # a SHA-256 seal's JSON is what it always was
    )
    sealed_at: str = Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$",
        description="RFC 3339, UTC",
    )
    signature: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="base64url, no padding")


def tree_hash_of(seal: BatchSeal) -> TreeHash:
    """The hash of the seal's Merkle tree: SM3 when it says ``"hash": "sm3"``, else SHA-256."""
    return TREE_HASHES[seal.hash or "sha-256"]


class RecordProof(TypedDict):
    """Where one record sits in its sealed batch: leaf index and hex inclusion path."""

    index: int
    path: list[str]


def _levels(leaves: list[bytes], tree: TreeHash) -> list[list[bytes]]:
    """Every level of the tree, bottom-up; an odd last node is promoted unchanged.

    Promoting the odd node gives exactly the RFC 6962 tree, so the path of leaf
    ``i`` is its sibling on each level where it has one.
    """
    levels = [leaves]
    nodes = leaves
    while len(nodes) > 1:
        parents = [tree.node(a, b) for a, b in zip(nodes[0::2], nodes[1::2], strict=False)]
        if len(nodes) & 1:
            parents.append(nodes[-1])
        levels.append(parents)
        nodes = parents
    return levels


@dataclass(frozen=True)
class SealedBatch:
    """A seal with the leaves it covers; hands out each record's inclusion path.

    The tree is built once when sealing; each path is then O(log n) lookups.
    """

    seal: BatchSeal
    leaves: list[bytes]
    _levels: list[list[bytes]] = field(repr=False)

    def proof(self, index: int) -> list[bytes]:
        """Inclusion path of record ``index``, leaf to root."""
        if not 0 <= index < len(self.leaves):
            raise SealError(f"no record {index} in a batch of {len(self.leaves)}")
        path: list[bytes] = []
        for nodes in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(nodes):
                path.append(nodes[sibling])
            index >>= 1
        return path

    def record_proof(self, index: int) -> RecordProof:
        """:data:`RecordProof` of record ``index``, ready to travel as JSON."""
        return {"index": index, "path": [h.hex() for h in self.proof(index)]}

    def record_proofs(self) -> list[RecordProof]:
        """The :data:`RecordProof` of every record, in batch order."""
        return [self.record_proof(i) for i in range(len(self.leaves))]


@dataclass(frozen=True)
class BatchCheck:
    """Outcome of :func:`check_batch`: the verified seal and the records that failed.

    ``failures`` maps record index to the reason; ``missing`` counts sealed records
    that were not delivered.
    """

    seal: BatchSeal
    checked: int
    failures: Mapping[int, str]
    missing: int = 0

    @property
    def passed(self) -> list[int]:
        """Indexes of the records proven to be part of the sealed batch."""
        return [i for i in range(self.checked) if i not in self.failures]

    @property
    def failed(self) -> list[int]:
        """Indexes of the records that must be quarantined, in order."""
        return sorted(self.failures)


def record_leaf(record: Mapping[str, Any], tree: TreeHash = TREE_HASHES["sha-256"]) -> bytes:
    """Merkle leaf hash of a record: ``tree.leaf(canonicalize(record))`` (SHA-256 unless the
    seal's :func:`tree_hash_of` says otherwise)."""
    return tree.leaf(canonicalize(record))


_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def record_leaves(
    records: Sequence[Mapping[str, Any]],
    *,
    sorted_is_jcs: bool,
    tree: TreeHash = TREE_HASHES["sha-256"],
) -> list[bytes]:
    """:func:`record_leaf` of each record, in one tight loop when ``sorted_is_jcs``.

    ``sorted_is_jcs`` is the caller's promise that orjson's sorted output of each record is
    its JCS form: :func:`signing.canonical.sorted_is_canonical` said so of the records'
    ``data`` (parsed from one JSON text), and ``resource``, ``key`` and ``version`` are
    a string, a string and an integer of that text. Any record orjson cannot write sends
    the whole batch to :func:`record_leaf`, which words the error. The tight loop is
    SHA-256's; another ``tree`` hash (SM3) goes record by record.
    """
    if sorted_is_jcs and tree is TREE_HASHES["sha-256"]:
        sha256, dumps = hashlib.sha256, orjson.dumps
        try:
            return [sha256(b"\x00" + dumps(r, option=_SORTED)).digest() for r in records]
        except (orjson.JSONEncodeError, TypeError):
            pass
    return [record_leaf(r, tree) for r in records]


def _record_problem(record: Any, resource: str) -> str | None:
    if not isinstance(record, Mapping):
        return f"is a {type(record).__name__}, not an object"
    if record.keys() != _RECORD_FIELDS:
        return f"has fields {sorted(record)}; a record has exactly {sorted(_RECORD_FIELDS)}"
    if record["resource"] != resource:
        return f"is for resource {record['resource']!r}, the seal for {resource!r}"
    if not isinstance(record["key"], str) or not record["key"]:
        return "has no key"
    version = record["version"]
    if type(version) is not int or version < 0:
        return f"has version {version!r}; a version is an integer ≥ 0"
    if not isinstance(record["data"], dict):
        return "has data that is not an object"
    return None


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise SealError("sealed_at must carry a time zone")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SealError("seal signature is not base64url") from exc
    if _b64url(data) != text:
        raise SealError("seal signature is not canonical unpadded base64url")
    return data


def _signing_input(fields: Mapping[str, Any]) -> bytes:
    unsigned = {
        k: v for k, v in fields.items() if k != "signature" and not (k == "hash" and v is None)
    }
    return SEAL_DOMAIN + canonicalize(unsigned)


def seal_batch(
    records: Sequence[Mapping[str, Any]],
    *,
    resource: str,
    issuer: str,
    key: PrivateKey,
    kid: str,
    batch_id: str | None = None,
    sealed_at: datetime | None = None,
    sorted_is_jcs: bool = False,
    tree_hash: TreeHashName | None = None,
) -> SealedBatch:
    """Seal ``records`` of ``resource`` with the department's seal ``key``.

    Every record must have exactly the fields ``resource`` (equal to ``resource``),
    ``key``, ``version`` and ``data``. Builds the Merkle tree once, with the hash of the
    key's suite unless ``tree_hash`` names one; the returned :class:`SealedBatch` hands
    out each record's path in O(log n). ``sorted_is_jcs``: see :func:`record_leaves`.
    """
    if not records:
        raise SealError("cannot seal an empty batch")
    for i, record in enumerate(records):
        problem = _record_problem(record, resource)
        if problem is not None:
            raise SealError(f"record {i} {problem}")
    tree = TREE_HASHES[tree_hash or suite_of(key).hash_name]
    leaves = record_leaves(records, sorted_is_jcs=sorted_is_jcs, tree=tree)
    levels = _levels(leaves, tree)
    fields: dict[str, Any] = {
        "v": 1,
        "batch_id": batch_id if batch_id is not None else f"bat_{secrets.token_hex(16)}",
        "resource": resource,
        "issuer": issuer,
        "kid": kid,
        "alg": algorithm_of(key),
        "size": len(leaves),
        "root": levels[-1][0].hex(),
        "sealed_at": _rfc3339(sealed_at if sealed_at is not None else datetime.now(UTC)),
    }
    if tree.name != "sha-256":
        fields["hash"] = tree.name
    signature = _b64url(sign(key, _signing_input(fields)))
    try:
        seal = BatchSeal(**fields, signature=signature)
    except ValidationError as exc:
        raise SealError(f"cannot build the seal: {exc}") from exc
    return SealedBatch(seal=seal, leaves=leaves, _levels=levels)


def verify_seal(seal: BatchSeal | Mapping[str, Any], public_key: PublicKey) -> BatchSeal:
    """Verify the seal's signature (not the records); return the verified seal."""
    if not isinstance(seal, BatchSeal):
        try:
            seal = BatchSeal.model_validate(seal)
        except ValidationError as exc:
            raise SealError(f"malformed batch seal: {exc}") from exc
    key_alg = algorithm_of(public_key)
    if key_alg != seal.alg:
        raise SealError(f"seal is signed with {seal.alg} but the key is {key_alg}")
    signature = _b64url_decode(seal.signature)
    try:
        verify(public_key, signature, _signing_input(seal.model_dump()))
    except VerificationError as exc:
        raise SealError(
            f"signature of batch seal {seal.batch_id} does not verify with key {seal.kid}"
        ) from exc
    return seal


def _parse_proof(proof: Any) -> tuple[int, list[bytes]]:
    if not isinstance(proof, Mapping) or proof.keys() != {"index", "path"}:
        raise SealError('a record proof is an object {"index": int, "path": [hex, ...]}')
    index, path = proof["index"], proof["path"]
    if type(index) is not int or not isinstance(path, list):
        raise SealError('a record proof is an object {"index": int, "path": [hex, ...]}')
    try:
        hashes = [bytes.fromhex(h) for h in path]
    except (TypeError, ValueError) as exc:
        raise SealError("record proof path holds a value that is not hex") from exc
    if any(len(h) != HASH_SIZE for h in hashes):
        raise SealError("record proof path holds a hash that is not 32 bytes")
    return index, hashes


def _prove_record(record: Any, proof: Any, seal: BatchSeal, position: int | None) -> bytes:
    """Check one record against a verified seal; return its leaf. Raises SealError."""
    problem = _record_problem(record, seal.resource)
    if problem is not None:
        raise SealError(f"record {problem}")
    index, path = _parse_proof(proof)
    if position is not None and index != position:
        raise SealError(f"record is at position {position} but its proof is for leaf {index}")
    tree = tree_hash_of(seal)
    leaf = record_leaf(record, tree)
    try:
        verify_inclusion(leaf, index, seal.size, path, bytes.fromhex(seal.root), node=tree.node)
    except MerkleProofError as exc:
        raise SealError(f"record is not leaf {index} of the sealed batch: {exc}") from exc
    return leaf


def verify_record(
    record: Mapping[str, Any],
    proof: RecordProof | Mapping[str, Any],
    seal: BatchSeal | Mapping[str, Any],
    public_key: PublicKey,
) -> None:
    """Verify one record on its own: the seal's signature and the record's inclusion."""
    verified = verify_seal(seal, public_key)
    _prove_record(record, proof, verified, None)


def verify_batch(
    records: Sequence[Mapping[str, Any]],
    seal: BatchSeal | Mapping[str, Any],
    public_key: PublicKey,
    *,
    proofs: Sequence[RecordProof | Mapping[str, Any]] | None = None,
) -> list[bytes]:
    """Verify a whole batch; return its leaf hashes or raise :class:`SealError`.

    The signature must verify, every record must be a well-formed record of the
    seal's resource, the count must equal ``seal.size`` and the recomputed root must
    equal ``seal.root``. The error names the first bad record; when only the root
    differs, the per-record ``proofs`` (if given) find which record was altered.
    """
    verified = verify_seal(seal, public_key)
    for i, record in enumerate(records):
        problem = _record_problem(record, verified.resource)
        if problem is not None:
            raise SealError(f"record {i} {problem}")
    if len(records) != verified.size:
        raise SealError(f"seal covers {verified.size} records, the batch has {len(records)}")
    tree = tree_hash_of(verified)
    leaves = [record_leaf(r, tree) for r in records]
    if tree.root(leaves).hex() == verified.root:
        return leaves
    if proofs is not None:
        for i, record in enumerate(records):
            if i >= len(proofs):
                raise SealError(f"record {i} has no proof")
            try:
                _prove_record(record, proofs[i], verified, i)
            except SealError as exc:
                raise SealError(f"record {i}: {exc.message}") from exc
    raise SealError("records do not match the sealed Merkle root (altered or reordered)")


def check_batch(
    records: Sequence[Mapping[str, Any]],
    seal: BatchSeal | Mapping[str, Any],
    public_key: PublicKey,
    *,
    proofs: Sequence[RecordProof | Mapping[str, Any]] | None = None,
) -> BatchCheck:
    """Check every record and report which fail, so only those are quarantined.

    Raises :class:`SealError` only when the seal itself does not verify (then no
    record can be trusted). If the records reproduce the sealed root, all pass at
    O(n) cost. Otherwise each record is checked with its own proof (``proofs[i]``
    for ``records[i]``); without proofs every record that is not already
    malformed fails, because the altered one cannot be told apart.
    """
    verified = verify_seal(seal, public_key)
    failures: dict[int, str] = {}
    for i, record in enumerate(records):
        problem = _record_problem(record, verified.resource)
        if problem is not None:
            failures[i] = f"record {problem}"
    if (
        not failures
        and len(records) == verified.size
        and tree_hash_of(verified)
        .root([record_leaf(r, tree_hash_of(verified)) for r in records])
        .hex()
        == verified.root
    ):
        return BatchCheck(seal=verified, checked=len(records), failures={})
    for i, record in enumerate(records):
        if i in failures:
            continue
        if proofs is None:
            failures[i] = "batch does not match the sealed root and no per-record proof was given"
        elif i >= len(proofs):
            failures[i] = "no per-record proof was given"
        else:
            try:
                _prove_record(record, proofs[i], verified, i)
            except SigningError as exc:
                failures[i] = exc.message
    return BatchCheck(
        seal=verified,
        checked=len(records),
        failures=failures,
        missing=max(0, verified.size - len(records)),
    )
