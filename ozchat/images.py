"""Image rules shared by the hub and the client: formats, the pixel cap, decoding, re-encoding.

Pillow is imported only inside the functions that handle an image, so importing this module
(as the hub and the chat app do at start) costs nothing; nothing here touches the network.
Everything that decodes blocks: call it through ``asyncio.to_thread``, never on an event loop.
"""

from __future__ import annotations

import io
import threading
import warnings
from enum import StrEnum
from typing import TYPE_CHECKING

from .exceptions import OzchatError

if TYPE_CHECKING:
    from PIL import Image

RGB = tuple[int, int, int]

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
# Far below Pillow's own 89 Mpx limit: an avatar never needs more, and decoding stays small.
MAX_PIXELS = 2048 * 2048  # ample for a face; a 16 Mpx decode takes about 200 MB

# warnings.catch_warnings swaps process-wide state, so threads opening images take turns.
_OPEN_LOCK = threading.Lock()


class AvatarErrorCode(StrEnum):
    """Stable codes of avatar failures; the client reports them, the hub refuses uploads with them."""

    BAD_URL = "bad_url"
    REFUSED_ADDRESS = "refused_address"
    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    CONNECTION_FAILED = "connection_failed"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    CORRUPT = "corrupt"
    UPLOAD_TOO_LARGE = "upload_too_large"


class AvatarError(OzchatError):
    """An avatar could not be fetched, decoded or accepted; `code` says why.

    `status` is the HTTP status when `code` is ``HTTP_STATUS``.
    """

    def __init__(self, code: AvatarErrorCode, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def copy(self) -> AvatarError:
        """A fresh error with the same reason, to raise again without growing a traceback."""
        return type(self)(self.code, self.message, status=self.status)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise AvatarError(AvatarErrorCode.TOO_MANY_PIXELS, str(exc)) from None
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except Exception as exc:  # a header Pillow recognised, then broken: truncated, or a chunk too large to inflate
        raise AvatarError(AvatarErrorCode.CORRUPT, f"the image is damaged: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise AvatarError(
            AvatarErrorCode.TOO_MANY_PIXELS, f"{width}x{height} pixels; the limit is {max_pixels} pixels"
        )
    return image


def _signature_format(data: bytes) -> str | None:
    """The accepted format whose signature `data` starts with, if any."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _unidentified(data: bytes) -> AvatarError:
    """Tell a damaged image, an image in a format we refuse (so the user can convert it) and bytes that are none."""
    from PIL import Image

    damaged = _signature_format(data)
    if damaged is not None:
        # Pillow reports a header it cannot parse (a truncated one, say) as no image at all.
        return AvatarError(AvatarErrorCode.CORRUPT, f"the {damaged} image is damaged")
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as other:
                kind = other.format
    except Exception:  # any failure of the all-formats probe means the bytes are no image
        return AvatarError(AvatarErrorCode.NOT_AN_IMAGE, "the data is not an image")
    return AvatarError(
        AvatarErrorCode.UNSUPPORTED_FORMAT, f"{kind} images are not supported; use {', '.join(ALLOWED_FORMATS)}"
    )


def load_image(data: bytes, *, max_pixels: int = MAX_PIXELS, draft: int | None = None) -> Image.Image:
    """Decode the first frame of `data` as an RGBA image, or raise AvatarError.

    Only PNG, JPEG, GIF and WebP are opened, as Pillow detects them from the bytes; the pixel
    count is checked from the header before anything is decoded. `draft` lets JPEG decode at a
    reduced scale that still covers a square of that side.
    """
    image = _open(data, max_pixels)
    try:
        with image:
            if draft is not None and image.format == "JPEG":
                image.draft("RGB", (draft, draft))
            return image.convert("RGBA")
    except Exception as exc:  # Pillow raises many types on broken data; all mean the same here
        raise AvatarError(AvatarErrorCode.CORRUPT, f"the {image.format} image is damaged: {exc}") from None


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Crop the centre square of `image` and scale it to `size` x `size`.

    Upscaling (pixel art, tiny icons) uses NEAREST so pixels stay crisp. Downscaling averages
    whole pixel blocks first (reducing_gap, fast and alias-free) and finishes with LANCZOS, whose
    slight sharpening keeps eyes and mouths readable at 8 pixels where BOX alone turns a face to mud.
    """
    from PIL import Image

    width, height = image.size
    side = min(width, height)
    if width != height:
        # A real crop: resizing with box= would let the filter read the colours just outside it.
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if side <= size:
        return image.resize((size, size), Image.Resampling.NEAREST)
    return image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)


def reencode_square_png(data: bytes, max_side: int) -> bytes:
    """Decode `data` within the limits and return a square PNG of at most `max_side` pixels.

    The first frame is kept with its transparency, cropped to its centre square and scaled
    down; the PNG is encoded from bare pixels, so no metadata of the original survives.
    Raises AvatarError.
    """
    from PIL import Image

    image = load_image(data)
    picture = fit_square(image, min(max_side, *image.size))
    bare = Image.frombytes("RGBA", picture.size, picture.tobytes())
    buffer = io.BytesIO()
    bare.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
