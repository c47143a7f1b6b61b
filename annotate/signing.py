"""Signed, expiring image links: the labelling loop fetches faces without a session or membership lookup.

The lease API, which has already checked the caller's membership, hands out a link whose token
names the item and its stored crop and is signed with the project's SECRET_KEY, like an object
store's presigned URL. The image view then needs no database query at all. A link is good for
LINK_MAX_AGE.
"""
from django.core import signing
from django.urls import reverse

SALT = "ferlab.item-image"
LINK_MAX_AGE = 6 * 60 * 60


def item_image_link(*, item_id: int, crop: str) -> str:
    """crop: the name of the item's stored crop (Item.crop.name)."""
    token = signing.TimestampSigner(salt=SALT).sign_object([item_id, crop])
    return reverse("item-image-signed", args=[token])


def item_image_token_read(*, token: str) -> tuple[int, str]:
    """(item id, crop name) a token was issued for; raises signing.BadSignature (or SignatureExpired)."""
    item_id, crop = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=LINK_MAX_AGE)
    return int(item_id), str(crop)
