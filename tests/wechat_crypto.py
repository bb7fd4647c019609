"""WeChat Official Account message signing and encryption, written from the published algorithm
(not from wechatpy) so that tests can play WeChat's side of the callback.

Safe mode ("安全模式"):
  AES key   = base64decode(EncodingAESKey + "=")   (43 characters → 32 bytes); IV = key[:16]
  plaintext = 16 random bytes + len(msg) as 4-byte big-endian + msg (UTF-8) + AppID
  padding   = PKCS#7 to a multiple of 32 bytes (WeChat's block, not AES's 16)
  Encrypt   = base64(AES-256-CBC(plaintext))
  msg_signature = sha1(sorted [token, timestamp, nonce, Encrypt] joined)
Plain mode's `signature` is sha1(sorted [token, timestamp, nonce] joined); WeChat sends it in
safe mode too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class WeChatCryptoError(ValueError):
    """The ciphertext does not decrypt to a well-formed WeChat message for this key/app."""


class BadSignature(WeChatCryptoError):
    """A signature does not match the signed fields."""


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1(b"".join(sorted(p.encode() for p in parts))).hexdigest()


def signature(token: str, timestamp: str, nonce: str) -> str:
    """The plain-mode `signature` query parameter (also the GET echostr handshake's)."""
    return _sha1_sorted(token, str(timestamp), nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The safe-mode `msg_signature` over the token, timestamp, nonce and Encrypt field."""
    return _sha1_sorted(token, str(timestamp), nonce, encrypt)


def _cipher(aes_key: str) -> Cipher[modes.CBC]:
    if len(aes_key) != 43:
        raise WeChatCryptoError("an EncodingAESKey has 43 characters")
    key = base64.b64decode(aes_key + "=")
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(aes_key: str, app_id: str, xml: str, *, random16: bytes | None = None) -> str:
    """Encrypt `xml` for `app_id` as WeChat does; `random16` fixes the random prefix."""
    prefix = os.urandom(16) if random16 is None else random16
    if len(prefix) != 16:
        raise ValueError("random16 must be 16 bytes")
    body = xml.encode()
    plain = prefix + struct.pack(">I", len(body)) + body + app_id.encode()
    pad = BLOCK - len(plain) % BLOCK  # 1..32: a full block of padding when already aligned
    plain += bytes([pad]) * pad
    encryptor = _cipher(aes_key).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(aes_key: str, encrypt: str, *, app_id: str | None = None) -> tuple[str, str]:
    """Decrypt an Encrypt field into (xml, app_id); checks padding, length and, if given, the
    app id. Raises WeChatCryptoError."""
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except ValueError as exc:
        raise WeChatCryptoError("Encrypt is not base64") from exc
    if not raw or len(raw) % BLOCK:
        raise WeChatCryptoError("ciphertext is not a whole number of 32-byte blocks")
    decryptor = _cipher(aes_key).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise WeChatCryptoError("bad padding")
    content = plain[16:-pad]
    if len(content) < 4:
        raise WeChatCryptoError("message too short")
    (length,) = struct.unpack(">I", content[:4])
    if length > len(content) - 4:
        raise WeChatCryptoError("message length out of range")
    try:
        xml = content[4 : 4 + length].decode()
        found = content[4 + length :].decode()
    except UnicodeDecodeError as exc:
        raise WeChatCryptoError("message is not UTF-8") from exc
    if app_id is not None and found != app_id:
        raise WeChatCryptoError(f"message is for app {found!r}, not {app_id!r}")
    return xml, found


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_message_xml(from_openid: str, to: str, content: str, msg_id: int, create_time: int) -> str:
    """A user's text message as WeChat posts it (plain mode, or inside Encrypt)."""
    return (
        f"<xml><ToUserName>{_cdata(to)}</ToUserName>"
        f"<FromUserName>{_cdata(from_openid)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(content)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(from_openid: str, to: str, event: str, create_time: int) -> str:
    """An event push (`subscribe`, `unsubscribe`) as WeChat posts it."""
    return (
        f"<xml><ToUserName>{_cdata(to)}</ToUserName>"
        f"<FromUserName>{_cdata(from_openid)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType>{_cdata('event')}</MsgType>"
        f"<Event>{_cdata(event)}</Event><EventKey>{_cdata('')}</EventKey></xml>"
    )


def encrypted_envelope(
    token: str, aes_key: str, app_id: str, xml: str, timestamp: int | str, nonce: str
) -> tuple[bytes, dict[str, str]]:
    """What WeChat POSTs to the callback in safe mode: the body and the query parameters."""
    inner = ET.fromstring(xml)
    enc = encrypt(aes_key, app_id, xml)
    ts = str(timestamp)
    body = (
        f"<xml><ToUserName>{_cdata(inner.findtext('ToUserName', ''))}</ToUserName>"
        f"<Encrypt>{_cdata(enc)}</Encrypt></xml>"
    ).encode()
    params = {
        "signature": signature(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": inner.findtext("FromUserName", ""),
        "encrypt_type": "aes",
        "msg_signature": msg_signature(token, ts, nonce, enc),
    }
    return body, params


def open_reply(token: str, aes_key: str, body: bytes, *, app_id: str | None = None) -> str:
    """Verify an encrypted passive reply (Encrypt, MsgSignature, TimeStamp, Nonce) the way
    WeChat does and return the inner XML. Raises BadSignature or WeChatCryptoError."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise WeChatCryptoError("reply is not XML") from exc
    fields = {k: root.findtext(k) for k in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce")}
    missing = [k for k, v in fields.items() if not v]
    if missing:
        raise WeChatCryptoError(f"reply lacks {', '.join(missing)}")
    enc, sig, ts, nonce = (str(fields[k]) for k in fields)
    if not hmac.compare_digest(msg_signature(token, ts, nonce, enc), sig):
        raise BadSignature("MsgSignature does not match")
    return decrypt(aes_key, enc, app_id=app_id)[0]
