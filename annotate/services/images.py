"""Reading items' stored face crops back as pixel arrays, for the model."""
import io

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image

from annotate.exceptions import ValidationFailed

CROP_SIZE = 48


def item_images_load(*, items: list[tuple[int, str]]) -> np.ndarray:
    """(item id, crop storage name) pairs -> uint8 (N, 48, 48) grey faces, resized if stored larger."""
    out = np.zeros((len(items), CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    for i, (item_id, name) in enumerate(items):
        if not name:
            raise ValidationFailed(f"Item {item_id} has no stored crop to score.", code="no_crop")
        with default_storage.open(name, "rb") as f:
            image = Image.open(io.BytesIO(f.read())).convert("L")
        if image.size != (CROP_SIZE, CROP_SIZE):
            image = image.resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)
        out[i] = np.asarray(image, dtype=np.uint8)
    return out
