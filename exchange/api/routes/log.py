"""The audit log as a C2SP tiled transparency log (c2sp.org/tlog-tiles).

* ``GET /log/checkpoint`` — public: the latest signed checkpoint, the C2SP signed
  note verbatim (``text/plain; charset=utf-8``), cached a few seconds at most;
* ``GET /log/tile/<L>/<N>[.p/<W>]`` — public: hash tiles (only hashes: what a leaf
  hashes to says nothing without the entry); full tiles are immutable;
* ``GET /log/tile/entries/<N>[.p/<W>]`` — auditors only: entry bundles, each entry's
  leaf data length-prefixed. Entries name departments and actions, so they stay
  behind a token like the JSON audit API, and each call is audited.

The log's verifier key (``vkey``) is in ``GET /.well-known/govex``. Public reads are not
audited (they are not in the audit middleware's scope: see
:data:`exchange.api.deps.UNAUDITED_PUBLIC`), so fetching tiles never grows the log.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from exchange.api.audited import audited
from exchange.api.deps import Auditor, ExchangeDep, protected_router
from exchange.errors import NotFound
from schemas.errors import ErrorCode
from signing.tiles import MAX_LEVEL, Tile, TileError, parse_index

router = APIRouter(prefix="/log", tags=["log"])
entries_router = protected_router("/log", ["log"])

CHECKPOINT_CACHE = "public, max-age=5"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "public, max-age=60"
BUNDLE_CACHE = "private, max-age=31536000, immutable"
OCTETS = "application/octet-stream"
_LEVEL = re.compile(r"0|[1-9][0-9]?")

TilePath = Annotated[
    str,
    Path(max_length=64, description="N in 3-digit groups (x001/x234/067), then .p/W if partial"),
]


def _tile(level: int, index_path: str) -> Tile:
    try:
        index, width = parse_index(index_path)
        return Tile(level, index) if width is None else Tile(level, index, width)
    except TileError as exc:
        raise NotFound(f"no such tile: {exc.message}", code=ErrorCode.NO_SUCH_TILE) from exc


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint, a signed note)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def checkpoint(exchange: ExchangeDep) -> Response:
    latest = exchange.checkpoints.latest() or exchange.checkpoints.sign_now(force=True)
    return Response(
        latest.note.encode(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": CHECKPOINT_CACHE},
    )


# HEAD of the public resources (RFC 9110 §9.3.2: what GET would answer, without the
# body, which the server leaves out): caches and mirrors check tiles this way. Not in
# the OpenAPI document: it is GET's operation.
router.head("/checkpoint", include_in_schema=False)(checkpoint)


@entries_router.get(
    "/tile/entries/{index:path}",
    summary="Auditor: an entry bundle (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": {OCTETS: {}}}},
)
def entry_bundle(exchange: ExchangeDep, principal: Auditor, index: TilePath) -> Response:
    # the target is the tile's own path once it parses, never the caller's text
    with audited(exchange, principal, "audit.tiles.entries", target="/log/tile/entries") as event:
        tile = _tile(-1, index)
        event.target = f"/log/{tile.path}"
        bundle = exchange.tiles.entry_bundle(tile)
    return Response(bundle, media_type=OCTETS, headers={"Cache-Control": BUNDLE_CACHE})


@router.get(
    "/tile/{level}/{index:path}",
    summary="A hash tile of the audit tree (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": {OCTETS: {}}}},
)
def hash_tile(exchange: ExchangeDep, level: Annotated[str, Path()], index: TilePath) -> Response:
    if not _LEVEL.fullmatch(level) or int(level) > MAX_LEVEL:
        raise NotFound(
            f"no such tile level {level!r}: 0 to {MAX_LEVEL}, no leading zeros",
            code=ErrorCode.NO_SUCH_TILE,
        )
    tile = _tile(int(level), index)
    cache = FULL_TILE_CACHE if tile.full else PARTIAL_TILE_CACHE
    return Response(
        exchange.tiles.hash_tile(tile), media_type=OCTETS, headers={"Cache-Control": cache}
    )


router.head("/tile/{level}/{index:path}", include_in_schema=False)(hash_tile)
