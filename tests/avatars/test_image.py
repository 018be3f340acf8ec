"""Decoding and drawing, without a network: formats, limits, sizes, identicons."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from rich.console import Console

from ozchat.avatars import AvatarError, AvatarErrorCode, identicon
from ozchat.avatars.image import decode_avatar, identicon_pixels
from ozchat.avatars.render import render_avatar, render_image
from ozchat.bundled_avatars import draw
from ozchat.images import fit_square

from .helpers import (
    ACCEPTED,
    BLUE,
    GREEN,
    RED,
    YELLOW,
    close,
    damaged_images,
    encode,
    noise,
    pixels,
    png_header,
    quadrants,
    sample,
)


@pytest.mark.parametrize("size", [8, 10, 32])
def test_a_png_becomes_half_block_cells_of_the_requested_size(size: int) -> None:
    avatar = render_avatar(encode(quadrants(), "PNG"), size, (0, 0, 0))

    assert (avatar.width, avatar.height) == (size, size // 2)
    assert [sum(len(segment.text) for segment in line) for line in avatar.lines] == [size] * (size // 2)
    grid = pixels(avatar)
    assert close(grid[0][0], RED) and close(grid[0][-1], GREEN)
    assert close(grid[-1][0], BLUE) and close(grid[-1][-1], YELLOW)


def test_identical_inputs_give_identical_output() -> None:
    data = encode(quadrants(), "JPEG", quality=90)
    assert render_avatar(data, 10, (1, 2, 3)) == render_avatar(data, 10, (1, 2, 3))


def test_a_rendered_avatar_prints_and_gives_text_lines() -> None:
    avatar = render_avatar(encode(quadrants(), "PNG"), 8, (0, 0, 0))
    console = Console(width=40, force_terminal=True, color_system="truecolor", record=True)
    console.print(avatar)

    assert console.export_text().splitlines() == ["▄" * 8] * 4
    texts = avatar.text_lines()
    assert [text.cell_len for text in texts] == [8] * 4
    assert texts[0].spans[0].style == avatar.lines[0][0].style


def test_the_picture_is_cropped_to_its_centre_square() -> None:
    wide = Image.new("RGB", (300, 100), RED)
    wide.paste(GREEN, (100, 0, 200, 100))
    square = fit_square(wide.convert("RGBA"), 8).convert("RGB")
    assert {colour for row in pixels(render_image(square)) for colour in row} == {GREEN}


def test_transparency_shows_the_background() -> None:
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    image.paste((*RED, 255), (8, 8, 24, 24))
    grid = pixels(render_avatar(encode(image, "PNG"), 8, "#102030"))
    assert grid[0][0] == (16, 32, 48) and close(grid[4][4], RED)


def test_pixel_art_is_scaled_up_without_blur() -> None:
    cat = draw("cat")
    grid = decode_avatar(encode(cat, "PNG"), 32, (0, 0, 0))
    for x, y in [(0, 0), (5, 9), (15, 15)]:
        source = cat.getpixel((x, y))
        expected = source[:3] if source[3] else (0, 0, 0)
        block = {grid.getpixel((2 * x + dx, 2 * y + dy)) for dx in (0, 1) for dy in (0, 1)}
        assert block == {expected}


@pytest.mark.parametrize("size", [0, 7, 130, 8.0])
def test_sizes_are_even_and_bounded(size: object) -> None:
    with pytest.raises(ValueError):
        render_avatar(encode(quadrants(), "PNG"), size, (0, 0, 0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<html><body>not found</body></html>", AvatarErrorCode.NOT_AN_IMAGE),
        (b"", AvatarErrorCode.NOT_AN_IMAGE),
        (encode(quadrants(), "TIFF"), AvatarErrorCode.UNSUPPORTED_FORMAT),
        (encode(quadrants(), "BMP"), AvatarErrorCode.UNSUPPORTED_FORMAT),
        (png_header(5000, 5000), AvatarErrorCode.TOO_MANY_PIXELS),  # over our cap, under Pillow's
        (png_header(10000, 10000), AvatarErrorCode.TOO_MANY_PIXELS),  # Pillow's warning, made an error
        (png_header(20000, 20000), AvatarErrorCode.TOO_MANY_PIXELS),  # Pillow's own bomb error
        (png_header(64, 64), AvatarErrorCode.CORRUPT),
        (encode(noise(), "PNG")[:2000], AvatarErrorCode.CORRUPT),
    ],
    ids=["html", "empty", "tiff", "bmp", "25Mpx", "100Mpx", "400Mpx", "no-pixel-data", "truncated"],
)
def test_bad_bytes_raise_a_precise_error(data: bytes, code: AvatarErrorCode) -> None:
    with pytest.raises(AvatarError) as caught:
        decode_avatar(data, 8)
    assert caught.value.code is code


def test_the_first_frame_of_an_animation_is_used() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, GREEN)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    assert {c for row in pixels(render_avatar(data, 8, (0, 0, 0))) for c in row} == {RED}


def identicon_image(seed: str, size: int) -> Image.Image:
    """`identicon_pixels` as an RGB image, to hold it against Pillow and rich-pixels."""
    image = Image.new("RGB", (size, size))
    image.putdata([pixel for row in identicon_pixels(seed, size) for pixel in row])
    return image


def test_identicons_are_deterministic_symmetric_and_seeded() -> None:
    first, again, other = identicon_image("Qdb3W", 10), identicon_image("Qdb3W", 10), identicon_image("John", 10)

    assert first.tobytes() == again.tobytes() != other.tobytes()
    for y in range(10):
        assert [first.getpixel((x, y)) for x in range(10)] == [first.getpixel((9 - x, y)) for x in range(10)]
    assert len({first.getpixel((x, y)) for x in range(10) for y in range(10)}) == 2


def test_identicons_are_drawn_at_any_size_at_once() -> None:
    for size in (8, 10, 32):
        avatar = identicon("Qdb3W", size)
        assert (avatar.width, avatar.height) == (size, size // 2)


@pytest.mark.parametrize("seed", ["Qdb3W", "John", "x81Kd", "\udcff"])
def test_an_identicon_drawn_without_pillow_is_the_one_pillow_and_rich_pixels_draw(seed: str) -> None:
    for size in range(2, 129, 2):
        assert identicon(seed, size) == render_image(identicon_image(seed, size)), size


SIGNATURE_LENGTHS = {"png": 8, "jpeg": 3, "gif": 6, "webp": 12, "webp-lossless": 12}


@pytest.mark.parametrize("kind", list(ACCEPTED))
def test_every_truncation_of_an_accepted_format_is_corrupt_or_decodes(kind: str) -> None:
    """Cut anywhere after its signature, an image decodes (only its trailer lost) or is `corrupt`, nothing else."""
    data = sample(kind)
    outcomes = set()
    for cut in range(len(data)):
        try:
            decode_avatar(data[:cut], 8)
        except AvatarError as error:
            expected = AvatarErrorCode.CORRUPT if cut >= SIGNATURE_LENGTHS[kind] else AvatarErrorCode.NOT_AN_IMAGE
            assert error.code is expected, (cut, error)
            outcomes.add(error.code)
        else:
            outcomes.add("decoded")
    assert AvatarErrorCode.CORRUPT in outcomes


@pytest.mark.parametrize(("name", "data"), list(damaged_images().items()), ids=list(damaged_images()))
def test_damaged_images_are_corrupt(name: str, data: bytes) -> None:
    with pytest.raises(AvatarError) as caught:
        render_avatar(data, 8, (0, 0, 0))
    assert caught.value.code is AvatarErrorCode.CORRUPT
