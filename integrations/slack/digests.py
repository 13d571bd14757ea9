"""Digest subscriptions in Slack: the modal (from ``/scrm digest`` or the Home tab), saving
a submission, and the Home tab's Send now / Pause / Delete buttons."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError

from integrations.slack import digest, home, messages, modal
from integrations.slack.identity import SlackStaff
from storage.models import DigestSubscription

if TYPE_CHECKING:
    from integrations.slack.listeners import SlackBot

MANAGERS_ONLY = "订阅 KPI 日报只对店长和管理员开放。\nDigests are for managers and admins only."


def register(bot: SlackBot) -> None:
    async def new(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await open_modal(bot, str(body["user"]["id"]), str(body["trigger_id"]), None, None)

    async def submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = str(body["user"]["id"])
        staff, _ = await bot.runner.staff(user_id)
        if staff is None or not staff.is_manager:
            await ack(response_action="errors", errors={"channel": MANAGERS_ONLY})
            return
        sub, errors = modal.parse(view["state"]["values"], staff.locale)
        if not errors:
            problem = await channel_problem(bot, sub.channel, staff)
            if problem:
                errors["channel"] = problem
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await run_in_threadpool(_save, bot, staff, sub)
        await bot.publish_home(user_id)

    async def manage(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        staff, _ = await bot.runner.staff(user_id)
        if staff is None or not staff.is_manager:
            return
        verb = str(action["action_id"]).removeprefix(home.DIGEST_PREFIX).split("_")[0]
        sub_id = int(action["value"])
        if verb == "send":
            await send_now(bot, staff, user_id, sub_id)
            return
        await run_in_threadpool(_change, bot, staff.staff_id, sub_id, verb)
        await bot.publish_home(user_id)

    bot.app.action(home.NEW_DIGEST)(new)
    bot.app.action(re.compile(f"^{home.DIGEST_PREFIX}(send|pause|delete)_"))(manage)
    bot.app.view(modal.CALLBACK)(submit)


async def open_modal(
    bot: SlackBot,
    user_id: str,
    trigger_id: str,
    respond: AsyncRespond | None,
    command: dict[str, Any] | None,
) -> None:
    staff, refused = await bot.runner.staff(user_id)
    if staff is None or not staff.is_manager:
        if respond is not None:
            text = refused.reply.text if refused else MANAGERS_ONLY
            await respond(response_type="ephemeral", **messages.notice(text))
        return
    channel = str(command["channel_id"]) if command and command.get("channel_id") else None

    def build() -> dict[str, Any]:
        with bot.db().session() as s:
            return modal.view(s, staff.locale, bot.settings.roi_definition, channel)

    view = await run_in_threadpool(build)
    # trigger_id is valid for 3 seconds after the click or command (Slack "Modals" guide).
    await bot.client.views_open(trigger_id=trigger_id, view=view)


async def channel_problem(bot: SlackBot, channel: str, staff: SlackStaff) -> str | None:
    """Why the app could not post into ``channel``, or None. ``chat:write.public`` covers
    public channels; a private one must have the app as a member."""
    invite = staff.say(
        "我不在这个频道里：先在频道里输入 /invite @我，再保存。",
        "I'm not in that channel: type /invite @me there first, then save.",
    )
    try:
        info = await bot.client.conversations_info(channel=channel)
    except SlackApiError as exc:
        if exc.response.get("error") in ("channel_not_found", "not_in_channel"):
            return invite
        return f"Slack: {exc.response.get('error')}"
    data = info.get("channel") or {}
    if data.get("is_private") and not data.get("is_member"):
        return invite
    return None


def _save(bot: SlackBot, staff: SlackStaff, sub: modal.Submission) -> None:
    with bot.db().uow() as uow:
        modal.save(uow.session, staff.staff_id, sub, bot.settings.timezone)
        uow.commit()


def _change(bot: SlackBot, staff_id: int, sub_id: int, verb: str) -> None:
    with bot.db().uow() as uow:
        row = uow.session.get(DigestSubscription, sub_id)
        if row is None or row.staff_id != staff_id:
            return  # someone else's subscription: nothing to do
        if verb == "delete":
            uow.session.delete(row)
        elif verb == "pause":
            row.paused = not row.paused
        uow.commit()


async def send_now(bot: SlackBot, staff: SlackStaff, user_id: str, sub_id: int) -> None:
    """Post the digest into its channel now (a preview; the schedule is unchanged) and tell
    the manager by DM what happened, since a Home tab button has nowhere else to answer."""

    def load() -> tuple[str | None, Any]:
        with bot.db().session() as s:
            row = s.get(DigestSubscription, sub_id)
            if row is None or row.staff_id != staff.staff_id:
                return None, None
            return row.target, digest.build(s, bot.settings, row, bot.clock())

    target, reply = await run_in_threadpool(load)
    if target is None:
        return
    if reply is None:
        text = staff.say(
            "现在没有可报告的内容（没有进行中的活动或没有数据），所以没有发送。",
            "There is nothing to report right now (no running campaign or no activity), so "
            "nothing was sent.",
        )
    else:
        try:
            await bot.client.chat_postMessage(channel=target, **messages.plain(reply))
            text = staff.say(f"已发送到 <#{target}>。", f"Sent to <#{target}>.")
        except SlackApiError as exc:
            text = bot.channel_error(staff.locale, exc)
    await bot.client.chat_postMessage(channel=user_id, text=text)
