"""The WeChat callback (/wechat) against messages signed and encrypted by an implementation
independent of wechatpy (tests/wechat_crypto.py), whose replies it opens too."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from xml.etree import ElementTree as ET

import pytest
import redis
from pydantic import SecretStr
from sqlmodel import func, select
from starlette.testclient import TestClient

from bot.app import build_app
from bot.container import open_services
from digests import db
from digests.ingest.core import ingest
from digests.models import SeenKey, Subscriber
from digests.publishing import publish
from digests.readers import periods
from digests.settings import Settings
from tests import wechat_crypto as wx
from tests.conftest import EXAMPLES
from tests.fake_llm import GOOD, Reply, completion, fake_llm
from tests.fake_wechat import SECRET, fake_wechat

TOKEN = "wx-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
APP_ID = "wx1234567890abcdef"
OA = "gh_digest"
_ids = itertools.count(1)


def settings_for(database_url: str, *, safe: bool = True, redis_url: str | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        wechat_app_id=APP_ID,
        wechat_token=TOKEN,
        wechat_encoding_aes_key=AES_KEY if safe else None,
        redis_url=redis_url,
    )


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The app in safe mode, with the sample posts and the public post published."""
    asyncio.run(_publish_samples(settings_for(database_url)))
    with TestClient(build_app(settings_for(database_url))) as running:
        yield running


async def _publish_samples(settings: Settings) -> None:
    async with open_services(settings) as services:
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
        actx = services.admin_context()
        await periods.add_password(
            actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
        )
        await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")


def post(
    client: TestClient,
    xml: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    app_id: str = APP_ID,
    **override: str,
) -> tuple[int, str]:
    """What WeChat does: encrypt, sign, POST; returns the status and the opened reply."""
    ts = timestamp if timestamp is not None else int(time.time())
    body, params = wx.encrypted_envelope(TOKEN, AES_KEY, app_id, xml, ts, nonce or f"n{next(_ids)}")
    answer = client.post("/wechat", params={**params, **override}, content=body)
    if answer.status_code != 200 or answer.text == "success":
        return answer.status_code, answer.text
    inner = wx.open_reply(TOKEN, AES_KEY, answer.content, app_id=APP_ID)
    return 200, ET.fromstring(inner).findtext("Content") or ""


def text(client: TestClient, openid: str, content: str, **kw: object) -> tuple[int, str]:
    msg_id = int(kw.pop("msg_id", next(_ids)))  # type: ignore[call-overload]
    xml = wx.text_message_xml(openid, OA, content, msg_id, int(time.time()))
    return post(client, xml, **kw)  # type: ignore[arg-type]


def follow(client: TestClient, openid: str) -> tuple[int, str]:
    return post(client, wx.event_xml(openid, OA, "subscribe", int(time.time()) + next(_ids)))


async def _count(database_url: str, model: type) -> int:
    async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def test_get_echostr_needs_a_valid_signature(client: TestClient) -> None:
    """WeChat's server check: echostr back only with a valid, fresh signature."""
    ts = str(int(time.time()))
    good = {"signature": wx.signature(TOKEN, ts, "n"), "timestamp": ts, "nonce": "n"}
    assert client.get("/wechat", params={**good, "echostr": "hello"}).text == "hello"
    forged = {**good, "signature": "0" * 40, "echostr": "hello"}
    assert client.get("/wechat", params=forged).status_code == 403


def test_follow_unlock_latest_and_calendar_in_safe_mode(client: TestClient) -> None:
    """Follow → welcome; the password alone unlocks; 最新 brings a digest within 2000 bytes,
    ending with the link to its page (what the mass-send's footer promises); 日历 and 提醒 关
    work; every reply is encrypted and signed for this AppID."""
    assert "欢迎关注" in follow(client, "o-alice")[1]
    status, reply = text(client, "o-alice", "ld2602")
    assert status == 200 and "解锁成功" in reply
    status, reply = text(client, "o-alice", "最新")
    assert "节后第一篇" in reply and len(reply.encode()) <= 2000
    link = reply.rsplit("\n全文：", 1)[1].strip()
    page = client.get("/d/" + link.split("/d/", 1)[1])  # the reader's own link opens the page
    assert page.status_code == 200 and "节后第一篇" in page.text
    assert "未来 7 天" in text(client, "o-alice", "日历")[1]
    assert "已关闭事件提醒" in text(client, "o-alice", "提醒 关")[1]
    assert "最新" in text(client, "o-alice", "随便说点什么")[1]  # the help


