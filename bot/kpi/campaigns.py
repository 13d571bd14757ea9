"""Every campaign with its store scope and coupons, loaded once per write.

The campaign table is small (a store runs tens a year), so attribution holds it in memory
rather than joining it for every order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Campaign, CampaignCoupon, CampaignStore


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    code: str
    name: str
    starts_at: datetime
    ends_at: datetime
    stores: frozenset[int]  # empty: every store
    target_tag_id: int | None
    target_stage: str | None
    previous_id: int | None
    fixed_cost_cents: int

    def covers(self, at: datetime) -> bool:
        # Inclusive at both ends: imports give windows as 00:00:00 .. 23:59:59.
        return self.starts_at <= at <= self.ends_at

    def in_scope(self, store_id: int | None) -> bool:
        """A campaign limited to some stores does not credit orders from elsewhere (nor
        orders whose store is unknown)."""
        return not self.stores or store_id in self.stores

    @property
    def has_target(self) -> bool:
        return self.target_tag_id is not None or self.target_stage is not None


class CampaignIndex:
    def __init__(self, campaigns: list[CampaignInfo], coupons: dict[str, tuple[int, int]]):
        self._by_id = {c.id: c for c in campaigns}
        self._coupons = coupons  # code -> (campaign_id, value_cents)

    @classmethod
    def load(cls, session: Session) -> CampaignIndex:
        stores: dict[int, set[int]] = defaultdict(set)
        for cid, sid in session.execute(select(CampaignStore.campaign_id, CampaignStore.store_id)):
            stores[cid].add(sid)
        coupons = {
            code: (cid, value)
            for code, cid, value in session.execute(
                select(CampaignCoupon.code, CampaignCoupon.campaign_id, CampaignCoupon.value_cents)
            )
        }
        campaigns = [
            CampaignInfo(
                id=c.id,
                code=c.code,
                name=c.name,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                stores=frozenset(stores.get(c.id, ())),
                target_tag_id=c.target_tag_id,
                target_stage=c.target_stage,
                previous_id=c.previous_campaign_id,
                fixed_cost_cents=c.fixed_cost_cents or 0,
            )
            for c in session.execute(
                select(
                    Campaign.id,
                    Campaign.code,
                    Campaign.name,
                    Campaign.starts_at,
                    Campaign.ends_at,
                    Campaign.target_tag_id,
                    Campaign.target_stage,
                    Campaign.previous_campaign_id,
                    Campaign.fixed_cost_cents,
                )
            )
        ]
        return cls(campaigns, coupons)

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def __iter__(self) -> Iterator[CampaignInfo]:
        return iter(self._by_id.values())

    def get(self, campaign_id: int) -> CampaignInfo | None:
        return self._by_id.get(campaign_id)

    def coupon(self, code: str | None) -> tuple[int, int] | None:
        return self._coupons.get(code) if code else None

    @property
    def coupons(self) -> dict[str, tuple[int, int]]:
        return self._coupons

    def coupons_of(self, campaign_id: int) -> dict[str, tuple[int, int]]:
        return {k: v for k, v in self._coupons.items() if v[0] == campaign_id}
