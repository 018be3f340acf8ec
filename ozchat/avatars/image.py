"""Decode untrusted avatar bytes with Pillow within strict limits, and draw identicons.

Everything here blocks: call it through ``asyncio.to_thread``, never on the UI loop.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import threading
import warnings

from PIL import Image, ImageColor, UnidentifiedImageError

from .errors import AvatarError, AvatarErrorCode

RGB = tuple[int, int, int]
Colour = str | RGB

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
# Far below Pillow's own 89 Mpx limit: an avatar never needs more, and decoding stays small.
MAX_PIXELS = 2048 * 2048  # ample for a face; a 16 Mpx decode takes about 200 MB
MIN_SIZE = 2
MAX_SIZE = 128

# warnings.catch_warnings swaps process-wide state, so threads opening images take turns.
_OPEN_LOCK = threading.Lock()


def check_size(size: int) -> int:
    """Return `size` if it is an even side in pixels the renderer can draw, else raise ValueError."""
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE or size % 2:
        raise ValueError(f"an avatar side is an even number of pixels from {MIN_SIZE} to {MAX_SIZE}, not {size!r}")
    return size


def to_rgb(colour: Colour) -> RGB:
    """Read a colour given as "#rrggbb", a CSS name or rgb(...), or an (r, g, b) tuple."""
    if isinstance(colour, str):
        red, green, blue = ImageColor.getrgb(colour)[:3]
        return red, green, blue
    if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
        raise ValueError(f"not an (r, g, b) colour: {colour!r}")
    return colour[0], colour[1], colour[2]


def _open(data: bytes, max_pixels: int) -> Image.Image:
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
    width, height = image.size
    side = min(width, height)
    if width != height:
        # A real crop: resizing with box= would let the filter read the colours just outside it.
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if side <= size:
        return image.resize((size, size), Image.Resampling.NEAREST)
    return image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)


def decode_avatar(
    data: bytes, size: int, background: Colour = (0, 0, 0), *, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode `data` into a `size` x `size` RGB avatar, transparency laid over `background`."""
    check_size(size)
    picture = fit_square(load_image(data, max_pixels=max_pixels, draft=size), size)
    base = Image.new("RGBA", picture.size, (*to_rgb(background), 255))
    return Image.alpha_composite(base, picture).convert("RGB")


def identicon_image(seed: str, size: int) -> Image.Image:
    """A deterministic symmetric 5x5 pattern in a colour derived from `seed`, `size` pixels square."""
    check_size(size)
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    ink = _rgb(colorsys.hls_to_rgb(hue, 0.42 + digest[2] / 255 * 0.16, 0.55 + digest[3] / 255 * 0.3))
    paper = _rgb(colorsys.hls_to_rgb(hue, 0.93, 0.35))
    bits = int.from_bytes(digest[4:6], "big")
    grid = Image.new("RGB", (5, 5), paper)
    for row in range(5):
        for column in range(3):
            if bits >> (row * 3 + column) & 1:
                grid.putpixel((column, row), ink)
                grid.putpixel((4 - column, row), ink)
    # Sampling at pixel centres keeps the mirror symmetry at sizes that are no multiple of 5.
    return grid.resize((size, size), Image.Resampling.NEAREST)


def _rgb(channels: tuple[float, float, float]) -> RGB:
    red, green, blue = (round(channel * 255) for channel in channels)
    return red, green, blue
