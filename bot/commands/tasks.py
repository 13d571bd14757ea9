"""Today's task list: who to contact, why, and a suggested message.
今日任务：今天该联系谁、为什么、建议话术。

Usage: tasks [PAGE]
用法：任务 [页码]
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.chat.types import Action, Channel, Item, Reply
from bot.commands.base import Command, Context, Usage, money
from bot.commands.taskref import SHOWN, today
from bot.lifecycle.messages import KINDS
from storage.models import Customer, CustomerStats, Task

RETENTION = ("churn_risk", "silent", "lost", "second_purchase")
MARK = {"open": "", "done": "✓ ", "skipped": "✗ ", "snoozed": "⏸ "}
# WeCom allows 30 messages per member per minute and 6 buttons per card: a page of 5 tasks
# is one markdown message and one card (5 Done buttons and "next page"). Other channels
# show the whole list (Slack: 20 tasks are about 43 of a message's 50 blocks).
PAGE_SIZE = {Channel.WECOM: 5, Channel.WECHAT: 5}


@dataclass(frozen=True)
class Args:
    page: int = 1


def parse(args: list[str]) -> Args:
    if not args:
        return Args()
    if len(args) == 1 and args[0].isdigit() and 1 <= int(args[0]) <= 99:
        return Args(int(args[0]))
    raise Usage("页码写数字，例如：任务 2", "Give a page number, e.g. tasks 2")


def handle(ctx: Context, args: Args) -> Reply:
    rows = ctx.session.execute(
        select(Task, Customer.name, CustomerStats.churn_probability)
        .join(Customer, Customer.id == Task.customer_id)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Task.customer_id)
        .where(Task.guide_id == ctx.actor.staff_id, Task.day == today(ctx), Task.status.in_(SHOWN))
        .order_by(Task.rank)
    ).all()
    if not rows:
        return Reply(text=ctx.say("今天没有任务。", "No tasks today."))
    zh = ctx.actor.locale == "zh"
    words = {"done": "完成" if zh else "done", "snooze": "延后" if zh else "snooze"}
    size = PAGE_SIZE.get(ctx.actor.channel) or len(rows)
    pages = (len(rows) + size - 1) // size
    page = min(args.page, pages)
    items = []
    for task, name, churn in rows[(page - 1) * size : page * size]:
        kind = KINDS.get(task.kind, (task.kind, task.kind))[0 if zh else 1]
        title = f"{MARK.get(task.status, '')}{name or '#' + str(task.customer_id)} · {kind}"
        if task.value_at_risk_cents and task.kind in RETENTION:
            title += ctx.say(
                " · 年价值 {v}", " · {v}/yr at risk", v=money(task.value_at_risk_cents)
            )
        if churn is not None and task.kind in RETENTION:  # why: the expected loss ranks the list
            title += ctx.say(" · 流失概率 {p}%", " · churn {p}%", p=round(churn * 100))
        actions = []
        if task.status == "open":
            # The task's id, not its rank: a button drawn today must still mean this task
            # tomorrow, after a carry-over renumbers the list.
            actions = [
                Action(ctx.say("完成", "Done"), f"{words['done']} #{task.id}", "primary"),
                Action(ctx.say("延后3天", "Snooze 3d"), f"{words['snooze']} #{task.id} 3"),
            ]
        items.append(Item(task.rank, title, task.suggested_message, actions))
    done = sum(1 for t, _, _ in rows if t.status == "done")
    title = ctx.say(
        "今日任务 {d}（已完成 {k}/{n}）",
        "Tasks for {d} ({k}/{n} done)",
        d=today(ctx).isoformat(),
        k=done,
        n=len(rows),
    )
    footer = ctx.say(
        "回复“完成 序号 结果”“延后 序号 天数”“跳过 序号 原因”。",
        "Reply 'done N [outcome]', 'snooze N DAYS' or 'skip N REASON'.",
    )
    more: list[Action] = []
    if pages > 1:
        title += ctx.say(" · 第 {p}/{m} 页", " · page {p}/{m}", p=page, m=pages)
        if page < pages:
            tasks_word = "任务" if zh else "tasks"
            more = [Action(ctx.say("下一页", "Next page"), f"{tasks_word} {page + 1}")]
            footer += ctx.say(" 下一页：回复“任务 {p}”。", " Next page: 'tasks {p}'.", p=page + 1)
    return Reply(title=title, items=items, footer=footer, actions=more)


COMMAND = Command("tasks", "任务", __doc__ or "", parse, handle)
