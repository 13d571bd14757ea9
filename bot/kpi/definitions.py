"""Every KPI with its name and definition in both languages, and how its value is shown.

The definitions are printed with every report (DESIGN.md: "Every definition is printed
with the report") and are the source of docs/kpis.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.chat.types import Locale

Unit = Literal["count", "money", "rate", "multiple"]


@dataclass(frozen=True)
class Kpi:
    key: str
    zh: str
    en: str
    unit: Unit
    define_zh: str
    define_en: str

    def label(self, locale: Locale) -> str:
        return self.zh if locale == "zh" else self.en

    def definition(self, locale: Locale) -> str:
        return self.define_zh if locale == "zh" else self.define_en


_ROI = {
    "gmv": (
        "GMV（销售额）÷ 推广成本。",
        "GMV (gross sales) ÷ promotion cost.",
    ),
    "profit": (
        "（毛利 − 推广成本）÷ 推广成本。",
        "(gross profit − promotion cost) ÷ promotion cost.",
    ),
}


def catalogue(roi_definition: str = "gmv") -> list[Kpi]:
    roi_zh, roi_en = _ROI.get(roi_definition, _ROI["gmv"])
    return [
        Kpi("registered", "报名人数", "Registered users", "count",
            "在统计期内报名参加活动的客户数（按报名日）。",
            "Customers who registered for the campaign, on the day they registered."),
        Kpi("buyers", "购买人数", "Purchasing users", "count",
            "有订单记入本活动的客户数，每人只在其首单那天、那家店、那位导购处计一次。",
            "Customers with an order credited to the campaign, each counted once, on the "
            "day, store and guide of their first credited order."),
        Kpi("refund_buyers", "退款人数", "Refund users", "count",
            "购买人数中有过退款（含部分退款）的客户数。",
            "Purchasing users with any refund, partial refunds included."),
        Kpi("orders", "订单数", "Orders", "count",
            "记入本活动的订单数（按下单日）。",
            "Orders credited to the campaign, on the day they were placed."),
        Kpi("gross_sales", "销售额 (GMV)", "Gross sales (GMV)", "money",
            "记入本活动的订单实付金额合计，未扣退款。",
            "What customers paid for credited orders, before refunds."),
        Kpi("refunds", "退款金额", "Refunds", "money",
            "这些订单的退款合计（退款跟随订单，记在下单日）。",
            "Refunds of those orders; a refund follows its order (its day, store, guide)."),
        Kpi("net_sales", "净销售额", "Net sales", "money",
            "销售额 − 退款金额。", "Gross sales − refunds."),
        Kpi("gross_profit", "毛利", "Gross profit", "money",
            "净销售额 − 售出商品成本；退货退回其件数的成本，全额退款退回全部成本，"
            "不退货的部分退款（补差价）不退成本。",
            "Net sales − cost of goods kept. A return gives back the cost of its units, a "
            "full refund all of it; a partial refund naming no units (a price adjustment) "
            "gives back none."),
        Kpi("margin", "毛利率", "Gross margin", "rate",
            "毛利 ÷ 净销售额。", "Gross profit ÷ net sales."),
        Kpi("units", "销量（件）", "Units sold", "count",
            "售出件数 − 退回件数。", "Units sold − units returned."),
        Kpi("promotion_cost", "推广成本", "Promotion cost", "money",
            "固定费用 + 已核销优惠券面值。只看部分日期时固定费用按活动天数分摊，"
            "只看部分门店或导购时按其销售额占比分摊。",
            "Fixed cost + face value of coupons redeemed. For part of the days the fixed "
            "cost is shared by campaign days; for some stores or guides, by their share "
            "of gross sales."),
        Kpi("roi", "ROI", "ROI", "multiple", roi_zh, roi_en),
        Kpi("roas", "ROAS", "ROAS", "multiple",
            "净销售额 ÷ 推广成本。", "Net sales ÷ promotion cost."),
        Kpi("conversion", "转化率", "Conversion", "rate",
            "目标客户中购买的人数 ÷ 目标客户数。",
            "Targeted customers who purchased ÷ targeted customers."),
        Kpi("aov", "客单价（每单）", "AOV", "money",
            "销售额 ÷ 订单数。", "Gross sales ÷ orders."),
        Kpi("repeat_rate", "复购率", "Repeat rate", "rate",
            "活动内下单 2 次及以上的购买人数 ÷ 购买人数。",
            "Purchasing users with 2 or more credited orders ÷ purchasing users."),
        Kpi("new_buyers", "新客", "New buyers", "count",
            "首次在本店购物就是本活动订单的购买人数。",
            "Purchasing users whose first order ever was their first campaign order."),
        Kpi("returning_buyers", "老客", "Returning buyers", "count",
            "此前已在本店买过的购买人数。", "Purchasing users who had bought before."),
        Kpi("targeted", "目标客户", "Targeted", "count",
            "报名客户，加上活动开始前（或期间下单时）符合目标标签/阶段的客户；"
            "未报名的目标客户记在活动首日。",
            "Registered customers, plus customers matching the target tag and/or stage "
            "when the campaign was set up (or when they ordered during it); a target who "
            "did not register counts on the campaign's first day."),
        Kpi("touched", "已触达", "Touched", "count",
            "目标客户中，活动期间有导购完成任务或留下跟进记录的人数。",
            "Targeted customers with a guide task done, or a follow-up logged, during the "
            "campaign."),
        Kpi("purchased", "已购买", "Purchased", "count",
            "目标客户中有订单记入本活动的人数。",
            "Targeted customers with an order credited to the campaign."),
        Kpi("repurchased", "已复购", "Repurchased", "count",
            "目标客户中有 2 单及以上记入本活动的人数。",
            "Targeted customers with 2 or more credited orders."),
    ]  # fmt: skip


FUNNEL = ("targeted", "touched", "purchased", "repurchased")

ATTRIBUTION = {
    "zh": "订单归属（每单最多记入一个活动，按顺序）：优惠券码 → 来源系统指定的活动 → "
    "下单前 {n} 天内导购完成的任务（任务在活动期间完成）→ 目标客户在活动时间内下单。",
    "en": "Attribution (each order to at most one campaign, first match wins): coupon code → "
    "campaign named by the source system → a guide task done during the campaign within "
    "{n} days before the order → a targeted customer ordering during the campaign.",
}

COMPARISON = {
    "zh": "对比：与上一期活动相同的第几天比较；没有上一期或指定了时间段时，"
    "与之前等长的一段时间比较。只统计完整的天（到昨天为止）。基数为 0 时不显示百分比。",
    "en": "Changes compare the same days of the previous campaign (day 1 with day 1); "
    "without one, or with a period, the equal number of days just before. Only complete "
    "days count (up to yesterday). No % is shown when the base is 0.",
}
