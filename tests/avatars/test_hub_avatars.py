"""The hub's avatar files: bundled pixel art by name, uploads validated and re-encoded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from ozchat.avatars import AvatarErrorCode
from ozchat.bundled_avatars import NAMES, bundled_avatar, bundled_names, draw, main
from ozchat.hub.avatars import UploadRejected, UploadStore, accept_upload
from ozchat.protocol import MAX_UPLOAD_BYTES

from .helpers import encode, noise, png_header, quadrants


def test_a_dozen_bundled_avatars_ship_as_16px_pngs() -> None:
    assert len(bundled_names()) >= 12
    assert bundled_names() == sorted(NAMES)
    for name in bundled_names():
        data = bundled_avatar(name)
        assert data is not None and bundled_avatar(f"{name}.png") == data
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("PNG", (16, 16))
            # The shipped files are the generator's output, pixel for pixel.
            assert image.convert("RGBA").tobytes() == draw(name).tobytes()


@pytest.mark.parametrize(
    "name", ["../x", "../../etc/passwd", "/etc/passwd", "cat/../cat", "CAT", "", ".png", "c\0t", "cat.png.png"]
)
def test_only_plain_bundled_names_are_served(name: str) -> None:
    assert bundled_avatar(name) is None


def test_the_generator_writes_every_avatar(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(path.stem for path in tmp_path.glob("*.png")) == sorted(NAMES)
    assert main([]) == 2


def photo_with_metadata(side: int = 200) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone@example.com")
    info.add_text("GPS", "48.8584 N, 2.2945 E")
    return encode(quadrants(side), "PNG", pnginfo=info)


def test_an_upload_is_re_encoded_small_bare_and_named_by_content() -> None:
    data = photo_with_metadata()

    name, png = accept_upload(data)

    assert name.endswith(".png") and len(name) == 36 and all(c in "0123456789abcdef" for c in name[:32])
    assert b"someone@example.com" not in png and b"tEXt" not in png
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (64, 64), "RGBA")
        assert not image.info.get("Author")
    assert accept_upload(data) == (name, png)
    assert accept_upload(encode(quadrants(100), "PNG"))[0] != name


def test_a_small_upload_keeps_its_size_and_transparency() -> None:
    _, png = accept_upload(encode(draw("ghost"), "PNG"))
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (16, 16) and image.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (encode(noise(400), "PNG"), AvatarErrorCode.UPLOAD_TOO_LARGE),
        (b"\0" * (MAX_UPLOAD_BYTES + 1), AvatarErrorCode.UPLOAD_TOO_LARGE),
        (b"a GIF89a it is not", AvatarErrorCode.NOT_AN_IMAGE),
        (b"GIF89a and nothing of a picture", AvatarErrorCode.CORRUPT),
        (encode(quadrants(), "TIFF"), AvatarErrorCode.UNSUPPORTED_FORMAT),
        (png_header(20000, 20000), AvatarErrorCode.TOO_MANY_PIXELS),
    ],
    ids=["big-png", "big-bytes", "not-an-image", "gif-signature-only", "tiff", "bomb"],
)
def test_bad_uploads_are_refused_with_a_stable_code(data: bytes, code: AvatarErrorCode) -> None:
    with pytest.raises(UploadRejected) as caught:
        accept_upload(data)
    assert caught.value.code is code and caught.value.code.value == code.value


def test_the_upload_store_serves_by_name_and_keeps_under_its_cap(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads", max_bytes=40_000)
    names = [store.add(encode(noise(64, seed), "PNG")) for seed in range(6)]

    assert store.total_bytes() <= 40_000
    assert store.get(names[-1]) is not None
    assert store.get(names[0]) is None  # the oldest made room
    assert store.get("../" + names[-1]) is None and store.get("x.png") is None
    assert store.add(encode(noise(64, 5), "PNG")) == names[-1]
