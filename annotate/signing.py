"""Signed, expiring image links: the labelling loop fetches faces without a session lookup.

The lease API, which has already checked the caller's membership, hands out a link whose token
names the item, its stored crop and the holder (user, membership id and role when the link was made),
signed with the project's SECRET_KEY, like an object store's presigned URL. The image view needs no
session and no item query; it checks the holder's membership on one primary-key lookup
(annotate.access.access_face_link), so a member who is removed, paused or demoted loses their links at
once (issue 17, point 10). A link is good for LINK_MAX_AGE.
"""
from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

SALT = "ferlab.item-image"
LINK_MAX_AGE = 6 * 60 * 60


@dataclass(frozen=True)
class FaceLink:
    """What a token was issued for: the item and crop, and who holds it (membership_id 0: a superuser without one)."""

    item_id: int
    crop: str
    user_id: int
    membership_id: int
    role: str


def item_image_link(*, item_id: int, crop: str, holder) -> str:
    """crop: the name of the item's stored crop (Item.crop.name); holder: the Membership the link is handed to
    (a superuser's unsaved stand-in has no id)."""
    payload = [item_id, crop, holder.user_id, holder.pk or 0, holder.role]
    token = signing.TimestampSigner(salt=SALT).sign_object(payload)
    return reverse("item-image-signed", args=[token])


def item_image_token_read(*, token: str) -> FaceLink:
    """What a token was issued for; raises signing.BadSignature (or SignatureExpired), ValueError on a bad payload."""
    item_id, crop, user_id, membership_id, role = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=LINK_MAX_AGE)
    return FaceLink(item_id=int(item_id), crop=str(crop), user_id=int(user_id), membership_id=int(membership_id), role=str(role))
