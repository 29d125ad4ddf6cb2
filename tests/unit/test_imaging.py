"""curate.imaging.decode: the OpenCV fast path gives Pillow's pixels, or steps aside."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from curate.imaging import _decode_png_fast, decode, encode_png

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
COLOUR = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (13, 17, 4), dtype=np.uint8)


def png(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def gamma(value: int) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", value.to_bytes(4, "big"))
    return info


CASES = {
    "L": png(Image.fromarray(GREY)),
    "RGB": png(Image.fromarray(COLOUR)),
    "RGBA": png(Image.fromarray(ALPHA)),
    "LA": png(Image.fromarray(GREY).convert("LA")),
    "P": png(Image.fromarray(COLOUR).quantize(16)),
    "1": png(Image.fromarray(GREY).convert("1")),
    "I;16": png(Image.fromarray(GREY.astype(np.uint16) * 257)),
    "L+tRNS": png(Image.fromarray(GREY), transparency=5),
    "RGB+tRNS": png(Image.fromarray(COLOUR), transparency=(1, 2, 3)),
    "L+gAMA": png(Image.fromarray(GREY), pnginfo=gamma(45455)),
    "RGB+gAMA": png(Image.fromarray(COLOUR), pnginfo=gamma(100000)),
    "RGB level 1": png(Image.fromarray(COLOUR), compress_level=1),
    "JPEG": (lambda b: (Image.fromarray(COLOUR).save(b, format="JPEG"), b.getvalue())[1])(
        io.BytesIO()
    ),
}


def pillow_decode(data: bytes, mode: str | None, size=None) -> np.ndarray:
    """What decode() did before the fast path (Pillow only; 16-bit as its high byte)."""
    with Image.open(io.BytesIO(data)) as img:
        if img.mode.startswith("I;16"):
            img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8))
        if mode is not None and img.mode != mode:
            img = img.convert(mode)
        elif img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGB")
        if size is not None and img.size != tuple(size):
            img = img.resize(tuple(size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).copy()


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("mode", [None, "L", "RGB"])
@pytest.mark.parametrize("size", [None, (9, 7)])
def test_decode_matches_pillow(name, mode, size):
    data = CASES[name]
    got = decode(data, mode=mode, size=size)
    want = pillow_decode(data, mode, size)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_16_bit_and_float_greyscale_keep_their_contrast():
    """Pillow's convert clipped them to 255 (16-bit) or 0 (float): all white or all black."""
    wide = GREY.astype(np.uint16) * 257  # the full 16-bit range
    np.testing.assert_array_equal(decode(png(Image.fromarray(wide)), mode="L"), GREY)
    assert decode(png(Image.fromarray(wide)), mode="RGB").shape == (*GREY.shape, 3)
    tiff = io.BytesIO()
    Image.fromarray(GREY.astype(np.float32) / 255.0).save(tiff, format="TIFF")
    np.testing.assert_array_equal(decode(tiff.getvalue(), mode="L"), GREY)
    tiff = io.BytesIO()
    Image.fromarray(GREY.astype(np.int32) * 100_000 - 7).save(tiff, format="TIFF")  # mode I
    stretched = decode(tiff.getvalue(), mode="L")
    assert stretched.min() == 0 and stretched.max() == 255
    assert (
        np.argsort(stretched.ravel(), kind="stable") == np.argsort(GREY.ravel(), kind="stable")
    ).all()


@pytest.mark.parametrize(
    ("name", "mode"),
    [("L", None), ("L", "L"), ("L", "RGB"), ("RGB", None), ("RGB", "RGB"), ("L+gAMA", "L")],
)
def test_fast_path_taken_for_plain_grey_and_rgb(name, mode):
    assert _decode_png_fast(CASES[name], mode) is not None


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("RGB", "L"),  # Pillow's luma formula, not OpenCV's
        ("RGB+tRNS", None),  # OpenCV would add an alpha channel
        ("P", "RGB"),
        ("I;16", "L"),
        ("1", "L"),
        ("RGBA", None),
        ("JPEG", "RGB"),
    ],
)
def test_fast_path_steps_aside(name, mode):
    assert _decode_png_fast(CASES[name], mode) is None