def test_plain_mode_replies_in_clear(database_url: str) -> None:
    """Without an EncodingAESKey the callback is plain XML, still signed and time-checked."""
    with TestClient(build_app(settings_for(database_url, safe=False))) as plain:
        ts, nonce = str(int(time.time())), "plain1"
        xml = wx.text_message_xml("o-bob", OA, "帮助", 99, int(ts))
        params = {"signature": wx.signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
        answer = plain.post("/wechat", params=params, content=xml.encode())
    assert answer.status_code == 200 and "解锁 密码" in answer.text


def test_forged_stale_and_foreign_requests_change_nothing(
    client: TestClient, database_url: str
) -> None:
    """Forged signature, forged msg_signature, stale timestamp, another AppID inside the
    ciphertext: 403, and no subscriber is stored."""
    xml = wx.event_xml("o-eve", OA, "subscribe", int(time.time()))
    assert post(client, xml, signature="0" * 40)[0] == 403
    assert post(client, xml, msg_signature="0" * 40)[0] == 403
    assert post(client, xml, timestamp=int(time.time()) - 301)[0] == 403
    assert post(client, xml, app_id="wx-someone-else")[0] == 403
    assert asyncio.run(_count(database_url, Subscriber)) == 0


def test_malformed_and_oversized_bodies_are_refused(client: TestClient, database_url: str) -> None:
    """Not XML → 400; over 64 KB → 413; nothing stored either way."""
    ts = str(int(time.time()))
    for nonce, body, status in (("m1", b"<xml><Encrypt>", 400), ("m2", b"x" * 70_000, 413)):
        params = {
            "signature": wx.signature(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": "x",
        }
        assert client.post("/wechat", params=params, content=body).status_code == status
    assert asyncio.run(_count(database_url, Subscriber)) == 0


@pytest.mark.parametrize(
    "inner",
    [
        "<xml/>",
        "<xml><ToUserName>gh",
        "<xml><MsgType>text</MsgType><Content>hi</Content></xml>",
        "not xml at all",
        "",
    ],
    ids=["empty", "broken", "no-sender", "text", "nothing"],
)
def test_a_signed_message_we_cannot_read_is_400_and_stores_nothing(
    client: TestClient, database_url: str, inner: str
) -> None:
    """Safe mode, valid signatures, but the decrypted message is empty, broken or has no
    sender: 400 (it was a 500), and neither a subscriber nor a replay key is stored."""
    ts, nonce, enc = str(int(time.time())), f"u{next(_ids)}", wx.encrypt(AES_KEY, APP_ID, inner)
    body = f"<xml><ToUserName>{OA}</ToUserName><Encrypt>{enc}</Encrypt></xml>".encode()
    params = {
        "signature": wx.signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": wx.msg_signature(TOKEN, ts, nonce, enc),
    }
    assert client.post("/wechat", params=params, content=body).status_code == 400
    assert asyncio.run(_count(database_url, Subscriber)) == 0
    assert asyncio.run(_count(database_url, SeenKey)) == 0


def test_a_plain_mode_message_we_cannot_read_is_400(database_url: str) -> None:
    """Plain mode: a signed `<xml/>` or a message without a sender is 400, not 500."""
    with TestClient(build_app(settings_for(database_url, safe=False))) as plain:
        ts = str(int(time.time()))
        for n, body in enumerate((b"<xml/>", b"<xml><MsgType>text</MsgType></xml>")):
            params = {
                "signature": wx.signature(TOKEN, ts, f"p{n}"),
                "timestamp": ts,
                "nonce": f"p{n}",
            }
            assert plain.post("/wechat", params=params, content=body).status_code == 400
    assert asyncio.run(_count(database_url, Subscriber)) == 0


def test_a_replayed_request_and_a_redelivered_message(client: TestClient) -> None:
    """The same request again (same nonce) → 403; WeChat's retry of a message (same MsgId,
    new nonce) → `success` and the command does not run twice."""
    follow(client, "o-carol")
    ts = int(time.time())
    assert text(client, "o-carol", "ld2602", msg_id=777, timestamp=ts, nonce="same")[0] == 200
    assert text(client, "o-carol", "ld2602", msg_id=777, timestamp=ts, nonce="same")[0] == 403
    assert text(client, "o-carol", "ld2602", msg_id=777) == (200, "success")


def test_unfollow_marks_the_subscriber_gone(client: TestClient, database_url: str) -> None:
    """An unsubscribe event: the subscriber is gone (nothing more is queued for them)."""
    follow(client, "o-dan")
    assert post(client, wx.event_xml("o-dan", OA, "unsubscribe", int(time.time()) + 5)) == (
        200,
        "success",
    )

    async def status() -> str:
        async with db.open_engine(database_url) as engine, db.make_sessionmaker(engine)() as s:
            found = await s.exec(select(Subscriber.status).where(Subscriber.external_id == "o-dan"))
            return found.one()

    assert asyncio.run(status()) == "gone"


def test_the_replay_cache_lives_in_redis_when_configured(database_url: str, redis_url: str) -> None:
    """With REDIS_URL the nonce cache is in Redis (shared by every process), not the table."""
    nonce, reader = f"r{uuid.uuid4().hex}", f"o-erin-{uuid.uuid4().hex[:8]}"  # ours alone
    with TestClient(build_app(settings_for(database_url, redis_url=redis_url))) as running:
        ts = int(time.time())
        assert follow(running, reader)[0] == 200
        xml = wx.event_xml(reader, OA, "subscribe", ts + 1)
        assert post(running, xml, timestamp=ts, nonce=nonce)[0] == 200
        assert post(running, xml, timestamp=ts, nonce=nonce)[0] == 403
    assert asyncio.run(_count(database_url, SeenKey)) == 0
    assert redis.Redis.from_url(redis_url).exists(f"digestbot:seen:wx:nonce:{ts}:{nonce}") == 1


def test_with_redis_down_readers_are_answered_and_replays_still_refused(
    database_url: str,
) -> None:
    """REDIS_URL set but Redis unreachable: the callback falls back to the database's replay
    cache (readers are answered, a replay is still 403) while /healthz reports Redis down."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"  # bound, never listening
        with TestClient(build_app(settings_for(database_url, redis_url=url))) as running:
            ts = int(time.time())
            assert follow(running, "o-fay")[0] == 200
            xml = wx.event_xml("o-fay", OA, "subscribe", ts + 1)
            assert post(running, xml, timestamp=ts, nonce="d1")[0] == 200
            assert post(running, xml, timestamp=ts, nonce="d1")[0] == 403
            health = running.get("/healthz")
    assert health.status_code == 503 and health.json()["redis"] == "down"
    assert asyncio.run(_count(database_url, SeenKey)) >= 2


def test_a_slow_llm_still_gets_an_answer_within_five_seconds(database_url: str) -> None:
    """发布 from a WeChat admin while the LLM has not answered yet (it answers only once WeChat
    has had its reply): WeChat gets `success` within 5 s, and the result follows as a
    customer-service message through the outbox."""
    answered = threading.Event()

    def slow(request: dict[str, object]) -> Reply:
        answered.wait(60)  # held until WeChat has had its answer, however long that took
        return completion(GOOD)

    with fake_llm() as llm, fake_wechat(appid=APP_ID) as api:
        llm.handler = slow
        settings = settings_for(database_url).model_copy(
            update={
                "openai_base_url": llm.base_url,
                "openai_api_key": SecretStr("k"),
                "wechat_app_secret": SecretStr(SECRET),
                "wechat_api_base_url": api.base_url,
                "wechat_admin_openids": ["o-admin"],
            }
        )
        asyncio.run(_ingest_only(settings))
        with TestClient(build_app(settings)) as running:
            follow(running, "o-admin")
            api.user_wrote("o-admin")
            started = time.monotonic()
            try:
                status, reply = text(running, "o-admin", "发布 2-10-zhui-zong")
                assert time.monotonic() - started < 5 and (status, reply) == (200, "success")
                # the digest was not made yet (a job's notice, a calendar gap, may be there)
                assert not any("已发布" in t for t in api.inbox.get("o-admin", []))
            finally:
                answered.set()  # a failed test must not leave the app waiting on the model
            deadline = time.monotonic() + 40
            published = "已发布《2.10科技大爆发"
            while time.monotonic() < deadline:
                if any(published in t for t in api.inbox.get("o-admin", [])):
                    break
                time.sleep(0.2)
    assert any(published in t for t in api.inbox["o-admin"])
    assert not any(
        re.search(r"/[a-z_]+", re.sub(r"https?://\S+", "", t)) for t in api.inbox["o-admin"]
    )


async def _ingest_only(settings: Settings) -> None:
    async with open_services(settings) as services:
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]


def test_an_admins_edit_word_answers_with_a_review_link_that_opens(database_url: str) -> None:
    """编辑 SLUG from an admin: WeChat cannot reply to one message, so the answer is the
    post's review page, through a 15-minute link bound to that admin, which opens; a reader
    sending the same gets no link."""
    settings = settings_for(database_url).model_copy(update={"wechat_admin_openids": ["o-admin"]})
    asyncio.run(_publish_samples(settings))
    with TestClient(build_app(settings)) as running:
        status, answer = text(running, "o-admin", "编辑 2026-02-20-public-new-year")
        assert status == 200 and "审阅与修改（15 分钟内有效）：" in answer, answer
        link = answer.rsplit("：", 1)[1].strip()
        page = running.get(link.replace(settings.public_base_url.rstrip("/"), ""))
        assert page.status_code == 200 and "节后第一篇" in page.text
        status, answer = text(running, "o-reader", "编辑 2026-02-20-public-new-year")
        assert status == 200 and "/review/" not in answer
