"""Suggested messages for tasks, in the guide's language, from the customer's name, last
purchase and tags. Short enough for one WeCom chat bubble; the guide edits before sending.

A message promises only what the product really did: no coupon and no gift is mentioned
until coupon pools exist (DESIGN.md, "Lifecycle and tasks")."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = {
    "churn_risk": ("流失预警", "churn risk"),
    "silent": ("沉默唤醒", "silent"),
    "lost": ("流失挽回", "win back"),
    "second_purchase": ("二次购买", "second purchase"),
    "new_followup": ("新客回访", "new customer follow-up"),
    "birthday": ("生日关怀", "birthday"),
    "post_purchase": ("购后回访", "post-purchase check-in"),
}


@dataclass(frozen=True)
class Facts:
    name: str | None
    guide: str
    last_item: str | None
    tag: str | None
    days_since: int | None


def suggest(kind: str, f: Facts, locale: str) -> str:
    who = f.name or ("您" if locale == "zh" else "there")
    item = f.last_item
    # A taste tag may already say 喜欢 ("likes": "喜欢红色"): not "喜欢喜欢红色", and in
    # English not "your taste for 喜欢红色".
    taste = f.tag.strip().removeprefix("喜欢").strip() if f.tag else ""
    if locale == "zh":
        likes = f"，特别适合喜欢{taste}的您" if taste else ""
        if kind == "birthday":
            return f"{who}，生日快乐！我是{f.guide}，祝您新的一岁一切顺心，有空来店里坐坐～"
        if kind == "new_followup":
            return f"{who}您好，我是{f.guide}。{item or '上次买的东西'}用着还满意吗？有尺码或搭配的问题随时问我。"
        if kind == "second_purchase":
            return f"{who}您好，我是{f.guide}。{item or '上次买的东西'}用得怎么样？最近到了几款和它很搭的新品{likes}，有空来看看吗？"
        if kind == "post_purchase":
            return f"{who}您好，{item or '您买的商品'}穿了两周感觉怎么样？需要保养建议可以告诉我。"
        if kind == "churn_risk":
            return (
                f"{who}好久不见！我是{f.guide}。店里新到了几款{(item and '和' + item + '很搭的') or ''}新品{likes}，"
                f"有空来试试？"
            )
        return f"{who}您好，我是{f.guide}。最近到了新款{likes}，周末有空来店里看看吗？"
    likes = f" that suit your taste for {taste}" if taste else ""
    if kind == "birthday":
        return f"Happy birthday, {who}! It's {f.guide}. Wishing you a wonderful year; drop by the store any time."
    if kind == "new_followup":
        return f"Hi {who}, it's {f.guide}. How are you finding the {item or 'purchase'}? Ask me anything about fit or styling."
    if kind == "second_purchase":
        return f"Hi {who}, it's {f.guide}. How is the {item or 'purchase'} working out? A few new pieces{likes} just came in that go well with it."
    if kind == "post_purchase":
        return (
            f"Hi {who}, how is the {item or 'purchase'} after two weeks? Happy to share care tips."
        )
    if kind == "churn_risk":
        return (
            f"Hi {who}, it's been a while! It's {f.guide}. New arrivals{likes} just came in"
            f"{' that go well with your ' + item if item else ''}. Would you like to come and try them?"
        )
    return f"Hi {who}, it's {f.guide}. New pieces{likes} just arrived. Would you like to drop by this weekend?"
