"""Originals: stripped of metadata at import (orientation kept), served to leads only; annotators see only their faces' crops."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from annotate.models import Item
from annotate.services.annotations import annotation_submit
from annotate.services.assignments import assignments_lease
from annotate.services.imports import items_import
from ml.metadata import strip_metadata
from tests.annotate.imports_support import DETECTABLE_ROWS, photo

pytestmark = pytest.mark.django_db

GPS_IFD, MAKE, MODEL, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0112


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION], exif[MAKE], exif[MODEL] = orientation, "Canon", "EOS 5D"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (48.0, 51.0, 30.0)
    return exif


def sideways_photo_with_gps(fmt: str = "JPEG") -> bytes:
    """An upright 400x300 face photo stored rotated a quarter turn, with orientation 6 saying so, a GPS position and a camera."""
    upright = Image.open(io.BytesIO(photo(DETECTABLE_ROWS[0])))
    buffer = io.BytesIO()
    upright.rotate(90, expand=True).save(buffer, format=fmt, exif=_exif(6))
    return buffer.getvalue()


def test_import_stores_originals_without_gps_or_camera_and_upright(make_project, tmp_path):
    project, _, _ = make_project()
    data = sideways_photo_with_gps()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the upload does carry a position
    (tmp_path / "selfie.jpg").write_bytes(data)
    report = items_import(project=project, path=str(tmp_path / "selfie.jpg"))
    assert report.imported == 1, report.as_dict()
    item = Item.objects.get(project=project)
    stored = Path(item.image.path).read_bytes()
    image = Image.open(io.BytesIO(stored))
    exif = image.getexif()
    assert dict(exif) == {ORIENTATION: 6} and not exif.get_ifd(GPS_IFD)
    assert b"Canon" not in stored and b"EOS 5D" not in stored
    assert ImageOps.exif_transpose(image).size == (400, 300) == (item.width, item.height)
    # The pixels are the uploaded ones (no re-encoding): same decoded array as the upload.
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(data))))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_strip_metadata_keeps_only_orientation_in_every_format(fmt):
    data = sideways_photo_with_gps(fmt)
    image = Image.open(io.BytesIO(strip_metadata(data, fmt)))
    assert dict(image.getexif()) == {ORIENTATION: 6} and not image.getexif().get_ifd(GPS_IFD)
    assert ImageOps.exif_transpose(image).size == (400, 300)
    plain = photo(DETECTABLE_ROWS[0], fmt=fmt)
    assert strip_metadata(plain, fmt) == plain  # nothing to strip: the bytes stay as uploaded


def _original_item(project, make_items):
    from django.core.files.base import ContentFile

    (item,) = make_items(project, 1)
    item.image.save("original.jpg", ContentFile(photo(DETECTABLE_ROWS[1])), save=True)
    return item


def test_annotators_get_no_originals_and_only_crops_of_their_faces(api_client, make_project, make_items):
    project, lead, (alice, bob) = make_project(annotators=2, overlap_target=1)
    mine, answered, never = _original_item(project, make_items), *make_items(project, 2)
    # alice is leased `mine` and `answered` (answering the latter); `never` goes to bob only.
    Item.objects.filter(pk=never.pk).update(priority=-1)
    membership = alice.memberships.get(project=project)
    leases = {a.item_id: a for a in assignments_lease(membership=membership, count=2).assignments}
    assert set(leases) == {mine.pk, answered.pk}
    import uuid

    annotation_submit(annotator=alice, assignment_id=leases[answered.pk].pk, client_id=uuid.uuid4(), label="neutral")
    assert [a.item_id for a in assignments_lease(membership=bob.memberships.get(project=project)).assignments] == [never.pk]

    api_client.force_authenticate(alice)
    assert api_client.get(f"/api/items/{mine.pk}/image").status_code == 200
    assert api_client.get(f"/api/items/{answered.pk}/image").status_code == 200
    assert api_client.get(f"/api/items/{never.pk}/image").status_code == 404
    original = api_client.get(f"/api/items/{mine.pk}/image?kind=original")
    assert original.status_code == 403 and original.json()["error"]["code"] == "lead_only"

    api_client.force_authenticate(lead)
    response = api_client.get(f"/api/items/{mine.pk}/image?kind=original")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    assert api_client.get(f"/api/items/{never.pk}/image").status_code == 200
