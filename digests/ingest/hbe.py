"""hexo-blog-encrypt: find the encrypted block in a page or feed entry and open it.

v3 (npm 3.1.x): PBKDF2-SHA256 key and iv from fixed salts, AES-256-CBC, and an HMAC-SHA256 of
the plaintext that tells a right password from a wrong one.
v4 (`data-hbe-format="4"`, upstream's main branch): PBKDF2-SHA256 key from a per-post 32-byte
salt and the iteration count (default 250,000), AES-256-GCM with a 12-byte nonce; the tag,
appended to the ciphertext, tells a right password from a wrong one. No plaintext prefix.

Never return text whose check failed: a wrong password gives padding-valid garbage in CBC
about one time in 256, and the HMAC is what rejects it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import html as lxml_html
from lxml.etree import _Element

from digests.errors import NoFittingPassword, RejectedInput

V3_KEY_SALT = "hexo-blog-encrypt的作者们都是大帅比!".encode()
V3_IV_SALT = "hexo-blog-encrypt是地表最强Hexo加密插件!".encode()
V3_PREFIX = "<hbe-prefix></hbe-prefix>"
_MARKER = re.compile(r"""id\s*=\s*["']hexo-blog-encrypt["']""")


@dataclass(frozen=True)
class Sealed:
    """The encrypted block's parameters, as read from the HTML."""

    ciphertext: bytes
    version: int
    hmac_digest: str = ""
    salt: bytes = b""
    nonce: bytes = b""
    iterations: int = 0


def is_encrypted(html: str) -> bool:
    """True when the HTML carries a hexo-blog-encrypt block."""
    return bool(_MARKER.search(html))


def decrypt_html(html: str, passwords: Sequence[str]) -> str:
    """The block's plaintext HTML, opened by the first fitting password."""
    sealed = read_block(html)
    for password in passwords:
        plaintext = open_block(sealed, password)
        if plaintext is not None:
            return plaintext
    raise NoFittingPassword(len(passwords))


def read_block(html: str) -> Sealed:
    """Parse the block's attributes and hex ciphertext."""
    root = lxml_html.fromstring(html)
    container = _by_id(root, "hexo-blog-encrypt")
    data = _by_id(root, "hbeData")
    if container is None or data is None:
        raise RejectedInput("encrypted block is incomplete (no #hexo-blog-encrypt/#hbeData)")

    def attr(name: str) -> str:
        # upstream's v4 themes put salt and nonce on #hbeData, format and iterations on the
        # container; read either place so a theme that moves them still decrypts.
        return str(data.get(name) or container.get(name) or "")

    try:
        ciphertext = bytes.fromhex((data.text or "").strip())
        if attr("data-hbe-format") == "4":
            return Sealed(
                ciphertext=ciphertext,
                version=4,
                salt=bytes.fromhex(attr("data-salt")),
                nonce=bytes.fromhex(attr("data-nonce")),
                iterations=int(attr("data-kdf-iterations") or "0"),
            )
    except ValueError as exc:
        raise RejectedInput("encrypted block is malformed (bad hex or parameters)") from exc
    return Sealed(ciphertext=ciphertext, version=3, hmac_digest=attr("data-hmacdigest"))


def _by_id(root: _Element, ident: str) -> _Element | None:
    return next((el for el in root.iter() if el.get("id") == ident), None)


def open_block(sealed: Sealed, password: str) -> str | None:
    """The plaintext if this password fits, else None."""
    if sealed.version == 4:
        return _open_v4(sealed, password)
    return _open_v3(sealed, password)


@lru_cache(maxsize=64)
def _v3_key_iv(password: str) -> tuple[bytes, bytes]:
    # v3 salts are constants, so a password's key and iv are the same for every post.
    secret = password.encode()
    key = hashlib.pbkdf2_hmac("sha256", secret, V3_KEY_SALT, 1024, 32)
    iv = hashlib.pbkdf2_hmac("sha256", secret, V3_IV_SALT, 512, 16)
    return key, iv


def _open_v3(sealed: Sealed, password: str) -> str | None:
    key, iv = _v3_key_iv(password)
    if not sealed.ciphertext or len(sealed.ciphertext) % 16:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        padded = decryptor.update(sealed.ciphertext) + decryptor.finalize()
        plaintext = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None
    expected = hmac.new(key, plaintext, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, sealed.hmac_digest.lower()):
        return None
    text = plaintext.decode("utf-8", errors="replace")
    return text.removeprefix(V3_PREFIX)


def _open_v4(sealed: Sealed, password: str) -> str | None:
    if not sealed.iterations or len(sealed.nonce) != 12:
        return None
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), sealed.salt, sealed.iterations, 32)
    try:
        plaintext = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, None)
    except InvalidTag:
        return None
    return plaintext.decode("utf-8", errors="replace").removeprefix(V3_PREFIX)
