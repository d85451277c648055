"""Encrypting, indexing and comparing citizens' personal fields (M-19)."""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from app.identity.models import Citizen
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

ID_NUMBER = "citizen.id_number"
NAME = "citizen.name"
PHONE = "citizen.phone"
CONTACT_PHONE = "card.contact_phone"
SEED = "device.seed"
PARTNER_SECRET = "partner.secret"  # noqa: S105 (a column purpose, not a secret)
FINANCIAL_ACCOUNT_NUMBER = "financial_account.number"

MOBILE_PATTERN = re.compile(r"1[3-9][0-9]{9}")
_NAME_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", "‧": "·", "∙": "·"})


def checked_phone(phone: str) -> str:
    """``phone`` if it is an 11-digit mainland mobile number; else 422 ``validation_error`` on the
    ``phone`` field of the request body."""
    if not MOBILE_PATTERN.fullmatch(phone):
        raise AppError("validation_error", 422, "phone must be an 11-digit mainland mobile number",
                       {"fields": {"json": {"phone": ["bad_phone"]}}})
    return phone


def normalize_name(name: str) -> str:
    """NFKC, no spaces, one kind of middle dot (for names such as 买买提·艾力)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).translate(_NAME_DOTS)


def id_index(rt: Runtime, id_number: str) -> str:
    """The blind index of a validated, normalised ID number."""
    return rt.blind_index(id_number, ID_NUMBER)


def citizen_by_id_number(rt: Runtime, id_number: str) -> Citizen | None:
    """Look a citizen up by ID number through the blind index."""
    return db.session.scalar(select(Citizen).where(Citizen.id_number_index == id_index(rt, id_number)))


def citizen_name(rt: Runtime, citizen: Citizen) -> str:
    return rt.keyring.decrypt(citizen.name_enc, NAME)
