"""C2SP tlog-tiles: the Merkle tree of a log as tiles of 256 hashes, and entry bundles.

A tiled log (c2sp.org/tlog-tiles) serves its tree as static resources:

* ``tile/<L>/<N>[.p/<W>]`` — hash tile ``N`` of level ``L``: the 256 (or, for the
  right edge, ``W`` < 256) consecutive Merkle Tree Hashes at tree height ``8·L``,
  ``MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L])`` for ``i`` in ``0..W−1``; at
  level 0 the leaf hashes. In :mod:`signing.merkle` terms hash ``i`` of the tile is
  node ``(8·L, N·256 + i)``.
* ``tile/entries/<N>[.p/<W>]`` — entry bundle ``N``: the entries of level-0 tile
  ``N``, each as a big-endian uint16 length and its bytes.

``N`` is written in 3-digit groups, all but the last prefixed with ``x``
(``1234067`` → ``x001/x234/067``). For a tree of ``size`` entries the partial tile of
level ``L`` has ``⌊size / 256^L⌋ mod 256`` hashes; an empty tile does not exist.

Everything here is pure: :func:`tile_hashes` reads nodes through a callable,
:class:`TileNodes` turns tiles (fetched by a callable) back into nodes, so a
:class:`signing.merkle.MerkleTree` over it proves inclusion and consistency from tiles
alone, the way a tlog-tiles client does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import SigningError
from .merkle import HASH_SIZE, node_hash

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileError",
    "TileNodes",
    "decode_bundle",
    "encode_bundle",
    "encode_index",
    "parse_index",
    "tile_for",
    "tile_hashes",
    "tiles_of",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes
MAX_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF  # an entry bundle length-prefixes entries with a uint16

_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


class TileError(SigningError):
    """A tile path, a tile or an entry bundle that is not what C2SP tlog-tiles says."""


@dataclass(frozen=True)
class Tile:
    """Tile ``index`` of ``level`` with ``width`` hashes (256 = full); level −1 = entries."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not -1 <= self.level <= MAX_LEVEL or self.index < 0:
            raise TileError(f"no tile {self.level}/{self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"tile width {self.width} is not within 1..{TILE_WIDTH}")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The resource path, e.g. ``tile/0/x001/234.p/7`` or ``tile/entries/000``."""
        level = "entries" if self.level < 0 else str(self.level)
        partial = "" if self.full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{partial}"

    @property
    def start(self) -> int:
        """The first entry this tile spans."""
        return self.index << (TILE_HEIGHT * (max(self.level, 0) + 1))


def encode_index(index: int) -> str:
    """``1234067`` → ``x001/x234/067``; ``5`` → ``005``."""
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_index(path: str) -> tuple[int, int | None]:
    """``x001/x234/067.p/5`` → ``(1234067, 5)``; a full tile's width is ``None``.

    Exactly the encoding :func:`encode_index` writes: no leading ``x000`` group, no
    width 0 or 256, nothing else.
    """
    width: int | None = None
    head, sep, tail = path.partition(".p/")
    if sep:
        if not _WIDTH.fullmatch(tail) or int(tail) >= TILE_WIDTH:
            raise TileError(f"malformed partial tile width {tail!r}")
        width = int(tail)
    *groups, last = head.split("/")
    if not _LAST.fullmatch(last) or not all(_GROUP.fullmatch(g) for g in groups):
        raise TileError(f"malformed tile index {head!r}")
    if groups and groups[0] == "x000":
        raise TileError(f"tile index {head!r} has a leading zero group")
    return int("".join(g[1:] for g in groups) + last), width


def tile_for(level: int, index: int, size: int) -> Tile | None:
    """Tile ``index`` of ``level`` (−1: entries) as it is in a tree of ``size``, or None.

    Full when the tree covers all of it, else partial with ``⌊size / 256^L⌋ mod 256``
    hashes; ``None`` when the tree holds none of it yet.
    """
    below = size >> (TILE_HEIGHT * max(level, 0))  # complete hashes at this tile level
    width = below - index * TILE_WIDTH
    if width <= 0:
        return None
    return Tile(level, index, min(width, TILE_WIDTH))


def tiles_of(size: int) -> list[Tile]:
    """Every hash tile of a tree of ``size`` entries (full and partial), level by level."""
    out: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        index = 0
        while (tile := tile_for(level, index, size)) is not None:
            out.append(tile)
            index += 1
        level += 1
    return out


def tile_hashes(tile: Tile, node: Callable[[int, int], bytes]) -> bytes:
    """The bytes of a hash tile: node ``(8·L, N·256 + i)`` for ``i < width``, concatenated."""
    if tile.level < 0:
        raise TileError("an entry bundle is not made of hashes")
    height, first = TILE_HEIGHT * tile.level, tile.index * TILE_WIDTH
    return b"".join(node(height, first + i) for i in range(tile.width))


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length, then its bytes."""
    out = bytearray()
    for number, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise TileError(f"entry {number} is {len(entry)} bytes; a bundle holds ≤ 65,535")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; a truncated length or entry is refused."""
    out: list[bytes] = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise TileError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise TileError("entry bundle ends inside an entry")
        out.append(data[position : position + length])
        position += length
    return out


class TileNodes:
    """A read-only :class:`signing.merkle.NodeStore` of a tree of ``size``, from its tiles.

    ``fetch(tile)`` returns a tile's bytes (e.g. over HTTP); each tile is fetched once
    and must be exactly ``32 · width`` bytes. Node ``(h, k)`` is read from the tile of
    level ``⌊h / 8⌋`` and, between tile levels, hashed up from the ``2^(h mod 8)``
    hashes below it. A :class:`signing.merkle.MerkleTree` over this store proves
    inclusion and consistency for any size up to ``size``.
    """

    def __init__(self, size: int, fetch: Callable[[Tile], bytes]) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], bytes] = {}
        self.fetched: list[Tile] = []

    def _tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        data = self._tiles.get(key)
        if data is None:
            tile = tile_for(level, index, self.size)
            if tile is None:
                raise TileError(f"tile {level}/{index} is beyond tree size {self.size}")
            data = self._fetch(tile)
            if len(data) != HASH_SIZE * tile.width:
                raise TileError(
                    f"tile {tile.path} is {len(data)} bytes, not {HASH_SIZE * tile.width}"
                )
            self.fetched.append(tile)
            self._tiles[key] = data
        return data

    def get(self, level: int, index: int) -> bytes | None:
        if (index + 1) << level > self.size:
            return None  # not a complete subtree of this tree
        tile_level, rest = divmod(level, TILE_HEIGHT)
        first = index << rest  # hashes at height 8·tile_level under this node
        data = self._tile(tile_level, first // TILE_WIDTH)
        offset = first % TILE_WIDTH
        row = [
            data[HASH_SIZE * i : HASH_SIZE * (i + 1)] for i in range(offset, offset + (1 << rest))
        ]
        while len(row) > 1:
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        return row[0]

    def put_many(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        raise TileError("tiles are read-only")
