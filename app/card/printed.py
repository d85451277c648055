"""Printed codes for people without a phone (M-15, issue 18 item 3; docs/family.md "Printed codes").

A printed code is a DGP1 credential (qr.offline.printed): signed once by an issuing key of the
DGC2 trust list, valid up to 180 days, for the scenes the holder chose among transit, culture
and public_venue. Gates check it offline (trust list, deny list); the platform online (the live
row: revoked or the card not active is ``card_inactive``). One live printed code per card: a new
one revokes the one before. Issued by a relative (an active family entry) or at a counter; the
A6 PDF (:func:`pdf`) shows the QR, the masked name and the expiry.
"""
from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.card.models import OFFLINE_ISSUING, Card, OfflineKey, PrintedCode
from app.card.offline_certificates import OFFLINE_SCENES, fare_class
from app.card.offline_keys import PRIVATE_PURPOSE, development, ensure_keys, load, unavailable
from app.card.offline_lists import note_revocation
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from qr import offline, render

MAX_DAYS = 180
PRINT_KEY_DAYS = MAX_DAYS + 2  # an issuing key created for printed codes outlives the longest one
A6_300DPI = (1240, 1748)  # 105 x 148 mm at 300 dpi
FONT_PATHS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc")


def checked_scenes(scenes: list[str], days: int) -> int:
    """The scene mask; 422 ``validation_error`` for an unknown or empty scene list or days outside 1-180."""
    if not scenes or not set(scenes) <= set(OFFLINE_SCENES) or not 1 <= days <= MAX_DAYS:
        raise AppError("validation_error", 422, f"scenes among {', '.join(OFFLINE_SCENES)}; days 1-{MAX_DAYS}",
                       {"fields": {"json": {"scenes": ["bad_scenes_or_days"]}}})
    return offline.scene_mask(scenes)


def _print_key(rt: Runtime, until: datetime) -> OfflineKey:
    """An Ed25519 issuing key that outlives ``until``: the newest one, or (development, or none
    long enough) a new one of :data:`PRINT_KEY_DAYS`; production without one: 503 ``offline_unavailable``."""
    ensure_keys(rt)
    row = db.session.scalar(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING, OfflineKey.alg == offline.ED25519,
                                                     OfflineKey.not_after >= until, OfflineKey.not_before <= rt.clock.now())
                            .order_by(OfflineKey.not_after.desc()).limit(1))
    if row is not None:
        return row
    if not development(rt):
        raise unavailable("no issuing key outlives a printed code: run `citizencard offline keys rotate`")
    key, now = offline.generate(offline.ED25519), rt.clock.now()
    row = OfflineKey(role=OFFLINE_ISSUING, alg=offline.ED25519, public_key=offline.b64url_encode(key.public_key),
                     private_enc=rt.keyring.encrypt(offline.b64url_encode(key.raw), PRIVATE_PURPOSE),
                     not_before=now, not_after=now + timedelta(days=PRINT_KEY_DAYS), created_at=now)
    db.session.add(row)
    db.session.commit()
    return row


def issue_printed(rt: Runtime, card: Card, scenes: list[str], days: int, by: str) -> PrintedCode:
    """A new printed code of ``card`` for ``scenes`` and ``days``; the card's live one (if any) is
    revoked in the same transaction (deny list). 403 ``card_inactive``; 409 ``printed_code_conflict``
    when another issue for the card committed at the same moment (one live code per card)."""
    mask = checked_scenes(scenes, days)
    if card.status != "active":
        raise AppError("card_inactive", 403, "the card is not active", {"status": card.status})
    now = rt.clock.now().replace(microsecond=0)
    key = _print_key(rt, now + timedelta(days=days))
    revoke_printed(rt, card.id, by, commit=False)
    row = PrintedCode(serial=secrets.token_hex(8), card_id=card.id, kid=key.id, scenes=mask, fare_class=fare_class(rt, card),
                      not_before=now, expires_at=now + timedelta(days=days), issued_by=by, created_at=now)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError("printed_code_conflict", 409, "another printed code was issued at the same moment") from None
    return row


def revoke_printed(rt: Runtime, card_id: int, by: str, commit: bool = True) -> int:
    """Revoke the card's live printed code at once (one conditional UPDATE): online it is refused
    from the commit on, gates from the next deny list. Returns how many were revoked (0 or 1)."""
    revoked = db.session.execute(update(PrintedCode).where(PrintedCode.card_id == card_id, PrintedCode.revoked_at.is_(None))
                                 .values(revoked_at=rt.clock.now(), revoked_by=by)
                                 .execution_options(synchronize_session=False)).rowcount
    if revoked:
        note_revocation(rt)
    if commit:
        db.session.commit()
    return revoked


def live_printed(card_id: int) -> PrintedCode | None:
    """The card's live (unrevoked) printed code, if any (it may have expired)."""
    return db.session.scalar(select(PrintedCode).where(PrintedCode.card_id == card_id, PrintedCode.revoked_at.is_(None)))


def printed_text(rt: Runtime, row: PrintedCode) -> str:
    """The code's QR text, re-signed from the row (deterministic Ed25519: the same text each time)."""
    signer = load(rt, db.session.get_one(OfflineKey, row.kid)).signer
    return offline.printed.issue(signer, kid=row.kid, serial=bytes.fromhex(row.serial), nbf=int(row.not_before.timestamp()),
                                 exp=int(row.expires_at.timestamp()), scenes=row.scenes, fare_class=row.fare_class).text


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def pdf(rt: Runtime, row: PrintedCode, masked_name: str) -> bytes:
    """The A6 card (105 x 148 mm, 300 dpi, one page): the QR, the masked name, the scenes and the
    expiry (Beijing date). Pillow writes the page as one image."""
    page = Image.new("L", A6_300DPI, 255)
    qr = Image.open(io.BytesIO(render.png(printed_text(rt, row), scale=10))).convert("L")
    side = A6_300DPI[0] - 160
    page.paste(qr.resize((side, side), Image.NEAREST), (80, 300))
    draw = ImageDraw.Draw(page)
    expires = row.expires_at.astimezone(DISPLAY_ZONE).date().isoformat()
    scenes = " / ".join(offline.scene_names(row.scenes))
    draw.text((80, 90), "东莞市民卡 打印码 Printed code", font=_font(64), fill=0)
    draw.text((80, 190), f"持卡人 Holder: {masked_name}", font=_font(56), fill=0)
    draw.text((80, side + 340), f"有效期至 Valid until: {expires}", font=_font(52), fill=0)
    draw.text((80, side + 420), f"场景 Scenes: {scenes}", font=_font(44), fill=0)
    draw.text((80, side + 490), "挂失请致电或到柜台 Report loss at a counter", font=_font(40), fill=0)
    out = io.BytesIO()
    page.save(out, "PDF", resolution=300.0)
    return out.getvalue()
