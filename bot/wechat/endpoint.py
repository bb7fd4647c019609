"""/wechat: the Official Account's callback. GET answers WeChat's echostr check; POST takes a
message in plain or safe (AES) mode and answers with a passive reply within WeChat's 5 s.

An answer not ready within 4 s (发布 waiting for the LLM, say) is answered `success` at once
and follows as a customer-service message through the outbox. A picture in an answer (统计's
chart) follows the passive reply as a customer-service image message: the reader has just
written, so the 48-hour window is open.

Refused with 403 and nothing stored: a bad signature, a timestamp outside ±300 s, a replayed
nonce, a ciphertext for another AppID; 413 for a body over 64 KB; 400 for a message we cannot
read (not XML, empty, broken inside its encryption, no MsgType or sender). The message is
read before its nonce is recorded, so a refused one stores nothing at all.
A message WeChat delivers again (same MsgId, its retry after a slow answer) gets `success` and
changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from xml.parsers.expat import ExpatError

from lxml import etree
from starlette.background import BackgroundTask
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from bot.container import Services
from bot.wechat import commands
from bot.wechat.guard import ReplayGuard, fresh, signed
from bot.wechat.sender import WeChatChannel
from digests import fingerprint
from digests.outbox.enqueue import queue_message
from digests.outbox.types import Reader
from digests.readers import pagelinks
from digests.readers.account import get_subscriber
from digests.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
ANSWER_WITHIN = 4.0  # seconds; WeChat gives up (and retries) after 5
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
# what lxml, xmltodict (expat) and wechatpy raise on a message that is not one: `<xml/>` gives
# None where wechatpy indexes, a missing MsgType a KeyError, broken inner XML an ExpatError
_UNREADABLE = (etree.XMLSyntaxError, ExpatError, ValueError, KeyError, TypeError, AttributeError)


def _refuse(status: int, why: str) -> Response:
    log.warning("wechat callback refused (%s): %s", status, why)
    return PlainTextResponse(why, status_code=status)


async def wechat_callback(request: Request) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings
    if settings.wechat_token is None:
        return Response(status_code=404)
    token = settings.wechat_token.get_secret_value()
    query = request.query_params
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not fresh(timestamp):
        return _refuse(403, "stale or missing timestamp")
    if not signed((token, timestamp, nonce), query.get("signature", "")):
        return _refuse(403, "bad signature")
    if request.method == "GET":
        return PlainTextResponse(query.get("echostr", ""))
    body = await request.body()
    if len(body) > MAX_BODY:
        return _refuse(413, "body too large")
    crypto = _crypto(settings, token)
    try:
        xml = _open(body, crypto, query, token, timestamp, nonce)
        message = parse_message(xml)
    except (InvalidSignatureException, InvalidAppIdException) as exc:
        return _refuse(403, type(exc).__name__)
    except _UNREADABLE as exc:
        return _refuse(400, f"unreadable message: {type(exc).__name__}")
    if message is None or not message.source or not message.type:
        return _refuse(400, "unreadable message: no MsgType or FromUserName")
    guard: ReplayGuard = request.app.state.wechat_guard
    if not await guard.first_time(f"wx:nonce:{timestamp}:{nonce}"):
        return _refuse(403, "replayed nonce")
    if not await guard.first_time(f"wx:msg:{_message_key(message)}"):
        return PlainTextResponse("success")  # WeChat's own retry: answered already
    work = asyncio.ensure_future(_handle(services, message))
    try:
        answer = await asyncio.wait_for(asyncio.shield(work), ANSWER_WITHIN)
    except TimeoutError:  # answer WeChat now; the reply follows as a customer-service message
        picture = _picture(request.app.state, str(message.source))
        work.add_done_callback(
            lambda done: _follow_up(services, str(message.source), done, picture)
        )
        _pending.add(work)
        return PlainTextResponse("success")
    # a picture goes once the reply has (Starlette runs `background` after the response)
    after = None
    if answer.image is not None:
        after = BackgroundTask(_picture(request.app.state, str(message.source)), answer.image)
    if not answer.text:
        return PlainTextResponse("success", background=after)
    reply = TextReply(content=answer.text, message=message).render()
    if crypto is not None:
        reply = crypto.encrypt_message(reply, nonce, timestamp)
    return Response(reply, media_type="application/xml", background=after)


_pending: set[asyncio.Future[Any]] = set()  # slow answers still running (kept referenced)


def _follow_up(
    services: Services,
    openid: str,
    done: asyncio.Future[commands.Answer],
    picture: Callable[[bytes], Awaitable[None]],
) -> None:
    """A slow answer, finished: queued for the reader through the outbox, its picture sent."""
    _pending.discard(done)
    if done.cancelled() or done.exception() is not None or not done.result().text:
        log.warning("wechat: a slow answer for %s failed: %r", openid, done)
        return
    answer = done.result()

    async def later() -> None:
        await _queue_follow_up(services, openid, answer.text)
        if answer.image is not None:
            await picture(answer.image)

    task = asyncio.ensure_future(later())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def _picture(state: Any, openid: str) -> Callable[[bytes], Awaitable[None]]:
    """How to send `openid` a picture: a customer-service image message (the reader has just
    written: the 48-hour window is open)."""
    services: Services = state.services
    channel: WeChatChannel | None = getattr(state, "wechat_channel", None)

    async def send(image: bytes) -> None:
        if channel is None:  # no AppSecret: no API calls, so no pictures
            log.warning("wechat: a picture for %s not sent: no WECHAT_APP_SECRET", openid)
            return
        async with services.store_context().sessions() as session:
            reader = await get_subscriber(session, channel="wechat", external_id=openid)
        if reader is None or reader.id is None:
            return
        recipient = Reader(
            reader.id,
            reader.channel,
            reader.external_id,
            reader.reminders,
            reader.delivery,
            reader.last_contact_at,
            reader.replies_left,
        )
        outcome = await channel.send_image(recipient, image)
        if outcome.outcome != "ok":
            log.warning("wechat: a picture for %s not sent: %s", openid, outcome.detail)

    return send


async def _queue_follow_up(services: Services, openid: str, text: str) -> None:
    ctx = services.store_context()
    async with ctx.sessions() as session:
        reader = await get_subscriber(session, channel="wechat", external_id=openid)
    if reader is not None and reader.id is not None:
        await queue_message(ctx, reader.id, text, by="wechat-follow-up")


def _crypto(settings: Settings, token: str) -> WeChatCrypto | None:
    if settings.wechat_encoding_aes_key is None:
        return None
    return WeChatCrypto(
        token, settings.wechat_encoding_aes_key.get_secret_value(), settings.wechat_app_id
    )


def _open(
    body: bytes,
    crypto: WeChatCrypto | None,
    query: QueryParams,
    token: str,
    timestamp: str,
    nonce: str,
) -> str:
    """The message XML: decrypted in safe mode after our own constant-time msg_signature
    check (wechatpy's is a plain !=); entities and network access off in the parser."""
    root = etree.fromstring(body, parser=_PARSER)
    if crypto is None:
        return body.decode()
    encrypt = root.findtext("Encrypt") or ""
    given = query.get("msg_signature", "")
    if not encrypt or not signed((token, timestamp, nonce, encrypt), given):
        raise InvalidSignatureException()
    return str(crypto.decrypt_message(body, given, timestamp, nonce))


def _message_key(message: BaseMessage) -> str:
    """MsgId for messages; sender and time for events (which have none)."""
    return str(message.id) if message.id else f"{message.source}:{message.create_time}"


async def _handle(services: Services, message: BaseMessage) -> commands.Answer:
    ctx, settings = services.store_context(), services.settings
    openid = str(message.source)
    kind, event = message.type, getattr(message, "event", "")
    if kind == "event" and event == "subscribe":
        return commands.Answer(await commands.on_follow(ctx, openid))
    if kind == "event" and event == "unsubscribe":
        await commands.on_unfollow(ctx, openid)
        return commands.Answer("")
    if kind == "text":
        content = str(getattr(message, "content", ""))
        return await commands.on_text(
            services.admin_context(),
            openid,
            content,
            base_url=settings.public_base_url,
            admins=settings.wechat_admin_openids,
            page_secret=pagelinks.page_secret(settings),
            ask_limit=settings.ask_daily_limit,
            fingerprint_key=fingerprint.key(settings.fingerprint_material()),
        )
    return commands.Answer(commands.help_text() if kind != "event" else "")
