"""SQLAlchemy 2.0 typed models, one module per aggregate."""
from .account import AuthToken, MpAccount
from .base import Base
from .benefit import Disbursement, DisbursementBatch, FinancialAccount, MedicalInsuranceAccount, Notification, Subscription
from .card import Card
from .citizen import Citizen
from .device import Device
from .kv import KvEntry
from .partner import Membership, Partner, Terminal
from .verification import Verification

__all__ = [
    "AuthToken", "Base", "Card", "Citizen", "Device", "Disbursement", "DisbursementBatch", "FinancialAccount", "KvEntry",
    "MedicalInsuranceAccount", "Membership", "MpAccount", "Notification", "Partner", "Subscription", "Terminal", "Verification",
]
