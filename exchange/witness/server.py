"""A C2SP tlog-witness: ``POST /add-checkpoint`` verifies, checks consistency, cosigns.

The request body is ``old <size>``, up to 63 base64 consistency-proof lines, an empty
line, then the signed checkpoint. The witness answers, as c2sp.org/tlog-witness says:

* 404 — the origin is not a log it witnesses; 403 — no signature by the log's key;
* 400 — a malformed body, an old size above the checkpoint's, a proof with old size 0;
* 409 — the old size is not the latest it cosigned (``Content-Type: text/x.tlog.size``
  exactly, no charset: that size, so the client retries from it); or the same size with
  another root, a fork (plain text that says so: no size to retry from);
* 422 — the consistency proof does not verify (between equal sizes it must be empty);
* 200 — the cosignature line(s), after the new head is persisted
  (:class:`exchange.witness.state.WitnessState`).

Signatures by unknown keys on the checkpoint are ignored. The cosignature is v1
(:class:`signing.cosignature.CosignatureSigner`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from exchange.witness.state import LogHead, WitnessState
from signing.checkpoint import Checkpoint, NoteVerifier, open_checkpoint
from signing.cosignature import CosignatureSigner
from signing.errors import CheckpointError, MerkleProofError
from signing.merkle import verify_consistency

__all__ = ["MAX_BODY_BYTES", "Answer", "Witness", "create_witness_app"]

MAX_BODY_BYTES = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and its content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class Witness:
    """Cosigns checkpoints of the logs it knows, never a fork or a rollback."""

    def __init__(
        self, signer: CosignatureSigner, logs: Sequence[NoteVerifier], state: WitnessState
    ) -> None:
        self.signer = signer
        self.logs = {log.name: log for log in logs}  # a log's key name is its origin
        self.state = state

    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "the body is not UTF-8\n")
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not _OLD.fullmatch(lines[0]) or len(lines) - 1 > MAX_PROOF_LINES:
            return Answer(400, "the body must be: old <size>, ≤ 63 proof lines, a blank line\n")
        old = int(lines[0][4:])
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        except (binascii.Error, ValueError):
            return Answer(400, "a consistency proof line is not base64\n")
        if any(len(h) != 32 for h in proof):
            return Answer(400, "a consistency proof line is not a SHA-256 hash\n")
        try:
            checkpoint = Checkpoint.parse(note[: note.rfind("\n\n") + 1])
        except CheckpointError as exc:
            return Answer(400, f"malformed checkpoint: {exc.message}\n")
        log = self.logs.get(checkpoint.origin)
        if log is None:
            return Answer(404, f"unknown log origin {checkpoint.origin!r}\n")
        try:
            opened = open_checkpoint(note, log, origin=checkpoint.origin)
        except CheckpointError as exc:
            return Answer(403, f"the checkpoint is not signed by the log: {exc.message}\n")
        new = opened.checkpoint
        if old > new.size:
            return Answer(400, f"old size {old} is above the checkpoint size {new.size}\n")
        if old == 0 and proof:
            return Answer(400, "a consistency proof from size 0 must be empty\n")
        with self.state.update(new.origin) as (latest, store):
            latest_size = 0 if latest is None else latest.size
            if old != latest_size:
                return Answer(409, f"{latest_size}\n", SIZE_TYPE)
            if latest is not None and old == new.size and latest.root != new.root:
                return Answer(
                    409,
                    f"the checkpoint's root differs from the one cosigned at size {old}: "
                    "the log has forked\n",
                )
            if old == new.size and proof:
                return Answer(422, "a consistency proof between equal sizes must be empty\n")
            if latest is not None and 0 < old < new.size:
                try:
                    verify_consistency(old, new.size, latest.root, new.root, proof)
                except MerkleProofError as exc:
                    return Answer(422, f"the consistency proof does not verify: {exc.message}\n")
            store(LogHead(new.size, new.root))
        return Answer(200, self.signer.signature_line(opened.note.text))


def create_witness_app(witness: Witness) -> Starlette:
    """The witness's HTTP app: ``POST /add-checkpoint``."""

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return PlainTextResponse("the body is too large\n", status_code=413)
        answer = await run_in_threadpool(witness.add_checkpoint, body)  # it fsyncs
        # the content type as given: Starlette would add a charset to any text/* type,
        # and clients compare text/x.tlog.size exactly
        return Response(
            answer.body, status_code=answer.status, headers={"content-type": answer.content_type}
        )

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])
