"""Tests of the WeChat test doubles: the message crypto (tests/wechat_crypto.py) and the fake
Official Account API (tests/fake_wechat.py)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import wechat_crypto as wc
from tests.fake_wechat import APPID, SECRET, FakeWeChat, fake_wechat

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "QDG6eK"
XML = "<xml><Content><![CDATA[你好]]></Content></xml>"
R16 = b"0123456789abcdef"
# computed by this module and, identically, by wechatpy 2.0.0a26's PrpCrypto with the same
# random prefix (a throwaway cross-check script, not committed)
VECTOR = (
    "Q3stYC6hdFzMh9T8HCvyDMwQK6xyeRZ7UnuZsYfP7/6Yf0piNuk7kxZYuxJFeZQQ6WWSSAGv9ZFJIKURndrGswii"
    "PBEloTZX26Gr3A17Bn4FvUlR9H5YqIhWJz1IiXvR"
)


# -- crypto ------------------------------------------------------------------------------------
def test_round_trip() -> None:
    """decrypt(encrypt(x)) gives back the XML, CDATA-escaped content included, and the app id."""
    xml = wc.text_message_xml("oUser1", "gh_digest", "研报 ]]> <b>&", 42, 1_767_574_800)
    enc = wc.encrypt(KEY, APPID, xml)
    assert wc.decrypt(KEY, enc, app_id=APPID) == (xml, APPID)
    assert ET.fromstring(xml).findtext("Content") == "研报 ]]> <b>&"
    assert wc.encrypt(KEY, APPID, xml) != enc  # a fresh random prefix each time


def test_known_answer_vector() -> None:
    """A fixed key, app id, random prefix and message encrypt to wechatpy's exact ciphertext."""
    assert wc.encrypt(KEY, APPID, XML, random16=R16) == VECTOR
    assert wc.decrypt(KEY, VECTOR) == (XML, APPID)


def test_signature_vectors() -> None:
    """Both signatures are sha1 over the sorted fields, matching wechatpy's WeChatSigner."""
    assert wc.signature(TOKEN, "1767229200", "n0nce") == "3bd7377f2cb6a7c742a85b1ead0c5018346ba76b"
    assert (
        wc.msg_signature(TOKEN, "1767229200", "n0nce", VECTOR)
        == "6c828c2600617e7456cf5349ad55859c51ac53cf"
    )


@pytest.mark.parametrize(("size", "blocks"), [(0, 2), (10, 2), (25, 2), (26, 3), (57, 3), (58, 4)])
def test_padding_is_to_32_bytes(size: int, blocks: int) -> None:
    """PKCS#7 pads to 32-byte blocks: 38 + size bytes of plaintext, a whole block when aligned."""
    raw = base64.b64decode(wc.encrypt(KEY, APPID, "x" * size))  # 16 + 4 + size + 18
    assert len(raw) == 32 * blocks
    assert wc.decrypt(KEY, base64.b64encode(raw).decode())[0] == "x" * size


def test_tampered_ciphertext_is_detected() -> None:
    """A flipped bit in the ciphertext fails decryption, and the msg_signature before that."""
    raw = bytearray(base64.b64decode(VECTOR))
    raw[-33] ^= 1  # flips the last plaintext byte: the padding
    with pytest.raises(wc.WeChatCryptoError):
        wc.decrypt(KEY, base64.b64encode(raw).decode())
    reply = _reply_xml(base64.b64encode(raw).decode(), wc.msg_signature(TOKEN, "1", "n", VECTOR))
    with pytest.raises(wc.BadSignature):
        wc.open_reply(TOKEN, KEY, reply)


def test_wrong_app_id_or_key_is_detected() -> None:
    """A message for another app, or under another key, does not decrypt."""
    with pytest.raises(wc.WeChatCryptoError, match="not 'wxother'"):
        wc.decrypt(KEY, VECTOR, app_id="wxother")
    with pytest.raises(wc.WeChatCryptoError):
        wc.decrypt("B" * 43, VECTOR)
    with pytest.raises(wc.WeChatCryptoError):
        wc.decrypt(KEY, "not base64!")