def test_truncated_png_is_pillows_error(capfd):
    data = CASES["L"]
    with pytest.raises(OSError):
        decode(data[: len(data) // 2], mode="L")
    assert "libpng" not in capfd.readouterr().err


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def with_chunks(data: bytes, before: Sequence[bytes] = (), after: Sequence[bytes] = ()) -> bytes:
    """``data`` (signature, IHDR, IDAT..., IEND) with chunks after IHDR and before IEND."""
    return data[:33] + b"".join(before) + data[33:-12] + b"".join(after) + data[-12:]


def bad_idat_crc(data: bytes) -> bytes:
    return data[:-16] + bytes([data[-16] ^ 0xFF]) + data[-15:]


SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

#: Files Pillow decodes silently and libpng (OpenCV's fast path) warned about on
#: stderr, with what it printed.
NOISY = {
    # "iCCP: profile 'ICC Profile': 'RGB ': RGB color space not permitted on grayscale PNG"
    "iCCP RGB profile in grey": png(Image.fromarray(GREY), icc_profile=SRGB_PROFILE),
    "iCCP too short": with_chunks(CASES["RGB"], [chunk(b"iCCP", b"p\0\0" + zlib.compress(b"x"))]),
    "sRGB invalid": with_chunks(CASES["RGB"], [chunk(b"sRGB", b"\x07")]),
    "sRGB too long": with_chunks(CASES["RGB"], [chunk(b"sRGB", b"\0\0")]),
    "pHYs duplicate": with_chunks(CASES["L"], [chunk(b"pHYs", bytes(9))] * 2),
    "gAMA out of place": with_chunks(CASES["L"], after=[chunk(b"gAMA", (45455).to_bytes(4))]),
    "tIME invalid value": with_chunks(CASES["L"], [chunk(b"tIME", b"\x07\xe0\x0d\x20\0\0\0")]),
    "bKGD invalid": with_chunks(CASES["L"], [chunk(b"bKGD", b"\0")]),
    "sBIT invalid": with_chunks(CASES["L"], [chunk(b"sBIT", b"\x09")]),
    "zTXt bad data": with_chunks(CASES["L"], [chunk(b"zTXt", b"Comment\0\0garbage")]),
    "cICP too short": with_chunks(CASES["RGB"], [chunk(b"cICP", b"\x01\x0d\0")]),
    "PLTE in grey": with_chunks(CASES["L"], [chunk(b"PLTE", bytes(6))]),
    "IDAT CRC error": bad_idat_crc(CASES["RGB"]),  # an error: OpenCV gave up, Pillow decoded
}


@pytest.mark.parametrize("name", NOISY)
@pytest.mark.parametrize("mode", [None, "RGB"])
def test_pngs_libpng_warns_about_decode_silently_to_pillows_pixels(name, mode, capfd):
    """libpng printed "libpng warning: ..." on the process's stderr (a --json
    consumer's input, the progress bar's line); these files go to Pillow."""
    got = decode(NOISY[name], mode=mode)
    assert capfd.readouterr().err == ""
    np.testing.assert_array_equal(got, pillow_decode(NOISY[name], mode))


def test_fast_path_keeps_the_chunks_libpng_takes_quietly_and_no_others(capfd):
    text = chunk(b"tEXt", b"Software\0curate")
    quiet = {
        "sRGB + its gAMA": with_chunks(
            CASES["RGB"], [chunk(b"sRGB", b"\0"), chunk(b"gAMA", (45455).to_bytes(4))]
        ),
        "pHYs": png(Image.fromarray(GREY), dpi=(72, 72)),
        "tEXt before and after IDAT, tIME": with_chunks(
            CASES["L"], [text, text], [chunk(b"tIME", b"\x07\xe8\x02\x1d\x17\x3b\x3c"), text]
        ),
        "IDAT in three chunks": (
            CASES["L"][:33]
            + b"".join(
                chunk(b"IDAT", part)
                for idat in [CASES["L"][41:-16]]
                for part in (idat[:5], b"", idat[5:])
            )
            + CASES["L"][-12:]
        ),
    }
    for name, data in quiet.items():
        assert _decode_png_fast(data, None) is not None, name
        np.testing.assert_array_equal(decode(data), pillow_decode(data, None))
    for name, data in NOISY.items():
        assert _decode_png_fast(data, None) is None, name
    assert capfd.readouterr().err == ""


def test_a_stored_image_above_pillows_own_limit_still_decodes(monkeypatch):
    """Ingest's --max-pixels decides which images are stored; Pillow's own bomb
    limit must not refuse one of them later (a scan failed on it)."""
    import io

    from PIL import Image

    from curate.imaging import decode

    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (10, 20, 30, 255)).save(buf, format="PNG")  # Pillow's path
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: over twice the limit
    assert decode(buf.getvalue(), mode="RGB").shape == (64, 64, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000  # put back afterwards


@pytest.mark.parametrize(
    "array",
    [
        np.full((4, 4), 0.8, np.float32),  # a ToFloat output: was stored black
        np.full((4, 4, 3), -1.5, np.float32),  # a Normalize output: wrapped around
        np.full((4, 4), 300, np.int64),
    ],
)
def test_encode_png_refuses_pixels_that_are_not_uint8(array):
    with pytest.raises(ValueError, match=f"PNG pixels must be uint8, got {array.dtype}"):
        encode_png(array)


def test_encode_png_round_trips_uint8():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    colour = np.stack([grey, grey + 1, grey + 2], axis=-1)[:, ::-1]  # not contiguous
    assert np.array_equal(decode(encode_png(grey)), grey)
    assert np.array_equal(decode(encode_png(grey[:, :, None])), grey)
    assert np.array_equal(decode(encode_png(colour)), colour)
