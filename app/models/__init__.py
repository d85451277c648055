"""SQLAlchemy 2.0 typed models, one module per aggregate."""
from .account import AuthToken, MpAccount
from .audit import AuditChainHead, AuditRecord
from .base import Base
from .benefit import Disbursement, DisbursementBatch, FinancialAccount, MedicalInsuranceAccount, Notification, Subscription
from .card import Card
from .carrier import BankReport, CarrierEvent, LendingFlag, PhysicalCard
from .citizen import Citizen
from .complaint import Complaint, ComplaintMessage
from .device import Device
from .kv import KvEntry
from .partner import Membership, Partner, Terminal
from .staff import Staff
from .verification import Verification

__all__ = [
    "AuditChainHead", "AuditRecord", "AuthToken", "BankReport", "Base", "Card", "CarrierEvent", "Citizen", "Complaint",
    "ComplaintMessage", "Device", "Disbursement", "DisbursementBatch", "FinancialAccount", "KvEntry", "LendingFlag",
    "MedicalInsuranceAccount", "Membership", "MpAccount", "Notification", "Partner", "PhysicalCard", "Staff", "Subscription",
    "Terminal", "Verification",
]
