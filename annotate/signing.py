"""Signed, expiring image links: the labelling loop fetches faces without a session or membership lookup.

The lease API, which has already checked the caller's membership, hands out a link whose token
names the item and is signed with the project's SECRET_KEY, like an object store's presigned URL.
The image view then needs no session, user or membership query. A link is good for LINK_MAX_AGE.
"""
from django.core import signing
from django.urls import reverse

SALT = "ferlab.item-image"
LINK_MAX_AGE = 6 * 60 * 60


def item_image_link(*, item_id: int) -> str:
    token = signing.TimestampSigner(salt=SALT).sign(str(item_id))
    return reverse("item-image-signed", args=[token])


def item_image_token_read(*, token: str) -> int:
    """The item id a token was issued for; raises signing.BadSignature (or SignatureExpired)."""
    return int(signing.TimestampSigner(salt=SALT).unsign(token, max_age=LINK_MAX_AGE))
