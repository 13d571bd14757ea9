"""Every entity of the store (DESIGN.md, "The store"). Import models from here."""

from storage.base import Base
from storage.models.channels import ApiToken, DigestSubscription, JobRun, WechatFollower
from storage.models.commerce import (
    Campaign,
    CampaignCoupon,
    CampaignParticipant,
    CampaignStore,
    Order,
    OrderItem,
    Refund,
)
from storage.models.customers import (
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    IdentityKind,
    Interaction,
    Tag,
    TagGroup,
)
from storage.models.kpi import CampaignAllocation, CampaignDay, KpiMark
from storage.models.ops import (
    AuditLog,
    ConversationState,
    ImportRun,
    InboxEvent,
    ModelFit,
    OutboxMessage,
    Task,
)
from storage.models.people import ManagerStore, Role, Staff, Store

__all__ = [
    "ApiToken",
    "AuditLog",
    "Base",
    "Campaign",
    "CampaignAllocation",
    "CampaignCoupon",
    "CampaignDay",
    "CampaignParticipant",
    "CampaignStore",
    "ConversationState",
    "Customer",
    "CustomerIdentity",
    "CustomerMerge",
    "CustomerStats",
    "CustomerTag",
    "DigestSubscription",
    "GuideRelation",
    "IdentityKind",
    "ImportRun",
    "InboxEvent",
    "Interaction",
    "JobRun",
    "KpiMark",
    "ManagerStore",
    "ModelFit",
    "Order",
    "OrderItem",
    "OutboxMessage",
    "Refund",
    "Role",
    "Staff",
    "Store",
    "Tag",
    "TagGroup",
    "Task",
    "WechatFollower",
]
