"""hexo-blog-encrypt v3 and v4: the right password opens, a wrong one never yields text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from digests.errors import NoFittingPassword, RejectedInput
from digests.ingest import hbe
from tests.hbe_encoder import encrypt_v3, encrypt_v4

Encrypt = Callable[[str, str], str]
POST_HTML = "<h2>CPO更新</h2><p><strong>天孚通信</strong>一家独秀，CPI周五公布。</p>"


@pytest.mark.parametrize("encrypt", [encrypt_v3, encrypt_v4], ids=["v3", "v4"])
def test_right_password_opens_among_several(encrypt: Encrypt) -> None:
    """The fitting password is found among others and the exact HTML comes back."""
    block = encrypt(POST_HTML, "ld2602")
    assert hbe.is_encrypted(block)
    assert hbe.decrypt_html(block, ["ld2601", "ld2603", "ld2602"]) == POST_HTML


@pytest.mark.parametrize("encrypt", [encrypt_v3, encrypt_v4], ids=["v3", "v4"])
def test_wrong_passwords_give_a_clear_error_not_garbage(encrypt: Encrypt) -> None:
    """No fitting password → NoFittingPassword with the count tried, never decoded garbage."""
    block = encrypt(POST_HTML, "ld2602")
    with pytest.raises(NoFittingPassword, match="none of the known passwords opens it"):
        hbe.decrypt_html(block, ["ld2601", "ld2603"])
    with pytest.raises(NoFittingPassword, match="no password is configured"):
        hbe.decrypt_html(block, [])


def test_v3_hmac_rejects_a_padding_valid_wrong_password() -> None:
    """CBC with a wrong key sometimes unpads cleanly; the HMAC must still refuse it."""
    block = encrypt_v3(POST_HTML, "ld2602")
    sealed = hbe.read_block(block)
    wrong = [f"guess{i}" for i in range(2000)]
    assert all(hbe.open_block(sealed, password) is None for password in wrong)


def test_v3_tampered_digest_is_refused() -> None:
    """A block whose HMAC does not match is not opened even with the right password."""
    block = encrypt_v3(POST_HTML, "ld2602")
    sealed = hbe.read_block(block)
    forged = hbe.Sealed(ciphertext=sealed.ciphertext, version=3, hmac_digest="0" * 64)
    assert hbe.open_block(forged, "ld2602") is None


def test_v4_tampered_ciphertext_is_refused() -> None:
    """Flipping one ciphertext bit fails the GCM tag."""
    sealed = hbe.read_block(encrypt_v4(POST_HTML, "ld2602", iterations=1000))
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    tampered = hbe.Sealed(flipped, 4, salt=sealed.salt, nonce=sealed.nonce, iterations=1000)
    assert hbe.open_block(tampered, "ld2602") is None
    assert hbe.open_block(sealed, "ld2602") == POST_HTML


def test_malformed_blocks_are_rejected_with_a_reason() -> None:
    """A block without its data script, or with non-hex data, is refused clearly."""
    with pytest.raises(RejectedInput, match="incomplete"):
        hbe.read_block('<div id="hexo-blog-encrypt"></div>')
    with pytest.raises(RejectedInput, match="malformed"):
        hbe.read_block('<div id="hexo-blog-encrypt"><script id="hbeData">zz</script></div>')
