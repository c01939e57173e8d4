"""Reading a QR code from an uploaded picture: the PNG ``govex cert qr`` writes, or a photo.

The picture is opened with Pillow (bounded: a size and pixel ceiling against decompression
bombs, large photos scaled down first) and the code read with zxing-cpp, a maintained
decoder of QR codes in photos (skewed, blurred, any orientation). What it returns is the
QR text (``GX1:…``) the verify page checks like pasted text.
"""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

from exchange.errors import InvalidRequest
from schemas.errors import ErrorCode

__all__ = ["MAX_IMAGE_BYTES", "is_image", "read_qr"]

MAX_IMAGE_BYTES = 6 * 1024 * 1024
_MAX_PIXELS = 40_000_000  # a 48-megapixel phone photo is refused, a 12-megapixel one read
_WORK_SIDE = 2000  # photos are scaled to at most this side before decoding
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM")


def is_image(raw: bytes) -> bool:
    """Whether ``raw`` starts like a PNG, JPEG, GIF, WebP or BMP picture."""
    return raw.startswith(_SIGNATURES)


def _unreadable(why: str) -> InvalidRequest:
    return InvalidRequest(
        f"no QR code could be read from the picture: {why}", code=ErrorCode.INVALID_FILE
    )


def read_qr(raw: bytes) -> str:
    """The text of the QR code in the picture ``raw``; InvalidRequest when there is none."""
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            width, height = opened.size
            if width * height > _MAX_PIXELS:
                raise _unreadable(f"the picture is too large ({width}×{height} pixels)")
            opened.draft("L", (_WORK_SIDE, _WORK_SIDE))  # JPEG: decode at a reduced size
            picture = opened.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise _unreadable("not a picture that can be opened") from exc
    picture.thumbnail((_WORK_SIDE, _WORK_SIDE))
    found = zxingcpp.read_barcodes(picture, formats=zxingcpp.barcode_formats_from_str("QRCode"))
    texts = [r.text for r in found if r.valid and r.text]
    if not texts:
        raise _unreadable("no QR code found; photograph it flat, whole and in focus")
    return texts[0]
