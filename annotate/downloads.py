"""Signed, expiring download links for finished exports, and the HTTP Range header they are served with.

Like the face links (annotate.signing), a link's token is the credential: it names the export and the hash of
its file and is signed with SECRET_KEY, so the download view needs no session and a link cannot be forged or
pointed at another file. The API hands links only to the leads of the version's project; a link is good for
LINK_MAX_AGE, long enough to resume a large download on a slow line.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core import signing
from django.urls import reverse
from django.utils import timezone

SALT = "ferlab.export-download"
LINK_MAX_AGE = 24 * 60 * 60
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes the file does not have, or cannot be read (answered 416)."""


def export_download_link(*, export_id: int, sha256: str) -> tuple[str, datetime]:
    """(path of the download view, when the link expires) for a finished export."""
    token = signing.TimestampSigner(salt=SALT).sign_object([export_id, sha256])
    return reverse("export-download", args=[token]), timezone.now() + timedelta(seconds=LINK_MAX_AGE)


def export_download_token_read(*, token: str) -> tuple[int, str]:
    """(export id, file sha256) a token was issued for; raises signing.SignatureExpired or signing.BadSignature."""
    export_id, sha256 = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=LINK_MAX_AGE)
    return int(export_id), str(sha256)


def byte_range(header: str | None, *, size: int) -> tuple[int, int] | None:
    """The (first, last) byte, inclusive, that a Range header asks of a file of `size` bytes; None for all of it.

    One range is served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); a header in another unit or with several
    ranges is ignored (the whole file, as HTTP allows). A malformed or unsatisfiable byte range raises
    RangeNotSatisfiable.
    """
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[len("bytes="):]
    if "," in spec:
        return None
    match = _RANGE.match(spec)
    if match is None or match.groups() == ("", ""):
        raise RangeNotSatisfiable(f"cannot read the range {spec[:50]!r}")
    first, last = match.groups()
    if first == "":  # the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("a range of no bytes")
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(f"bytes {spec} are outside the file's {size} bytes")
    return start, end
