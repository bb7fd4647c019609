"""WeChat's daily mass-send (群发) to a tag, with WECHAT_DELIVERY=mass_send_tag: the messages
waiting for readers outside the 48-hour window reach them without their writing first.

Each run (WECHAT_MASS_SCHEDULE, in the leader; or `digestbot wechat-mass`):
1. digests/outbox/mass.py plans it: the waiting digests/editions/broadcasts of unlocked readers, the
   items and audience that deliver the most rows in one message of ≤ 2000 bytes;
2. the tag TAG_NAME is made to hold exactly that audience (batch(un)tagging, 50 OpenIDs a
   call): it follows unlocks and expiries, and a reader who already had an item by a
   customer-service message is not in it, so nobody gets a message twice;
3. message/mass/sendall to the tag, with a clientmsgid derived from the plan: if WeChat took a
   mass-send whose outcome we did not record (a crash, a lost answer), the same plan again is
   answered 45065 with the first one's msg_id instead of being sent twice;
4. the rows carried are `sent` (message id = WeChat's msg_id); the rest wait on.

A subscription account has one mass-send a day (45028 after that): the rows wait for the next.
The text has no page link (a link is signed for one reader); 最新 answers with one.
Between runs, a job at 00:05 takes readers whose access ended out of the tag (prune).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from bot.wechat.sender import WeChatChannel, teaser
from digests import fingerprint, render
from digests.outbox import mass
from digests.outbox.types import Kinds
from digests.replies import Reply

log = logging.getLogger(__name__)
TAG_NAME = "研报摘要·群发"  # WeChat: ≤ 30 characters; made once, found again by name
FOOTER = "回复「最新」获取全文链接 · 仅供参考，不构成投资建议"
TAG_BATCH = 50  # OpenIDs per batchtagging call
QUOTA_SPENT = 45028  # no mass-send left today
ALREADY_SENT = 45065  # this clientmsgid went out already; the answer carries its msg_id
TAG_GONE = 45159  # the tag was deleted (in the OA's console, say)


@dataclass
class MassReport:
    """What one run did, for the admins and the CLI."""

    rows: int = 0  # deliveries carried
    readers: int = 0
    waiting: int = 0  # rows left waiting
    msg_id: int | None = None
    tagged: int = 0
    untagged: int = 0
    text: str = ""
    problem: str = ""

    def line(self) -> str:
        if self.problem:
            return f"微信群发未发出：{self.problem}（{self.waiting} 条消息继续等待）"
        if self.msg_id is None:
            return f"微信群发：{self.rows} 条消息、{self.readers} 位读者（未发送）"
        return (
            f"微信群发 #{self.msg_id}：{self.rows} 条消息送达 {self.readers} 位读者"
            f"（标签 +{self.tagged}/-{self.untagged}），{self.waiting} 条继续等待"
        )


class MassSender:
    """The mass-send and its tag, over the channel's wechatpy client (in worker threads)."""

    def __init__(self, channel: WeChatChannel, kinds: Kinds) -> None:
        self.ctx, self.client, self.kinds = channel.ctx, channel.client, kinds
        self.tag_id: int | None = None

    async def run(self, *, dry_run: bool = False) -> MassReport:
        """Plan, tag, send and record one mass-send (dry run: plan only, nothing changes)."""
        plan = await mass.plan(
            self.ctx, self.kinds, "wechat", mass_teaser, limit=render.WECHAT_LIMIT, footer=FOOTER
        )
        if plan is None:
            return MassReport()
        report = MassReport(len(plan.rows), len(plan.audience), text=plan.text)
        report.waiting = len(plan.claimed) - len(plan.rows) - len(plan.skipped)
        msg_id: int | None = None
        try:
            if dry_run or not plan.rows:
                return report
            report.tagged, report.untagged = await self._tag(set(plan.audience.values()))
            msg_id = await self._send(plan.text, plan.key)
        except WeChatClientException as exc:
            report.problem = _problem(exc)
        except requests.RequestException as exc:
            report.problem = f"网络错误（{type(exc).__name__}）"
        finally:  # also when cancelled: the rows must not stay claimed
            await asyncio.shield(mass.finish(self.ctx, plan, msg_id))
        if report.problem:
            report.waiting += report.rows
            log.warning("mass-send not sent: %s", report.problem)
        report.msg_id = msg_id
        return report

    async def prune(self) -> int:
        """Take readers whose access ended (or who left) out of the tag; none are added."""
        tag_id = await self._tag_id()
        unlocked = set((await mass.unlocked(self.ctx, "wechat")).values())
        members = await self._members(tag_id)
        return await self._batch("untag_user", tag_id, sorted(members - unlocked))

    async def _send(self, text: str, key: str) -> int:
        """message/mass/sendall to the tag; WeChat's msg_id (a repeat answers the first's)."""
        assert self.tag_id is not None
        try:
            answer = await asyncio.to_thread(
                self.client.message.send_mass_text, text, self.tag_id, client_msg_id=key
            )
        except WeChatClientException as exc:
            if exc.errcode != ALREADY_SENT or exc.response is None:
                raise
            answer = exc.response.json()
            log.info("mass-send %s had gone out already (msg_id %s)", key, answer.get("msg_id"))
        return int(answer["msg_id"])

    async def _tag(self, audience: set[str]) -> tuple[int, int]:
        """The tag holds exactly `audience`: (added, removed)."""
        tag_id = await self._tag_id()
        try:
            members = await self._members(tag_id)
        except WeChatClientException as exc:
            if exc.errcode != TAG_GONE:
                raise
            self.tag_id = None  # deleted behind our back: make it again
            tag_id, members = await self._tag_id(), set()
        added = await self._batch("tag_user", tag_id, sorted(audience - members))
        removed = await self._batch("untag_user", tag_id, sorted(members - audience))
        return added, removed

    async def _tag_id(self) -> int:
        if self.tag_id is None:
            tags = await asyncio.to_thread(self.client.tag.get)
            found = [t["id"] for t in tags if t.get("name") == TAG_NAME]
            if found:
                self.tag_id = int(found[0])
            else:
                made = await asyncio.to_thread(self.client.tag.create, TAG_NAME)
                self.tag_id = int(made["id"])
        return self.tag_id

    async def _members(self, tag_id: int) -> set[str]:
        return set(await asyncio.to_thread(lambda: list(self.client.tag.iter_tag_users(tag_id))))

    async def _batch(self, method: str, tag_id: int, openids: list[str]) -> int:
        call: Any = getattr(self.client.tag, method)
        for start in range(0, len(openids), TAG_BATCH):
            await asyncio.to_thread(call, tag_id, openids[start : start + TAG_BATCH])
        return len(openids)


def mass_teaser(reply: Reply) -> str:
    """A mass-send item: one text for every recipient, so its mark names the publication and
    the mass-send, not a reader (the full digest is on each reader's own, marked page)."""
    text = teaser(reply)
    if not reply.views:
        return text
    mark = fingerprint.Mark(0, fingerprint.Medium.MASS, reply.views[0].publication_id)
    return fingerprint.stamp(fingerprint.template(text), mark)


def _problem(exc: WeChatClientException) -> str:
    if exc.errcode == QUOTA_SPENT:
        return "今天的群发次数已用完，明天再发"
    return f"微信拒绝（{exc.errcode} {exc.errmsg}）"
