"""Photos of cases: any picture a tablet sends, made into a stored JPEG and a thumbnail.

A picture from a phone's camera carries its EXIF block, GPS position
included: a photo of a resident's door would tell anyone who downloads it
where that door is, and more precisely than the case does. :func:`prepare`
decodes the picture, turns it upright (the EXIF orientation), re-encodes the
pixels alone as a JPEG of at most :data:`MAX_SIDE` pixels on the long side
(the browser already resized it; a client that did not is resized here) and
makes a :data:`THUMB_SIDE`-pixel thumbnail. Nothing of the original file but
its pixels is kept. The stored JPEG is named by its SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from gridmap.errors import InputError

__all__ = ["Photo", "MAX_SIDE", "THUMB_SIDE", "MAX_UPLOAD_BYTES", "MAX_PHOTOS", "prepare"]

#: The longest side of a stored photo, in pixels (the browser resizes to it before upload).
MAX_SIDE = 1600
#: The longest side of a thumbnail.
THUMB_SIDE = 320
#: The largest picture accepted from a client, in bytes (a camera's full-size JPEG fits).
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
#: Photos per report or per move.
MAX_PHOTOS = 3
#: Decoded pixels beyond which a file is refused (a "decompression bomb": a small
#: file that decodes to gigabytes).
_MAX_PIXELS = 60_000_000


@dataclass(frozen=True)
class Photo:
    """A picture ready to store: the JPEG without metadata and its thumbnail.

    Attributes
    ----------
    digest
        SHA-256 (hex) of ``image``.
    image, thumb
        JPEG bytes (at most 1600 px and 320 px on the long side).
    width, height
        Of ``image``, in pixels.
    """

    digest: str
    image: bytes
    thumb: bytes
    width: int
    height: int


def prepare(data: bytes, *, name: str = "photo") -> Photo:
    """A picture's stored form: a JPEG of its pixels alone, and a thumbnail.

    Parameters
    ----------
    data
        The file's bytes (JPEG, PNG, WebP, HEIF where Pillow reads it …).
    name
        The file's name, for messages.

    Returns
    -------
    Photo
        ``digest`` (SHA-256 of the stored JPEG), ``image``, ``thumb``,
        ``width``, ``height``. No EXIF, XMP or ICC block is kept.

    Raises
    ------
    gridmap.errors.InputError
        If the file is empty, too large, or not a picture.
    """
    from PIL import Image, ImageOps

    if not data:
        raise InputError(f"the photo {name} is empty", hint="take or choose the picture again")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(
            f"the photo {name} is {len(data) / 1e6:.1f} MB, more than "
            f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB",
            hint="send a smaller picture",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > _MAX_PIXELS:
                    raise InputError(
                        f"the photo {name} is {img.width}×{img.height} pixels, too large",
                        hint="send a smaller picture",
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)
                pixels = upright.convert("RGB")
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
        raise InputError(
            f"the file {name} is not a picture gridmap can read",
            hint="send a JPEG, PNG or WebP photo",
        ) from None
    pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image = _jpeg(pixels, quality=85)
    thumb_img = pixels.copy()
    thumb_img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    thumb = _jpeg(thumb_img, quality=75)
    return Photo(
        digest=hashlib.sha256(image).hexdigest(),
        image=image,
        thumb=thumb,
        width=pixels.width,
        height=pixels.height,
    )


def _jpeg(img, *, quality: int) -> bytes:
    out = io.BytesIO()
    # No exif=, no icc_profile=: Pillow writes none unless asked.
    img.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