def test_encrypted_envelope() -> None:
    """The envelope is WeChat's safe-mode POST: ToUserName + Encrypt, both signatures, openid."""
    xml = wc.event_xml("oUser1", "gh_digest", "subscribe", 1_767_574_800)
    body, params = wc.encrypted_envelope(TOKEN, KEY, APPID, xml, 1_767_574_800, "n0nce")
    root = ET.fromstring(body)
    enc = root.findtext("Encrypt") or ""
    assert root.findtext("ToUserName") == "gh_digest"
    assert params["openid"] == "oUser1" and params["encrypt_type"] == "aes"
    assert params["signature"] == wc.signature(TOKEN, "1767574800", "n0nce")
    assert params["msg_signature"] == wc.msg_signature(TOKEN, "1767574800", "n0nce", enc)
    inner = ET.fromstring(wc.decrypt(KEY, enc, app_id=APPID)[0])
    assert (inner.findtext("MsgType"), inner.findtext("Event")) == ("event", "subscribe")


def test_open_reply() -> None:
    """open_reply returns the inner XML of a well-signed reply and refuses a bad signature."""
    enc = wc.encrypt(KEY, APPID, XML)
    good = _reply_xml(enc, wc.msg_signature(TOKEN, "1767574800", "n1", enc))
    assert wc.open_reply(TOKEN, KEY, good, app_id=APPID) == XML
    with pytest.raises(wc.BadSignature):
        wc.open_reply("other-token", KEY, good)
    with pytest.raises(wc.WeChatCryptoError, match="lacks"):
        wc.open_reply(TOKEN, KEY, b"<xml><Encrypt>x</Encrypt></xml>")


