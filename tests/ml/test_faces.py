"""ml.faces: safe decoding of hostile images, Haar detection on real faces, crops and hashes."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ml import faces
from tests.annotate.imports_support import DETECTABLE_ROWS, blank_jpeg, bomb_png, photo, sample_face


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_parse_fer_pixels_accepts_a_real_row_and_names_each_fault():
    face = sample_face(0)
    text = " ".join(map(str, face.ravel()))
    assert np.array_equal(faces.parse_fer_pixels(text), face)
    with pytest.raises(ValueError, match="2303 values, expected 2304"):
        faces.parse_fer_pixels(text.rsplit(" ", 1)[0])
    with pytest.raises(ValueError, match="'abc', not a whole number"):
        faces.parse_fer_pixels("abc " + text.split(" ", 1)[1])
    with pytest.raises(ValueError, match="0..255"):
        faces.parse_fer_pixels("256 " + text.split(" ", 1)[1])
    with pytest.raises(ValueError, match="0..255"):  # a number that would wrap around in int64
        faces.parse_fer_pixels("99999999999999999999999 " + text.split(" ", 1)[1])
    with pytest.raises(ValueError, match="0 values"):
        faces.parse_fer_pixels("")


@pytest.mark.parametrize("mode,fmt", [("RGB", "JPEG"), ("L", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"),
                                      ("RGB", "WEBP"), ("LA", "PNG"), ("I;16", "PNG"), ("1", "PNG")])
def test_decode_reads_every_colour_mode_as_rgb(mode, fmt):
    image = Image.fromarray(sample_face(1), "L").convert(mode if mode != "I;16" else "I").resize((96, 80))
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image, dtype=np.uint16) * 256).astype("<u2"))
        assert image.mode == "I;16"
    decoded = faces.decode(encode(image, fmt))
    assert decoded.rgb.shape == (80, 96, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.width, decoded.height) == (96, 80)
    assert decoded.format == fmt


def test_decode_rejects_non_images_truncated_files_and_bombs():
    with pytest.raises(faces.ImageRejected, match="not a JPEG, PNG or WebP"):
        faces.decode(b"emotion,pixels,Usage\n")
    with pytest.raises(faces.ImageRejected, match="not a JPEG, PNG or WebP"):
        faces.decode(encode(Image.new("RGB", (10, 10)), "GIF"))
    jpeg = photo(DETECTABLE_ROWS[0])
    with pytest.raises(faces.ImageRejected, match="corrupt or truncated"):
        faces.decode(jpeg[: len(jpeg) // 2])
    with pytest.raises(faces.ImageRejected, match="decompression bomb"):
        faces.decode(bomb_png(30_000, 30_000))


def test_a_20000_pixel_wide_image_is_downscaled_not_refused():
    wide = encode(Image.new("RGB", (20_000, 300), (120, 90, 60)), "PNG")
    decoded = faces.decode(wide)
    assert (decoded.width, decoded.height) == (20_000, 300)
    assert max(decoded.rgb.shape[:2]) <= faces.WORK_SIDE
    big_jpeg = encode(Image.new("RGB", (6000, 4000), (10, 200, 30)), "JPEG")  # 24 Mpx: drafted at 1/4 scale
    assert max(faces.decode(big_jpeg).rgb.shape[:2]) <= faces.WORK_SIDE


def test_haar_finds_a_real_face_and_the_crop_is_48x48_grey():
    decoded = faces.decode(photo(DETECTABLE_ROWS[0]))
    box = faces.detect_face(faces.to_grey(decoded.rgb))
    assert box is not None
    x, y, w, h = box
    assert 100 <= x + w / 2 <= 300 and 70 <= y + h / 2 <= 230  # the face was pasted in the middle
    crop = faces.face_crop(decoded.rgb)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert faces.face_crop(faces.decode(blank_jpeg()).rgb) is None


def test_cropped_mode_uses_the_whole_image():
    face = sample_face(2)
    rgb = cv2.cvtColor(face, cv2.COLOR_GRAY2RGB)
    assert np.array_equal(faces.face_crop(rgb, cropped=True), face)
    assert faces.face_crop(np.zeros((60, 100, 3), np.uint8), cropped=True).shape == (48, 48)


def test_crop_with_margin_is_square_even_at_the_edges():
    image = np.arange(100 * 80, dtype=np.uint32).reshape(80, 100).astype(np.uint8)
    assert faces.crop_with_margin(image, (0, 0, 30, 40)).shape == (60, 60)
    assert faces.crop_with_margin(image, (90, 70, 10, 10)).shape == (15, 15)


def test_dhash_is_stable_under_resizing_and_separates_different_faces():
    a, b = sample_face(3), sample_face(4)
    ha = faces.dhash(a)
    assert -(1 << 63) <= ha < (1 << 63)
    resized = cv2.resize(cv2.resize(a, (96, 96)), (48, 48), interpolation=cv2.INTER_AREA)
    many = np.array([faces.dhash(a), faces.dhash(resized), faces.dhash(b), -1], dtype=np.int64)
    distances = faces.hamming_many(ha, many).tolist()
    assert distances[0] == 0 and distances[1] <= 4 and distances[2] > 10
    bits = [((ha ^ int(h)) & 0xFFFF_FFFF_FFFF_FFFF).bit_count() for h in many]  # signed hashes compare as 64-bit words
    assert distances == bits


def test_near_duplicates_are_found_by_hamming_distance():
    rng = np.random.default_rng(0)
    hashes = rng.integers(-2**63, 2**63 - 1, 500, dtype=np.int64)
    hashes[10] = hashes[20] ^ np.int64(0b1011)  # 3 bits apart
    hashes[30] = hashes[40] ^ np.int64(0b1111111)  # 7 bits apart: too far
    pairs = faces.near_duplicate_pairs(hashes, max_distance=4)
    assert pairs.tolist() == [[10, 20, 3]]


def test_near_duplicate_pairs_match_comparing_every_pair():
    rng = np.random.default_rng(1)
    base = rng.integers(-2**63, 2**63 - 1, 40, dtype=np.int64)
    copies = [b ^ np.int64(sum(1 << int(bit) for bit in rng.choice(63, rng.integers(0, 7), replace=False)))
              for b in base for _ in range(2)]  # 0..6 bits flipped: some within the distance, some not
    hashes = np.r_[base, np.array(copies, dtype=np.int64)]
    every = [(i, j, int(faces.hamming_many(int(hashes[i]), hashes[j:j + 1])[0]))
             for i in range(len(hashes)) for j in range(i + 1, len(hashes))]
    near = sorted((d, i, j) for i, j, d in every if d <= 4)
    assert len(near) > 40
    assert faces.near_duplicate_pairs(hashes, max_distance=4).tolist() == [[i, j, d] for d, i, j in near]
    assert faces.near_duplicate_pairs(hashes, max_distance=4, max_pairs=5).tolist() == [[i, j, d] for d, i, j in near[:5]]


def test_content_hash_and_png_round_trip():
    face = sample_face(5)
    assert faces.sha256(face) == faces.sha256(face.tobytes())
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(faces.png_bytes(face)))), face)


def test_exif_rotation_is_applied_and_reported_in_the_size():
    image = Image.new("RGB", (120, 80), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    decoded = faces.decode(encode(image, "JPEG", exif=exif.tobytes()))
    assert decoded.rgb.shape == (120, 80, 3) and (decoded.width, decoded.height) == (80, 120)


def test_a_large_palette_image_is_shrunk_before_conversion():
    image = Image.new("P", (4000, 3000), 3)
    image.putpalette([i % 256 for i in range(768)])
    decoded = faces.decode(encode(image, "PNG"))
    assert decoded.rgb.shape == (768, 1024, 3)


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_the_incremental_index_finds_what_comparing_with_every_earlier_hash_finds(batch):
    rng = np.random.default_rng(2)
    base = rng.integers(-2**63, 2**63 - 1, 60, dtype=np.int64)
    copies = [b ^ np.int64(sum(1 << int(bit) for bit in rng.choice(63, rng.integers(0, 7), replace=False)))
              for b in base for _ in range(3)]  # 0..6 bits flipped, and exact copies: the same hash twice
    hashes = rng.permutation(np.r_[base, np.array(copies, dtype=np.int64), base[:10]])
    expected = [None]
    for position, h in enumerate(hashes[1:], start=1):
        d = faces.hamming_many(int(h), hashes[:position])
        best = int(np.argmin(d))  # the nearest, and the earliest of equally near ones
        expected.append((1000 + best, int(d[best])) if d[best] <= 4 else None)
    index, found = faces.NearDuplicateIndex(max_distance=4), []
    for start in range(0, len(hashes), batch):
        found += index.add_many(hashes[start:start + batch], 1000 + np.arange(start, min(start + batch, len(hashes))))
    assert found == expected and sum(f is not None for f in found) > 60
    assert sum(f is not None and f[1] == 0 for f in found) >= 10 and index.count == len(np.unique(hashes))


@pytest.mark.parametrize("max_distance", [0, 1, 3, 6])
def test_the_index_holds_for_every_distance(max_distance):
    rng = np.random.default_rng(max_distance)
    base = rng.integers(-2**63, 2**63 - 1, 30, dtype=np.int64)
    copies = [b ^ np.int64(sum(1 << int(bit) for bit in rng.choice(63, rng.integers(0, 9), replace=False)))
              for b in base for _ in range(4)]
    hashes = rng.permutation(np.r_[base, np.array(copies, dtype=np.int64)])
    index = faces.NearDuplicateIndex(max_distance=max_distance)
    for position, h in enumerate(hashes[:50]):  # added without asking, as a project's faces are loaded
        index.add(int(h), 1000 + position)
    found = index.add_many(hashes[50:], 1000 + np.arange(50, len(hashes)))
    for position, got in enumerate(found, start=50):
        d = faces.hamming_many(int(hashes[position]), hashes[:position])
        best = int(np.argmin(d))
        assert got == ((1000 + best, int(d[best])) if d[best] <= max_distance else None)
