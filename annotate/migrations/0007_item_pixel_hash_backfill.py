"""Fill Item.pixel_hash for faces imported before it existed, from their stored grey crops.

The hash is sha256 of the crop's decoded 48x48 grey pixels, as the import writes it. A crop that cannot be read
keeps an empty hash (it is then compared by file bytes only, as before) and is counted on the console.
"""
import hashlib
import io

from django.db import migrations


def _pixels_sha256(storage, name: str) -> str:
    import numpy as np
    from PIL import Image

    with storage.open(name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    return hashlib.sha256(np.ascontiguousarray(grey).tobytes()).hexdigest()


def backfill(apps, schema_editor):
    from django.core.files.storage import default_storage

    Item = apps.get_model("annotate", "Item")
    pending = Item.objects.filter(pixel_hash="").exclude(crop="").only("id", "crop")
    unreadable, batch = 0, []
    for item in pending.iterator(chunk_size=2000):
        try:
            item.pixel_hash = _pixels_sha256(default_storage, item.crop.name)
        except Exception:  # a missing or corrupt file: leave it to the byte hash
            unreadable += 1
            continue
        batch.append(item)
        if len(batch) >= 2000:
            Item.objects.bulk_update(batch, ["pixel_hash"])
            batch = []
    if batch:
        Item.objects.bulk_update(batch, ["pixel_hash"])
    if unreadable:
        print(f"\n  pixel_hash: {unreadable} crops could not be read and keep an empty pixel hash")


class Migration(migrations.Migration):
    dependencies = [("annotate", "0006_project_people_audit_erasure")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