def _reply_xml(enc: str, sig: str, ts: str = "1767574800", nonce: str = "n1") -> bytes:
    return (
        f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>"
        f"<TimeStamp>{ts}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    ).encode()


# -- fake API ------------------------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    """A running FakeWeChat."""
    with fake_wechat() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def fetch_token(http: httpx.Client, fake: FakeWeChat, secret: str = SECRET) -> Any:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": secret}
    return http.get(fake.base_url + "token", params=query).json()


def post(http: httpx.Client, fake: FakeWeChat, path: str, body: Any, token: str) -> Any:
    # the way wechatpy posts: UTF-8 JSON bytes, no Content-Type
    content = json.dumps(body, ensure_ascii=False).encode()
    answer = http.post(fake.base_url + path, params={"access_token": token}, content=content)
    assert answer.status_code == 200
    return answer.json()


def say(http: httpx.Client, fake: FakeWeChat, openid: str, text: str, token: str) -> int:
    body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
    return int(post(http, fake, "message/custom/send", body, token)["errcode"])


def test_token_rotation_invalidates_old_token(fake: FakeWeChat, http: httpx.Client) -> None:
    """A fresh token fetch makes the previous token answer 40001; the new one works."""
    assert fake.base_url.endswith("/cgi-bin/")
    first = fetch_token(http, fake)
    assert first == {"access_token": "tok-1", "expires_in": 7200}
    fake.user_wrote("oA")
    assert say(http, fake, "oA", "hi", "tok-1") == 0
    assert fetch_token(http, fake)["access_token"] == "tok-2"
    assert say(http, fake, "oA", "hi", "tok-1") == 40001
    assert say(http, fake, "oA", "hi", "tok-2") == 0
    assert say(http, fake, "oA", "hi", "forged") == 40001


def test_wrong_secret_and_expired_token(fake: FakeWeChat, http: httpx.Client) -> None:
    """A wrong secret gets 40125; a token used 7200 s after issue gets 42001."""
    assert fetch_token(http, fake, secret="nope")["errcode"] == 40125
    token = fetch_token(http, fake)["access_token"]
    fake.user_wrote("oA")
    fake.advance(7200)
    assert say(http, fake, "oA", "hi", token) == 42001


def test_48_hour_window(fake: FakeWeChat, http: httpx.Client) -> None:
    """Customer-service messages reach only users who wrote within 48 h, else 45015."""
    token = fetch_token(http, fake)["access_token"]
    assert say(http, fake, "oNever", "hi", token) == 45015
    fake.user_wrote("oA", at=fake.now - 48 * 3600)
    assert say(http, fake, "oA", "just in time", token) == 0
    fake.advance(1)
    assert say(http, fake, "oA", "too late", token) == 45015
    assert fake.inbox == {"oA": ["just in time"]}


def test_five_messages_per_user_message(fake: FakeWeChat, http: httpx.Client) -> None:
    """The 6th message after one user message gets 45047; the user writing again resets it."""
    token = fetch_token(http, fake)["access_token"]
    fake.user_wrote("oA")
    assert [say(http, fake, "oA", f"m{i}", token) for i in range(6)] == [0] * 5 + [45047]
    fake.user_wrote("oA")
    assert say(http, fake, "oA", "again", token) == 0
    assert len(fake.inbox["oA"]) == 6


def test_content_over_2048_bytes(fake: FakeWeChat, http: httpx.Client) -> None:
    """Content is measured in UTF-8 bytes: 2048 passes, 2049 gets 45002 and uses no quota."""
    token = fetch_token(http, fake)["access_token"]
    fake.user_wrote("oA")
    exact = "研" * 682 + "ab"  # 3 * 682 + 2 = 2048 bytes
    assert say(http, fake, "oA", exact + "c", token) == 45002
    assert say(http, fake, "oA", exact, token) == 0
    assert fake.replies_left["oA"] == 4


def test_injected_failures(fake: FakeWeChat, http: httpx.Client) -> None:
    """fail_next answers the next calls with the given errcode, then the fake behaves again."""
    token = fetch_token(http, fake)["access_token"]
    fake.user_wrote("oA")
    fake.fail_next(45009)
    fake.fail_next(-1, count=2, path="message/custom/send")
    assert [say(http, fake, "oA", "x", token) for _ in range(4)] == [45009, -1, -1, 0]
    assert fake.inbox["oA"] == ["x"]
    assert [c.path for c in fake.calls][-1] == "message/custom/send"
    assert fake.calls[-1].query == {"access_token": "tok-1"}


def test_mass_send_once_per_day(fake: FakeWeChat, http: httpx.Client) -> None:
    """sendall to a tag succeeds once per Beijing day (then 45028) and records the recipients."""
    token = fetch_token(http, fake)["access_token"]
    tag = post(http, fake, "tags/create", {"tag": {"name": "digest"}}, token)["tag"]["id"]
    post(http, fake, "tags/members/batchtagging", {"tagid": tag, "openid_list": ["oA"]}, token)
    text, to = {"content": "今日"}, {"is_to_all": False, "tag_id": tag}
    body = {"filter": to, "text": text, "msgtype": "text"}
    first = post(http, fake, "message/mass/sendall", body, token)
    assert first["errcode"] == 0 and "msg_id" in first
    assert post(http, fake, "message/mass/sendall", body, token)["errcode"] == 45028
    fake.advance(15 * 3600)  # 09:00 → 00:00 next day in Beijing
    token = fetch_token(http, fake)["access_token"]
    assert post(http, fake, "message/mass/sendall", body, token)["errcode"] == 0
    assert [(m.tag_id, m.content, m.recipients) for m in fake.mass] == [(tag, "今日", ["oA"])] * 2
    assert len(fake.sent("message/mass/sendall")) == 3


def test_tagging_limit_and_members(fake: FakeWeChat, http: httpx.Client) -> None:
    """(Un)tagging takes 1–50 openids (else 40032); user/tag/get pages through the members."""
    token = fetch_token(http, fake)["access_token"]
    tag = post(http, fake, "tags/create", {"tag": {"name": "digest"}}, token)["tag"]["id"]
    assert post(http, fake, "tags/create", {"tag": {"name": "digest"}}, token)["errcode"] == 45157
    users = [f"o{i:03}" for i in range(51)]

    def tagging(path: str, openids: list[str]) -> int:
        body = {"tagid": tag, "openid_list": openids}
        return int(post(http, fake, f"tags/members/{path}", body, token)["errcode"])

    assert tagging("batchtagging", users) == 40032
    assert tagging("batchtagging", users[:50]) == tagging("batchtagging", users[50:]) == 0
    assert tagging("batchuntagging", users[:2]) == 0
    assert tagging("batchuntagging", []) == 40032
    fake.tag_page_size = 30
    seen: list[str] = []
    page = post(http, fake, "user/tag/get", {"tagid": tag}, token)
    while page["count"]:
        seen += page["data"]["openid"]
        body = {"tagid": tag, "next_openid": page["next_openid"]}
        page = post(http, fake, "user/tag/get", body, token)
    assert seen == users[2:]
