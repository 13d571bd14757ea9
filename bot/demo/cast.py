"""The fixed part of the demo: stores, staff, tag groups and the fashion catalogue.

Staff codes and WeCom userids look like a real brand's HR export, so the playground reads
like production (``chat --as G101``).
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_CODE = "HQ001"

STORES: tuple[dict[str, str], ...] = (
    {"code": "SH01", "name": "上海南京西路店", "city": "上海"},
    {"code": "BJ01", "name": "北京三里屯店", "city": "北京"},
    {"code": "GZ01", "name": "广州天河城店", "city": "广州"},
    {"code": "CD01", "name": "成都太古里店", "city": "成都"},
)
# Share of customers whose home store this is: the flagship is the busiest.
STORE_WEIGHTS = {"SH01": 35, "BJ01": 25, "GZ01": 20, "CD01": 20}

ADMIN = {
    "code": ADMIN_CODE,
    "name": "系统管理员",
    "role": "admin",
    "wecom_userid": "scrm-admin",
    "slack_user_id": "U0DEMOADM1",
    "email": "admin@demo.example",
}
MANAGERS: tuple[dict[str, str], ...] = (
    {
        "code": "M001",
        "name": "周敏",
        "role": "manager",
        "store": "SH01",
        "wecom_userid": "zhoumin",
        "slack_user_id": "U0DEMOMGR1",
        "email": "zhou.min@demo.example",
    },
    {
        "code": "M002",
        "name": "Grace Lin",
        "role": "manager",
        "store": "GZ01",
        "wecom_userid": "gracelin",
        "slack_user_id": "U0DEMOMGR2",
        "email": "grace.lin@demo.example",
        "locale": "en",
    },
)
# Beyond their own store: 周敏 runs the north-east region (Shanghai and Beijing); Grace Lin
# the south-west (Guangzhou and Chengdu), so every store has someone to read its KPIs.
MANAGER_EXTRA_STORES = {"M001": ("BJ01",), "M002": ("CD01",)}

GUIDES: tuple[dict[str, str], ...] = (
    {"code": "G101", "name": "王芳", "store": "SH01", "wecom_userid": "wangfang"},
    {"code": "G102", "name": "陈静", "store": "SH01", "wecom_userid": "chenjing"},
    {"code": "G103", "name": "徐磊", "store": "SH01", "wecom_userid": "xulei"},
    {"code": "G201", "name": "李娜", "store": "BJ01", "wecom_userid": "lina"},
    {"code": "G202", "name": "赵婷", "store": "BJ01", "wecom_userid": "zhaoting"},
    {"code": "G203", "name": "孙浩", "store": "BJ01", "wecom_userid": "sunhao"},
    {"code": "G301", "name": "黄思琪", "store": "GZ01", "wecom_userid": "huangsiqi"},
    {
        "code": "G302",
        "name": "Emily Chen",
        "store": "GZ01",
        "wecom_userid": "emilychen",
        "locale": "en",
    },
    {"code": "G401", "name": "刘雨涵", "store": "CD01", "wecom_userid": "liuyuhan"},
    {"code": "G402", "name": "杨帆", "store": "CD01", "wecom_userid": "yangfan"},
)


@dataclass(frozen=True)
class TagGroupSpec:
    name: str
    open: bool  # guides may add tags to open groups only
    tags: tuple[str, ...]


PREFERENCES = TagGroupSpec("偏好", True, ("喜欢红色", "环保", "通勤风", "运动休闲"))
TIERS = TagGroupSpec("会员等级", False, ("VIP", "金卡", "银卡"))
SOURCES = TagGroupSpec("来源", False, ("门店", "小程序", "直播"))
TAG_GROUPS = (PREFERENCES, TIERS, SOURCES)
# Tier by lifetime spend rank: top 5 % VIP, next 15 % 金卡, next 30 % 银卡, the rest none.
TIER_CUTS = ((0.05, "VIP"), (0.20, "金卡"), (0.50, "银卡"))
SOURCE_WEIGHTS = {"门店": 60, "小程序": 30, "直播": 10}


@dataclass(frozen=True)
class Item:
    sku: str
    name: str


CATALOGUE: tuple[Item, ...] = (
    Item("TR-2401", "经典双排扣风衣"),
    Item("KN-1108", "羊绒圆领毛衣"),
    Item("DR-3302", "真丝印花连衣裙"),
    Item("JK-0715", "西装廓形外套"),
    Item("TS-0021", "纯棉基础T恤"),
    Item("PT-1902", "高腰阔腿西裤"),
    Item("SK-0630", "百褶半身裙"),
    Item("DN-5011", "直筒牛仔裤"),
    Item("CT-7710", "双面呢大衣"),
    Item("SH-0402", "牛津纺衬衫"),
    Item("BG-9001", "托特包"),
    Item("SC-0312", "羊毛围巾"),
    Item("SN-2205", "小白鞋"),
    Item("DW-8803", "轻薄羽绒服"),
)
# Cost of goods as a share of the paid price, for gross profit and margin KPIs.
COST_SHARE = 0.42

NOTES = (
    "试穿了{item}，尺码偏大，等小一码到货再联系",
    "问了{item}的红色款，已加入到货提醒",
    "生日月，想要会员礼，下次到店时送上",
    "对环保面料感兴趣，推荐了再生纤维系列",
    "周末带家人来店，喜欢通勤风，推荐了{item}",
    "反馈上次{item}洗后缩水，已登记售后",
)
