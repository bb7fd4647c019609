"""An encoder for hexo-blog-encrypt blocks written from the plugin's published algorithm
(3.1.9's index.js and upstream v4's src/server/crypto.js), independent of our decrypter."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

V3_TEMPLATE = """<div class="hbe hbe-container" id="hexo-blog-encrypt" data-wpm="Oh, this is an invalid password. Check and try again, please." data-whm="OOPS, these decrypted content may changed, but you can still have a look.">
  <script id="hbeData" type="hbeData" data-hmacdigest="{digest}">{data}</script>
  <div class="hbe hbe-content"><div class="hbe hbe-input hbe-input-default">
  <input class="hbe hbe-input-field hbe-input-field-default" type="password" id="hbePass">
  </div></div></div><script data-pjax src="/lib/hbe.js"></script>"""  # noqa: E501

V4_TEMPLATE = """<div id="hexo-blog-encrypt"
     data-hbe-format="4" data-wpm="wrong" data-whm="changed"
     data-kdf-iterations="{iterations}" data-auto-save="false">
  <p class="hbe-message">请输入密码</p>
  <form id="hbeForm"><input type="password" id="hbePass" autocomplete="off" /></form>
  <script id="hbeData" type="hbeData"
          data-salt="{salt}"
          data-nonce="{nonce}">{data}</script>
</div>"""


def encrypt_v3(html: str, password: str) -> str:
    content = ("<hbe-prefix></hbe-prefix>" + html.strip()).encode()
    secret = password.encode()
    key = hashlib.pbkdf2_hmac(
        "sha256", secret, "hexo-blog-encrypt的作者们都是大帅比!".encode(), 1024, 32
    )
    iv = hashlib.pbkdf2_hmac(
        "sha256", secret, "hexo-blog-encrypt是地表最强Hexo加密插件!".encode(), 512, 16
    )
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    data = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    digest = hmac.new(key, content, hashlib.sha256).hexdigest()
    return V3_TEMPLATE.format(digest=digest, data=data.hex())


def encrypt_v4(html: str, password: str, *, iterations: int = 250_000) -> str:
    salt, nonce = bytes(range(32)), bytes(range(100, 112))
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    data = AESGCM(key).encrypt(nonce, html.encode(), None)  # ciphertext || tag
    return V4_TEMPLATE.format(
        iterations=iterations, salt=salt.hex(), nonce=nonce.hex(), data=data.hex()
    )
