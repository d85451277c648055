"""SQLAlchemy 2.0 typed models, one module per aggregate."""
from .account import AuthToken, MpAccount
from .base import Base
from .card import Card
from .carrier import BankReport, CarrierEvent, LendingFlag, PhysicalCard
from .citizen import Citizen
from .device import Device
from .kv import KvEntry
from .partner import Membership, Partner, Terminal
from .verification import Verification

__all__ = [
    "AuthToken", "BankReport", "Base", "Card", "CarrierEvent", "Citizen", "Device", "KvEntry", "LendingFlag", "Membership",
    "MpAccount", "Partner", "PhysicalCard", "Terminal", "Verification",
]
